//go:build linux

package flowmeter

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/alfd/alfd/internal/loadgen"
	"github.com/alfd/alfd/internal/netnstest"
	"github.com/alfd/alfd/internal/shareddata"
)

// TestAFPacketFanout is the flow meter's root test: known UDP traffic, each
// datagram answered, captured by two meters in one fanout group, comes out
// as flows, each exactly once with its exact packet counts both ways (the
// kernel's hash is symmetric), and both meters take part. The
// traffic crosses a veth pair from one network namespace to another, or a
// namespace's loopback, which hands the sockets each packet twice (going
// out and coming in).
func TestAFPacketFanout(t *testing.T) {
	t.Run("veth", func(t *testing.T) {
		pair := netnstest.NewPair(t, 0)
		testFanout(t, pair.B, pair.IfB, pair.A, pair.AddrA, pair.AddrB)
	})
	t.Run("veth IPv6", func(t *testing.T) {
		pair := netnstest.NewPair(t, 0)
		testFanout(t, pair.B, pair.IfB, pair.A, pair.AddrA6, pair.AddrB6)
	})
	t.Run("loopback", func(t *testing.T) {
		pair := netnstest.NewPair(t, 0)
		localhost := netip.MustParseAddr("127.0.0.1")
		testFanout(t, pair.A, "lo", pair.A, localhost, localhost)
	})
}

// openIn opens a capture by cfg in network namespace ns, or ends the test.
func openIn(t *testing.T, ns string, cfg AFPacketConfig) *Capture {
	t.Helper()
	var c *Capture
	netnstest.In(t, ns, func() {
		var err error
		if c, err = OpenAFPacket(cfg); err != nil {
			t.Error(err)
		}
	})
	if c == nil {
		t.FailNow()
	}
	return c
}

// start runs c until stop, which returns what Run returned.
func start(c *Capture) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	return func() error {
		cancel()
		return <-ran
	}
}

// testFanout captures on interface ifc in namespace captureNS while 20
// flows of known UDP traffic go from src, in namespace sendNS, to dst and
// back.
func testFanout(t *testing.T, captureNS, ifc, sendNS string, src, dst netip.Addr) {
	capture := openIn(t, captureNS, AFPacketConfig{Interface: ifc, Fanout: 2})
	var sinks []net.PacketConn
	netnstest.In(t, captureNS, func() {
		// Servers that echo each datagram.
		for port := 5000; port < 5004; port++ {
			c, err := net.ListenPacket("udp", netip.AddrPortFrom(dst, uint16(port)).String())
			if err != nil {
				t.Error(err)
				return
			}
			sinks = append(sinks, c)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	defer func() {
		for _, c := range sinks {
			c.Close()
		}
	}()
	for _, c := range sinks {
		go netnstest.Serve(c, true)
	}
	stop := start(capture)

	// 20 flows, flow i of i+1 datagrams each way.
	const flows = 20
	netnstest.In(t, sendNS, func() {
		for i := range flows {
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, uint16(40000+i))),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(5000+i%4))))
			if err != nil {
				t.Error(err)
				return
			}
			buf := make([]byte, 64)
			for range i + 1 {
				if _, err := c.Write([]byte("known traffic")); err != nil {
					t.Error(err)
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Read(buf); err != nil {
					t.Error(err)
				}
			}
			c.Close()
		}
	})
	time.Sleep(300 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	seen := make(map[uint16]int)
	perMeter := make([]int, 2)
	for i, m := range capture.Meters() {
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			if f.key.Proto != protoUDP || f.Src() != src {
				continue // ARP is no flow; IPv6 neighbour discovery and the like are others
			}
			port := f.key.SrcPort
			seen[port]++
			perMeter[i]++
			want := uint32(port-40000) + 1
			if f.Packets() != want || f.PacketsRev() != want || f.Dst() != dst || f.End() != EndForced {
				t.Errorf("flow from port %d: %d packets, %d back, to %v, ended %v; want %d each way", port, f.Packets(), f.PacketsRev(), f.Dst(), f.End(), want)
			}
			if f.NPPI() != min(2*int(want), MaxPPI) || len(f.SNI()) != 0 {
				t.Errorf("flow from port %d: %d packets' information", port, f.NPPI())
			}
		}
		m.Ring().Release()
	}
	for i := range flows {
		if n := seen[uint16(40000+i)]; n != 1 {
			t.Errorf("flow from port %d seen %d times", 40000+i, n)
		}
	}
	if perMeter[0] == 0 || perMeter[1] == 0 {
		t.Errorf("the fanout gave the meters %v flows", perMeter)
	}
	if received, dropped := capture.SocketStats(); received < flows*(flows+1)/2 || dropped != 0 {
		t.Errorf("sockets received %d packets, dropped %d", received, dropped)
	}
}

// TestMergingOffloads: a capture tells whether its interface merges
// received packets, as a veth end does with generic receive offload on;
// a loopback, which says it has it, merges nothing.
func TestMergingOffloads(t *testing.T) {
	pair := netnstest.NewPair(t, 0)
	netnstest.In(t, pair.B, func() {
		for _, tc := range []struct {
			ifc  string
			gro  uint32 // set on ifc first, unless it is lo
			want []string
		}{
			{pair.IfB, 1, []string{"generic-receive-offload"}},
			{pair.IfB, 0, nil},
			{"lo", 0, nil},
		} {
			if tc.ifc != "lo" {
				if _, err := ethtool(tc.ifc, unix.ETHTOOL_SGRO, tc.gro); err != nil {
					t.Errorf("turning GRO to %d on %s: %v", tc.gro, tc.ifc, err)
					continue
				}
			}
			c, err := OpenAFPacket(AFPacketConfig{Interface: tc.ifc})
			if err != nil {
				t.Error(err)
				continue
			}
			got, err := c.MergingOffloads()
			c.Close()
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("%s with GRO %d: %q, %v; want %q", tc.ifc, tc.gro, got, err, tc.want)
			}
		}
	})
}

// TestAFPacketInterfaceDownAndGone: while the capture's interface is down
// the capture waits without spinning and says so; when it comes back up
// the flow goes on, every packet counted; when the interface is deleted,
// Run ends with an error that says so, the flows in the cache exported.
func TestAFPacketInterfaceDownAndGone(t *testing.T) {
	pair := netnstest.NewPair(t, 0)
	var logs bytes.Buffer
	capture := openIn(t, pair.B, AFPacketConfig{Interface: pair.IfB, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	var sink net.PacketConn
	netnstest.In(t, pair.B, func() {
		var err error
		if sink, err = net.ListenPacket("udp4", netip.AddrPortFrom(pair.AddrB, 5000).String()); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	defer sink.Close()
	ran := make(chan error, 1)
	go func() { ran <- capture.Run(context.Background()) }()
	send := func(n int) {
		netnstest.In(t, pair.A, func() {
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair.AddrA, 40000)),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair.AddrB, 5000)))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for range n {
				if _, err := c.Write([]byte("known traffic")); err != nil {
					t.Error(err)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	send(3)
	time.Sleep(200 * time.Millisecond)
	netnstest.IP(t, "-n", pair.B, "link", "set", pair.IfB, "down")
	before := capture.ThreadCPU()
	time.Sleep(time.Second)
	if spent := capture.ThreadCPU() - before; spent > 200*time.Millisecond {
		t.Errorf("the capture used %v of CPU in a second with its interface down: it spins", spent)
	}
	netnstest.IP(t, "-n", pair.B, "link", "set", pair.IfB, "up")
	time.Sleep(300 * time.Millisecond)
	send(4)
	time.Sleep(300 * time.Millisecond)
	netnstest.IP(t, "-n", pair.B, "link", "del", pair.IfB)
	select {
	case err := <-ran:
		if err == nil || !strings.Contains(err.Error(), "the interface is gone") {
			t.Errorf("Run ended with %v; want the interface gone", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run goes on with its interface deleted")
	}
	var packets uint32
	m := capture.Meters()[0]
	for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
		if f.key.SrcPort == 40000 {
			packets += f.Packets()
		}
	}
	if packets != 7 {
		t.Errorf("the flow from port 40000 has %d packets, sent 7", packets)
	}
	for _, want := range []string{"went down", "packets come again"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}
}

// TestOpenAFPacketRefuses: a capture that cannot be says why, naming what
// was asked (no root needed: it fails before any socket).
func TestOpenAFPacketRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  AFPacketConfig
		want string
	}{
		{AFPacketConfig{Interface: "alfd-none0"}, `"alfd-none0"`},
		{AFPacketConfig{Interface: "lo", Fanout: 65}, "fanout of 65"},
		{AFPacketConfig{Interface: "lo", BlockSize: 5000}, "block size 5000"},
		{AFPacketConfig{Interface: "lo", NumBlocks: 1}, "ring of 1 blocks"},
		{AFPacketConfig{Interface: "lo", NumBlocks: 1 << 21}, "ring of 2097152 blocks of 1048576 bytes"},
		{AFPacketConfig{Interface: "lo", Fanout: 2, CPUs: []int{0}}, "1 CPUs [0] for 2 meters"},
		{AFPacketConfig{Interface: "lo", CPUs: []int{1023}}, "CPU 1023: not one this process may run on"},
	} {
		if _, err := OpenAFPacket(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}

// TestAFPacketPromiscuous: each socket of a capture puts its interface in
// promiscuous mode, to see frames for other hosts as a mirror port carries
// them, and the interface leaves it when they close; NotPromiscuous leaves
// it be.
func TestAFPacketPromiscuous(t *testing.T) {
	pair := netnstest.NewPair(t, 0)
	// The kernel counts promiscuous mode's users; ip -d shows the count.
	promiscuity := func() string {
		out, err := exec.Command("ip", "-d", "-n", pair.B, "link", "show", pair.IfB).Output()
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(out))
		if i := slices.Index(f, "promiscuity"); i >= 0 && i+1 < len(f) {
			return f[i+1]
		}
		t.Fatalf("ip -d link show: no promiscuity in\n%s", out)
		return ""
	}
	for _, tc := range []struct {
		not  bool
		want string
	}{{false, "2"}, {true, "0"}} {
		c := openIn(t, pair.B, AFPacketConfig{Interface: pair.IfB, Fanout: 2, NotPromiscuous: tc.not})
		if got := promiscuity(); got != tc.want {
			t.Errorf("NotPromiscuous %v, two sockets: promiscuity %s, want %s", tc.not, got, tc.want)
		}
		c.Close()
		if got := promiscuity(); got != "0" {
			t.Errorf("NotPromiscuous %v: promiscuity %s after Close", tc.not, got)
		}
	}
}

// TestAFPacketPinsMeters: with CPUs, each meter's thread runs on its own
// CPU only, while the capture runs.
func TestAFPacketPinsMeters(t *testing.T) {
	pair := netnstest.NewPair(t, 0)
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	var cpus []int // the last two CPUs this test may use, or the one
	for c := 1023; c >= 0 && len(cpus) < 2; c-- {
		if allowed.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	c := openIn(t, pair.B, AFPacketConfig{Interface: pair.IfB, Fanout: len(cpus), CPUs: cpus})
	stop := start(c)
	for i, want := range cpus {
		var tid int32
		for deadline := time.Now().Add(5 * time.Second); tid == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			tid = c.threads[i].Load()
		}
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(int(tid), &set); err != nil {
			t.Errorf("meter %d's thread %d: %v", i, tid, err)
			continue
		}
		if set.Count() != 1 || !set.IsSet(want) {
			t.Errorf("meter %d runs on %d CPUs, CPU %d among them: %v; want CPU %d alone", i, set.Count(), want, set.IsSet(want), want)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestAFPacketWarnsOfDrops: when the kernel drops packets because a
// socket's ring is full (here: a ring of two small blocks, filled before
// the capture reads it), the capture warns once, naming the socket and
// the count, and not again within the minute; so too when the meter's
// ring drops flows its consumer has not taken (here nobody takes them,
// and each packet is a flow of its own, more than the cache holds).
func TestAFPacketWarnsOfDrops(t *testing.T) {
	pair := netnstest.NewPair(t, 0)
	var logs bytes.Buffer
	capture := openIn(t, pair.B, AFPacketConfig{Interface: pair.IfB, BlockSize: 4096, NumBlocks: 2,
		Meter: Config{Cache: CacheConfig{Size: 16}, RingSize: 4}, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	netnstest.In(t, pair.A, func() {
		for range 2000 {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair.AddrB, 5000)))
			if err != nil {
				t.Error(err)
				return
			}
			c.Write([]byte("more than the ring holds"))
			c.Close()
		}
	})
	stop := start(capture)
	time.Sleep(2500 * time.Millisecond) // two of pollStats' rounds, and a last at the end
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, dropped := capture.SocketStats()
	ringDrops := capture.Meters()[0].Stats().RingDrops.Load()
	kernel, flows := strings.Count(logs.String(), "the kernel dropped packets"), strings.Count(logs.String(), "flows dropped")
	if dropped < 1000 || kernel != 1 || !strings.Contains(logs.String(), fmt.Sprintf("socket=0 dropped=%d dropped_total=%d", dropped, dropped)) {
		t.Errorf("%d dropped by the kernel, %d warnings:\n%s", dropped, kernel, logs.String())
	}
	// More go when the capture stops and its cache is emptied into the
	// unread ring: after the warning, within its minute.
	var warned, warnedTotal uint64
	if i := strings.Index(logs.String(), "meter=0 "); i >= 0 {
		fmt.Sscanf(logs.String()[i:], "meter=0 dropped=%d dropped_total=%d", &warned, &warnedTotal)
	}
	if flows != 1 || warned < 10 || warned != warnedTotal || warned > ringDrops {
		t.Errorf("%d flows dropped by the meter's ring, %d warnings:\n%s", ringDrops, flows, logs.String())
	}
}

// TestAFPacketRingOnMeterNode: on a host of several NUMA nodes, each
// socket's ring is in the memory of the node its meter is pinned to, where
// the meter reads it. It skips on a host of one node.
func TestAFPacketRingOnMeterNode(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	// A CPU this test may use on each node, by the node's number.
	nodeCPU := map[int]int{}
	for cpu := range 1024 {
		dirs, _ := filepath.Glob(fmt.Sprintf("/sys/devices/system/cpu/cpu%d/node*", cpu))
		if len(dirs) != 1 || !allowed.IsSet(cpu) {
			continue
		}
		if node, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dirs[0]), "node")); err == nil {
			nodeCPU[node] = cpu
		}
	}
	if len(nodeCPU) < 2 {
		t.Skipf("the CPUs this test may use are on %d NUMA node: a ring's node cannot differ from its meter's", len(nodeCPU))
	}
	var nodes, cpus []int
	for node, cpu := range nodeCPU {
		nodes, cpus = append(nodes, node), append(cpus, cpu)
	}
	pair := netnstest.NewPair(t, 0)
	c := openIn(t, pair.B, AFPacketConfig{Interface: pair.IfB, Fanout: len(cpus), CPUs: cpus})
	defer c.Close()
	for i, s := range c.socks {
		// move_pages without target nodes tells the node of each page.
		page, status := uintptr(unsafe.Pointer(&s.ring[0])), int32(-1)
		if _, _, errno := unix.Syscall6(unix.SYS_MOVE_PAGES, 0, 1, uintptr(unsafe.Pointer(&page)), 0, uintptr(unsafe.Pointer(&status)), 0); errno != 0 {
			t.Fatalf("move_pages: %v", errno)
		}
		if int(status) != nodes[i] {
			t.Errorf("socket %d's ring is on node %d (status %d); its meter is on CPU %d of node %d", i, status, status, cpus[i], nodes[i])
		}
	}
}

// TestAFPacketBareIPInterface: on an interface without Ethernet headers (a
// tun device, as VPNs use) the capture reads bare IP packets and meters
// them: every packet the tunnel receives counts, none is skipped.
func TestAFPacketBareIPInterface(t *testing.T) {
	pair := netnstest.NewPair(t, 0)
	const name = "alfdtun0"
	var tun *os.File
	netnstest.In(t, pair.B, func() {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		tun = os.NewFile(uintptr(fd), "tun")
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			t.Error(err)
			return
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			t.Error(err)
		}
	})
	if tun != nil {
		defer tun.Close()
	}
	if t.Failed() {
		t.FailNow()
	}
	netnstest.IP(t, "-n", pair.B, "link", "set", name, "up")
	netnstest.In(t, pair.B, func() {
		if link, err := InterfaceLink(name); link != LinkRaw || err != nil {
			t.Errorf("%s's frames: %v, %v; want bare IP", name, link, err)
		}
	})
	c := openIn(t, pair.B, AFPacketConfig{Interface: name})
	stop := start(c)
	time.Sleep(100 * time.Millisecond)
	// What the tunnel receives: written to its device.
	packet := []byte{0x45, 0, 0, 33, 0, 1, 0, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2, // IPv4, UDP
		0xc3, 0x50, 0x01, 0xbb, 0, 13, 0, 0, 'q', 'u', 'e', 'r', 'y'}
	for range 4 {
		if _, err := tun.Write(packet); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	m := c.Meters()[0]
	var flows []string
	for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
		flows = append(flows, fmt.Sprintf("%v:%d->%v:%d %d packets", f.Src(), f.key.SrcPort, f.Dst(), f.key.DstPort, f.Packets()))
	}
	want := "10.9.0.1:50000->10.9.0.2:443 4 packets"
	var skipped uint64
	for _, s := range SkipReasons() {
		skipped += m.Stats().Skipped[s].Load()
	}
	if !slices.Contains(flows, want) || skipped != 0 {
		t.Errorf("flows %q, %d frames skipped; want %q among them, none skipped", flows, skipped, want)
	}
}

// TestAFPacketStopReadsTheRing: a capture stopped reads what the kernel
// has put in its sockets' rings before it ends its flows, the block still
// being filled too: every frame sent before the stop is in a flow.
func TestAFPacketStopReadsTheRing(t *testing.T) {
	pair := netnstest.NewPair(t, 0)
	doh := pcapFrames(t, filepath.Join(shareddata.Path(t, "pcap", "ndpi"), "dns_doh.pcap"))
	capture := openIn(t, pair.B, AFPacketConfig{Interface: pair.IfB, Fanout: 2})
	defer capture.Close()
	stop := start(capture)
	// Late in the first wait for a block, which ends at 100 ms; the block
	// with the frames is retired 50 ms after its first.
	time.Sleep(80 * time.Millisecond)
	netnstest.In(t, pair.A, func() {
		if sent, err := loadgen.Send(context.Background(), pair.IfA, doh.frames, len(doh.frames), 0); err != nil || sent != len(doh.frames) {
			t.Errorf("sent %d of %d frames: %v", sent, len(doh.frames), err)
		}
	})
	if err := stop(); err != nil { // at once
		t.Fatal(err)
	}
	var packets uint32
	for _, m := range capture.Meters() {
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			if f.key.Proto == protoTCP {
				packets += f.Packets() + f.PacketsRev()
			}
		}
		m.Ring().Release()
	}
	if packets != uint32(len(doh.frames)) {
		t.Errorf("%d of the %d packets sent before the stop are in flows", packets, len(doh.frames))
	}
}

// TestAFPacketOpensUnderTraffic: a fanout group that forms while packets
// come takes none twice and splits no flow: a socket bound but not yet in
// the group would take every packet besides the group, and a group of
// fewer sockets than it will have would give flows to sockets that lose
// them to others once the rest join; so no socket takes a packet before
// the whole group is formed.
func TestAFPacketOpensUnderTraffic(t *testing.T) {
	pair := netnstest.NewPair(t, 0)
	const flows = 64
	frames := make([][]byte, flows)
	for i := range frames {
		frames[i] = tcpFrame(uint16(41000+i), 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sending := make(chan int, 1)
	go netnstest.In(t, pair.A, func() {
		sent, err := loadgen.Send(ctx, pair.IfA, frames, math.MaxInt, 100000)
		if err != nil {
			t.Error(err)
		}
		sending <- sent
	})
	time.Sleep(50 * time.Millisecond)
	capture := openIn(t, pair.B, AFPacketConfig{Interface: pair.IfB, Fanout: 4})
	defer capture.Close()
	stop := start(capture)
	time.Sleep(100 * time.Millisecond)
	cancel()
	sent := <-sending
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	meters := make(map[uint16]int)
	packets := 0
	for _, m := range capture.Meters() {
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			if f.key.Proto != protoTCP {
				continue
			}
			meters[f.key.SrcPort]++
			packets += int(f.Packets() + f.PacketsRev())
			if most := sent/flows + 1; int(f.Packets()) > most {
				t.Errorf("flow from port %d has %d packets; at most %d were sent", f.key.SrcPort, f.Packets(), most)
			}
		}
		m.Ring().Release()
	}
	for port, n := range meters {
		if n != 1 {
			t.Errorf("flow from port %d came from %d meters", port, n)
		}
	}
	if len(meters) != flows || packets == 0 || packets > sent {
		t.Errorf("%d flows, %d packets captured of %d sent", len(meters), packets, sent)
	}
}

// TestAFPacketAgreesWithFile: the same traffic makes the same flows live
// as from its capture file. Each of nDPI's captures is sent frame by frame
// over a veth pair (its MTU raised for the captures' merged frames) and
// captured by two meters in one fanout group; every flow the file gives
// comes out once, with the same counts, flags, end, per-packet
// information and SNI (times aside: live ones are the replay's). So too
// with VLAN tags, whose outer one the receiving kernel takes off the frame
// and hands over apart.
func TestAFPacketAgreesWithFile(t *testing.T) {
	pcaps := ndpiPcaps(t)
	pair := netnstest.NewPair(t, 0)
	netnstest.IP(t, "-n", pair.A, "link", "set", pair.IfA, "mtu", "9000")
	netnstest.IP(t, "-n", pair.B, "link", "set", pair.IfB, "mtu", "9000")
	for _, path := range pcaps {
		t.Run(filepath.Base(path), func(t *testing.T) { agreesWithFile(t, pair, path) })
	}
	doh := pcapFrames(t, filepath.Join(filepath.Dir(pcaps[0]), "dns_doh.pcap"))
	for _, tc := range []struct {
		name string
		tags [][4]byte // TPID and tag control information, outer first
	}{
		{"802.1Q", [][4]byte{{0x81, 0x00, 0x00, 100}}},
		{"QinQ", [][4]byte{{0x88, 0xa8, 0x00, 200}, {0x81, 0x00, 0x01, 0x2c}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tagged := doh
			tagged.frames = make([][]byte, len(doh.frames))
			for i, f := range doh.frames {
				tagged.frames[i] = slices.Clone(f[:12])
				for _, tag := range tc.tags {
					tagged.frames[i] = append(tagged.frames[i], tag[:]...)
				}
				tagged.frames[i] = append(tagged.frames[i], f[12:]...)
				tagged.wire[i] += 4 * len(tc.tags)
			}
			path := filepath.Join(t.TempDir(), "tagged.pcap")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			writePcap(t, f, tagged)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			agreesWithFile(t, pair, path)
		})
	}
}

// agreesWithFile sends the frames of the capture file at path across
// pair, from A, captures them on B and compares the flows with the file's.
func agreesWithFile(t *testing.T, pair *netnstest.Pair, path string) {
	t.Helper()
	// No timeouts within a capture's span (at most 255 s): live, the
	// replay takes a fraction of a second.
	meter := Config{Cache: CacheConfig{Active: maxActive, Inactive: maxInactive}}

	fileFlows, fileMeter := meterPcap(t, path, meter)
	want := make(map[Key]string, len(fileFlows))
	for i := range fileFlows {
		want[fileFlows[i].key] = flowSummary(&fileFlows[i])
	}
	frames := pcapFrames(t, path).frames

	capture := openIn(t, pair.B, AFPacketConfig{Interface: pair.IfB, Fanout: 2, Meter: meter})
	defer capture.Close()
	stop := start(capture)
	netnstest.In(t, pair.A, func() {
		// Slow enough for the receiving end's backlog.
		if sent, err := loadgen.Send(context.Background(), pair.IfA, frames, len(frames), 50000); err != nil || sent != len(frames) {
			t.Errorf("sent %d of %d frames: %v", sent, len(frames), err)
		}
	})
	if err := stop(); err != nil { // it reads the frames in the ring first
		t.Fatal(err)
	}

	got := make(map[Key]int)
	for _, m := range capture.Meters() {
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			w, ok := want[f.key]
			switch {
			case !ok && f.key.Proto == protoICMPv6 && (f.Src().IsLinkLocalUnicast() || f.Src().IsUnspecified()):
				// The namespaces' own neighbour discovery and multicast listener reports.
			case !ok:
				t.Errorf("live flow %s not in the file's flows: %s", keyString(f.key), flowSummary(f))
			case w != flowSummary(f):
				t.Errorf("flow %s\nlive %s\nfile %s", keyString(f.key), flowSummary(f), w)
			}
			got[f.key]++
		}
		m.Ring().Release()
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("flow %s came %d times live", keyString(k), got[k])
		}
	}
	if _, dropped := capture.SocketStats(); dropped != 0 {
		t.Errorf("the kernel dropped %d packets", dropped)
	}
	for _, r := range []Skip{Truncated, Malformed, Fragment, Oversized} {
		live := uint64(0)
		for _, m := range capture.Meters() {
			live += m.Stats().Skipped[r].Load()
		}
		if file := fileMeter.Stats().Skipped[r].Load(); live != file {
			t.Errorf("%v: %d frames skipped live, %d from the file", r, live, file)
		}
	}
	t.Logf("%d frames, %d flows", len(frames), len(want))
}

// pcapFrames reads every frame of a capture file.
func pcapFrames(t *testing.T, path string) preloaded {
	t.Helper()
	r, err := OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var p preloaded
	for {
		frame, info, err := r.Next()
		if err != nil {
			break
		}
		p.frames = append(p.frames, slices.Clone(frame))
		p.micros = append(p.micros, info.Micros)
		p.wire = append(p.wire, info.WireLen)
	}
	return p
}

// keyString names a flow by its key: protocol, source, destination.
func keyString(k Key) string {
	return fmt.Sprintf("%d %v -> %v", k.Proto, netip.AddrPortFrom(k.SrcAddr(), k.SrcPort), netip.AddrPortFrom(k.DstAddr(), k.DstPort))
}

// flowSummary is what a flow says apart from its times.
func flowSummary(f *Flow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "packets %d/%d bytes %d/%d flags %#x/%#x end %v sni %q ppi", f.Packets(), f.PacketsRev(),
		f.Bytes(), f.BytesRev(), f.TCPFlags(), f.TCPFlagsRev(), f.End(), f.SNI())
	for i := range f.NPPI() {
		length, dir, flags, _ := f.PPI(i)
		fmt.Fprintf(&b, " %d:%d:%#x", length, dir, flags)
	}
	return b.String()
}
