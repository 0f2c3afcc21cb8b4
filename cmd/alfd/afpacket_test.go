//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/internal/loadgen"
	"github.com/alfd/alfd/internal/netnstest"
	"github.com/alfd/alfd/internal/shareddata"
)

// TestDaemonLiveStopsWithFlowsInCache runs alfd on a live interface in a
// network namespace, with its eBPF filter, pre-aggregation and steering,
// while TCP connections are open; stopping it (as SIGTERM does) takes under
// 2 s, and the flows still in the cache come out classified.
func TestDaemonLiveStopsWithFlowsInCache(t *testing.T) {
	pair := netnstest.NewPair(t, 1)
	_, blacklist, d0 := synthSetup(t, 2000)
	out := filepath.Join(t.TempDir(), "flows.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exited := make(chan error, 1)
	metrics := freeAddr(t)
	go netnstest.In(t, pair.B, func() {
		exited <- run(ctx, []string{"--afpacket", pair.IfB, "--fanout", "2", "--metrics", metrics, "--ring-blocks", "8", "--ring-block-size", "256KiB", "--bpf-ports", "tcp:8443", "--bpf-aggregate", "socket", "--bpf-steer", "--workdir", filepath.Join(t.TempDir(), "w"),
			"--blacklist", blacklist, "--dpath", d0, "--output", out}, &logs, &logs)
	})
	waitFor(t, "alfd to start", 30*time.Second, func() bool { return strings.Contains(logs.String(), "alfd started") })
	if !strings.Contains(logs.String(), "ring_per_socket=2MiB") {
		t.Errorf("the ring is not the size asked (8 blocks of 256 KiB):\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "eBPF in the capture path") {
		t.Errorf("the eBPF programs were not used:\n%s", logs.String())
	}

	// A server in B; six clients in A, each in a conversation left open.
	var ln net.Listener
	netnstest.In(t, pair.B, func() {
		var err error
		if ln, err = net.Listen("tcp4", pair.AddrB.String()+":8443"); err != nil {
			t.Error(err)
		}
	})
	if ln == nil {
		t.FailNow()
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(strings.Repeat("a", 200) + line))
				}
			}()
		}
	}()
	const conns = 6
	var clients []net.Conn
	netnstest.In(t, pair.A, func() {
		for range conns {
			c, err := net.Dial("tcp4", pair.AddrB.String()+":8443")
			if err != nil {
				t.Error(err)
				return
			}
			clients = append(clients, c)
			r := bufio.NewReader(c)
			for i := range 5 {
				fmt.Fprintf(c, "question %d\n", i)
				if _, err := r.ReadString('\n'); err != nil {
					t.Error(err)
				}
			}
		}
	})
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond)

	// Each socket's and meter's counters, in the daemon's namespace.
	var body []byte
	netnstest.In(t, pair.B, func() {
		c, err := net.Dial("tcp", metrics)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\n\r\n")
		body, _ = io.ReadAll(c)
	})
	for _, want := range []string{`alfd_capture_received_total{socket="1"} `, `alfd_capture_kernel_drops_total{socket="0"} 0`, `alfd_packets_total{meter="1"} `, `alfd_meter_ring_drops_total{meter="0"} 0`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the metrics lack %q:\n%s", want, body)
		}
	}

	start := time.Now()
	cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("alfd: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("alfd still runs 10 s after the signal\n%s", logs.String())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("alfd took %v to stop", d)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var f struct {
			Dst     string   `json:"DST_IP"`
			DstPort int      `json:"DST_PORT"`
			Packets int      `json:"PACKETS"`
			Rev     int      `json:"PACKETS_REV"`
			Proba   *float64 `json:"DOH_PROBA"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if f.Dst == pair.AddrB.String() && f.DstPort == 8443 {
			found++
			// The handshake and five exchanges, at least, each way.
			if f.Packets < 7 || f.Rev < 6 || f.Proba == nil {
				t.Errorf("flow %+v", f)
			}
		}
	}
	if found != conns {
		t.Errorf("%d of the %d open connections came out\n%s", found, conns, logs.String())
	}
}

// TestLiveFallsBackWithoutEBPF: eBPF programs that cannot load (here, a
// kernel flow table too large to allocate) are reported, and the capture
// goes on without them.
func TestLiveFallsBackWithoutEBPF(t *testing.T) {
	pair := netnstest.NewPair(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go netnstest.In(t, pair.B, func() {
		done <- run(ctx, []string{"flows", "--afpacket", pair.IfB, "--bpf-aggregate", "socket", "--bpf-flows", "2147483647", "-v"}, io.Discard, &logs)
	})
	waitFor(t, "the warning", 10*time.Second, func() bool { return strings.Contains(logs.String(), "capturing without eBPF") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("alfd flows: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "flows done") {
		t.Errorf("the capture did not run:\n%s", logs.String())
	}
}

// TestFlowsLiveShowAsTheyEnd: alfd flows on a live interface writes each
// flow when it ends, while the capture goes on, not when it stops.
func TestFlowsLiveShowAsTheyEnd(t *testing.T) {
	pair := netnstest.NewPair(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs syncBuffer
	done := make(chan error, 1)
	go netnstest.In(t, pair.B, func() {
		done <- run(ctx, []string{"flows", "--afpacket", pair.IfB, "--ports", "all", "--inactive-timeout", "1s", "-v"}, &out, &logs)
	})
	// A short flow a second, each from a port of its own, until one ends
	// (a second after its last packet) and shows: the first ones may come
	// before the capture is open.
	row := fmt.Sprintf("%s,%s,", pair.AddrB, pair.AddrA) // DST_IP,SRC_IP,...
	for port := 41000; !strings.Contains(out.String(), row); port++ {
		if port == 41010 {
			t.Fatalf("no flow shown while the capture runs:\n%s\n%s", out.String(), logs.String())
		}
		netnstest.In(t, pair.A, func() {
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair.AddrA, uint16(port))),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair.AddrB, 5353)))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.Write([]byte("known traffic"))
		})
		time.Sleep(time.Second)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("alfd flows: %v\n%s", err, logs.String())
	}
}

// TestDaemonExitsWhenItsInterfaceGoes: alfd on a live interface that is
// deleted stops (it classified what it had) and exits with the error.
func TestDaemonExitsWhenItsInterfaceGoes(t *testing.T) {
	pair := netnstest.NewPair(t, 4)
	_, blacklist, d0 := synthSetup(t, 2000)
	var logs syncBuffer
	exited := make(chan error, 1)
	go netnstest.In(t, pair.B, func() {
		exited <- run(context.Background(), []string{"--afpacket", pair.IfB, "--workdir", filepath.Join(t.TempDir(), "w"),
			"--blacklist", blacklist, "--dpath", d0, "--output", filepath.Join(t.TempDir(), "flows.json")}, &logs, &logs)
	})
	waitFor(t, "alfd to start", 30*time.Second, func() bool { return strings.Contains(logs.String(), "alfd started") })
	netnstest.IP(t, "-n", pair.B, "link", "del", pair.IfB)
	select {
	case err := <-exited:
		if err == nil || !strings.Contains(err.Error(), "the interface is gone") {
			t.Errorf("alfd exited with %v; want the interface gone\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("alfd runs on without its interface\n%s", logs.String())
	}
}

// TestFlowsLiveAgreeWithFile: alfd flows on a live interface, its long
// flows counted in the kernel after their first 30 packets with payload
// (--bpf-aggregate socket, or xdp with two sockets steered by alfd's
// program), prints the flows alfd flows --pcap prints of the same traffic,
// times aside. Real captures with long TLS flows (DoH among them) are
// sent frame by frame over a veth pair.
func TestFlowsLiveAgreeWithFile(t *testing.T) {
	dir := shareddata.Path(t, "pcap", "ndpi")
	pair := netnstest.NewPair(t, 5)
	netnstest.IP(t, "-n", pair.A, "link", "set", pair.IfA, "mtu", "9000")
	netnstest.IP(t, "-n", pair.B, "link", "set", pair.IfB, "mtu", "9000")
	// No timeouts within a capture's span; live, a replay takes a moment.
	options := []string{"--ports", "all", "--inactive-timeout", "8h", "--active-timeout", "30m", "--format", "json"}
	for _, tc := range []struct{ name, mode string }{
		{"dns_doh.pcap", "socket"}, {"doh.pcapng", "socket"}, {"443-firefox.pcap", "socket"}, {"tumblr.pcap", "socket"},
		{"dns_doh.pcap", "xdp"}, {"tumblr.pcap", "xdp"},
	} {
		t.Run(tc.mode+"/"+tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			capture := []string{"flows", "--afpacket", pair.IfB, "--bpf-aggregate", tc.mode, "-v"}
			if tc.mode == "xdp" {
				capture = append(capture, "--bpf-steer", "--fanout", "2")
			}
			var fileOut bytes.Buffer
			if err := run(context.Background(), append([]string{"flows", "--pcap", path}, options...), &fileOut, io.Discard); err != nil {
				t.Fatal(err)
			}
			want := flowsByKey(t, fileOut.Bytes())

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var liveOut, logs syncBuffer
			done := make(chan error, 1)
			go netnstest.In(t, pair.B, func() {
				done <- run(ctx, append(capture, options...), &liveOut, &logs)
			})
			waitFor(t, "the capture", 10*time.Second, func() bool { return strings.Contains(logs.String(), "capturing") })
			r, err := flowmeter.OpenPcap(path)
			if err != nil {
				t.Fatal(err)
			}
			var frames [][]byte
			for frame, _, err := r.Next(); err == nil; frame, _, err = r.Next() {
				frames = append(frames, bytes.Clone(frame))
			}
			r.Close()
			netnstest.In(t, pair.A, func() {
				// In bursts of 50 frames: a meter hands a flow to the
				// kernel once it has read its first 30 packets with
				// payload, from a block of the ring the kernel hands over
				// 50 ms after its first frame at the latest.
				for start := 0; start < len(frames); start += 50 {
					if start > 0 {
						time.Sleep(100 * time.Millisecond)
					}
					burst := frames[start:min(start+50, len(frames))]
					if sent, err := loadgen.Send(ctx, pair.IfA, burst, len(burst), 50000); err != nil || sent != len(burst) {
						t.Errorf("sent %d of %d frames: %v", sent, len(burst), err)
					}
				}
			})
			cancel() // alfd reads the frames in the ring first
			if err := <-done; err != nil {
				t.Fatalf("alfd flows: %v\n%s", err, logs.String())
			}
			if strings.Contains(logs.String(), "without eBPF") {
				t.Fatalf("the capture ran without its eBPF programs:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), "XDP is not bound") {
				t.Errorf("XDP's program was not bound to the veth pair's end (veth tells it VLAN tags):\n%s", logs.String())
			}
			// Each capture has a flow of more than 30 packets with
			// payload: the kernel counted some packets, not the meters.
			var metered int
			if i := strings.Index(logs.String(), `msg="flows done" packets=`); i < 0 {
				t.Errorf("no counts at the end:\n%s", logs.String())
			} else if n, _ := fmt.Sscanf(logs.String()[i:], `msg="flows done" packets=%d`, &metered); n != 1 || metered >= len(frames) {
				t.Errorf("the meters read %d packets of %d sent: the kernel counted none", metered, len(frames))
			}

			got := flowsByKey(t, []byte(liveOut.String()))
			for k, w := range want {
				if g := got[k]; g != w {
					t.Errorf("flow %s\nlive %s\nfile %s", k, g, w)
				}
			}
			for k, g := range got {
				if _, ok := want[k]; !ok && !strings.HasPrefix(k, "58 fe80:") && !strings.HasPrefix(k, "58 :: ") {
					t.Errorf("live flow %s not in the file's flows: %s", k, g)
				}
			}
			if t.Failed() {
				t.Log(logs.String())
			}
		})
	}
}

// flowsByKey reads alfd flows' JSON lines into each flow's fields without
// their times, by "PROTOCOL SRC_IP SRC_PORT DST_IP DST_PORT".
func flowsByKey(t *testing.T, lines []byte) map[string]string {
	t.Helper()
	flows := make(map[string]string)
	for line := range bytes.Lines(lines) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		key := fmt.Sprint(rec["PROTOCOL"], " ", rec["SRC_IP"], " ", rec["SRC_PORT"], " ", rec["DST_IP"], " ", rec["DST_PORT"])
		delete(rec, "TIME_FIRST")
		delete(rec, "TIME_LAST")
		delete(rec, "PPI_PKT_TIMES")
		fields, _ := json.Marshal(rec)
		if _, seen := flows[key]; seen {
			t.Errorf("flow %s twice", key)
		}
		flows[key] = string(fields)
	}
	return flows
}
