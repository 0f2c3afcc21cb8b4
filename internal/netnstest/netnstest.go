//go:build linux

// Package netnstest gives tests that need root a pair of network
// namespaces joined by a veth pair, with addresses inside them only, and
// removes them afterwards.
package netnstest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// A Pair is two network namespaces, A and B, joined by a veth pair, their
// loopback interfaces up.
type Pair struct {
	A, B         string     // the namespaces' names
	IfA, IfB     string     // the veth ends: IfA in A, IfB in B
	AddrA, AddrB netip.Addr // their addresses, in one /24
	// Their IPv6 addresses, in one /64 of the unique local fd77::/16,
	// usable at once (no duplicate address detection).
	AddrA6, AddrB6 netip.Addr
}

var seq atomic.Int32

// NewPair makes a pair, or skips the test when it cannot run as root with
// iproute2's ip. subnet is the third byte of the pair's 10.77.subnet.0/24
// (and of its fd77:0:subnet::/64).
func NewPair(t testing.TB, subnet byte) *Pair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, seq.Add(1))
	p := &Pair{A: "alfd-a-" + id, B: "alfd-b-" + id, IfA: "alfda" + id, IfB: "alfdb" + id,
		AddrA: netip.AddrFrom4([4]byte{10, 77, subnet, 1}), AddrB: netip.AddrFrom4([4]byte{10, 77, subnet, 2}),
		AddrA6: netip.AddrFrom16([16]byte{0xfd, 0x77, 0, 0, 0, subnet, 15: 1}), AddrB6: netip.AddrFrom16([16]byte{0xfd, 0x77, 0, 0, 0, subnet, 15: 2})}
	for _, ns := range []string{p.A, p.B} {
		IP(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	IP(t, "link", "add", p.IfA, "type", "veth", "peer", "name", p.IfB)
	IP(t, "link", "set", p.IfA, "netns", p.A)
	IP(t, "link", "set", p.IfB, "netns", p.B)
	IP(t, "-n", p.A, "addr", "add", p.AddrA.String()+"/24", "dev", p.IfA)
	IP(t, "-n", p.B, "addr", "add", p.AddrB.String()+"/24", "dev", p.IfB)
	IP(t, "-n", p.A, "addr", "add", p.AddrA6.String()+"/64", "dev", p.IfA, "nodad")
	IP(t, "-n", p.B, "addr", "add", p.AddrB6.String()+"/64", "dev", p.IfB, "nodad")
	IP(t, "-n", p.A, "link", "set", p.IfA, "up")
	IP(t, "-n", p.B, "link", "set", p.IfB, "up")
	// Their loopback too, which a new namespace has down.
	IP(t, "-n", p.A, "link", "set", "lo", "up")
	IP(t, "-n", p.B, "link", "set", "lo", "up")
	return p
}

// IP runs iproute2's ip with args, failing the test if it fails: to take
// a pair's link down, say.
func IP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

// In runs fn on a thread that has entered the namespace ns, so that the
// sockets fn opens live there; fn may block as long as it needs.
func In(t testing.TB, ns string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			t.Error(err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			t.Error(err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		fn()
		// Only a thread back home may serve other goroutines; one that
		// cannot get back ends with this goroutine.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	<-done
}

// Serve reads the datagrams that come to c until it is closed, answering
// each with itself when echo is set (a server to send known traffic to).
func Serve(c net.PacketConn, echo bool) {
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		if echo {
			c.WriteTo(buf[:n], from)
		}
	}
}
