//go:build linux

package bpf

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/alfd/alfd/flowmeter"
)

// needRoot skips tests that load programs without the privilege to.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it loads eBPF programs")
	}
}

// frame is an Ethernet frame of an IPv4 packet from src:sport to
// dst:dport with payload bytes of payload.
func frame(proto uint8, src, dst [4]byte, sport, dport uint16, flags uint8, payload int) []byte {
	hdr := 20
	if proto == 6 {
		hdr = 20 + 20
	} else {
		hdr = 20 + 8
	}
	b := make([]byte, 14+hdr+payload)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(hdr+payload))
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	l4 := ip[20:]
	binary.BigEndian.PutUint16(l4, sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	if proto == 6 {
		l4[12], l4[13] = 0x50, flags
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(8+payload))
	}
	return b
}

var (
	client = [4]byte{10, 0, 0, 1}
	server = [4]byte{192, 0, 2, 53}
)

func run(t *testing.T, p *ebpf.Program, data []byte) uint32 {
	t.Helper()
	ret, err := p.Run(&ebpf.RunOptions{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

// TestProgramsOnSyntheticPackets runs the programs on packets made here,
// through the kernel's test run: deterministic, no network needed.
func TestProgramsOnSyntheticPackets(t *testing.T) {
	needRoot(t)
	p, err := Load(Config{Ports: []Port{{6, 443}, {17, 853}}, Aggregate: AggregateSocket, Steer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	t.Run("filter", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			data []byte
			pass bool
		}{
			{"tcp to 443", frame(6, client, server, 50000, 443, 0x02, 0), true},
			{"tcp from 443", frame(6, server, client, 443, 50000, 0x12, 0), true},
			{"udp to 853", frame(17, client, server, 50001, 853, 0, 40), true},
			{"tcp to 853", frame(6, client, server, 50002, 853, 0x02, 0), false},
			{"udp to 443", frame(17, client, server, 50003, 443, 0, 40), false},
			{"tcp to 80", frame(6, client, server, 50004, 80, 0x02, 0), false},
			{"arp", append(make([]byte, 12), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1), false},
		} {
			if got := run(t, p.filter, tc.data); (got != 0) != tc.pass {
				t.Errorf("%s: the filter returned %d", tc.name, got)
			}
		}
	})

	t.Run("steer", func(t *testing.T) {
		seen := map[uint32]bool{}
		for port := uint16(50000); port < 50100; port++ {
			out := run(t, p.steer, frame(6, client, server, port, 443, 0x10, 10))
			back := run(t, p.steer, frame(6, server, client, 443, port, 0x10, 10))
			if out != back {
				t.Fatalf("port %d: %d one way, %d back", port, out, back)
			}
			seen[out%4] = true
		}
		if len(seen) != 4 {
			t.Errorf("100 flows reach %d of 4 sockets", len(seen))
		}
	})

	t.Run("aggregate in the socket filter", func(t *testing.T) {
		const packets = 100
		up, upPayload := 0, 0
		for i := range packets {
			var f []byte
			switch {
			case i == 0:
				f = frame(6, client, server, 40000, 443, 0x02, 0) // SYN
			case i == 1:
				f = frame(6, server, client, 443, 40000, 0x12, 0)
			case i == packets-1:
				f = frame(6, client, server, 40000, 443, 0x11, 0) // FIN: always up
			case i%2 == 0:
				f = frame(6, client, server, 40000, 443, 0x18, 100)
			default:
				f = frame(6, server, client, 443, 40000, 0x18, 1000)
			}
			if run(t, p.filter, f) != 0 {
				up++
				if i > 1 && i < packets-1 {
					upPayload++
				}
			}
		}
		// Up: the handshake, 30 packets with payload, the FIN.
		if up != 2+30+1 || upPayload != 30 {
			t.Errorf("%d packets up, %d with payload", up, upPayload)
		}
		k := flowmeter.Key{SrcPort: 40000, DstPort: 443, Proto: 6, IPVersion: 4}
		copy(k.Src[:], client[:])
		copy(k.Dst[:], server[:])
		agg := p.Aggregator().Take(&k)
		// Of packets 2..98 (97 with payload, 49 forward, 48 back), the
		// first 30 went up: packets 32..98 were counted, 34 forward
		// (100 bytes of payload + 40) and 33 back (1040).
		want := flowmeter.Aggregate{Packets: [2]uint32{34, 33}, Bytes: [2]uint64{34 * 140, 33 * 1040}, TCPFlags: [2]uint8{0x18, 0x18}}
		if agg.Packets != want.Packets || agg.Bytes != want.Bytes || agg.TCPFlags != want.TCPFlags || agg.LastMicros == 0 {
			t.Errorf("the kernel counted %+v, want %+v", agg, want)
		}
		if again := p.Aggregator().Take(&k); again.Packets != [2]uint32{} {
			t.Errorf("Take left the flow in the table: %+v", again)
		}
		c, err := p.Counts()
		if err != nil {
			t.Fatal(err)
		}
		if c.Counted != 67 {
			t.Errorf("counters %+v", c)
		}
	})
}

// TestXDPAggregateOnSyntheticPackets: the XDP program counts as the socket
// filter does, and drops what it counted.
func TestXDPAggregateOnSyntheticPackets(t *testing.T) {
	needRoot(t)
	spec, err := loadAlfd()
	if err != nil {
		t.Fatal(err)
	}
	delete(spec.Programs, alfdProgPortFilter)
	delete(spec.Programs, alfdProgSteer)
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	prog := coll.Programs[alfdProgAggregate]
	const xdpDrop, xdpPass = 1, 2
	drops := 0
	for i := range 50 {
		f := frame(17, client, server, 40001, 853, 0, 200)
		switch run(t, prog, f) {
		case xdpDrop:
			drops++
			if i < 30 {
				t.Errorf("packet %d dropped before 30 went up", i)
			}
		case xdpPass:
		default:
			t.Fatalf("packet %d: unexpected verdict", i)
		}
	}
	if drops != 20 {
		t.Errorf("%d of 50 packets counted in the kernel, want 20", drops)
	}
	p := &Programs{coll: coll, flows: coll.Maps[alfdMapFlows], counts: coll.Maps[alfdMapCounts]}
	k := flowmeter.Key{SrcPort: 40001, DstPort: 853, Proto: 17, IPVersion: 4}
	copy(k.Src[:], client[:])
	copy(k.Dst[:], server[:])
	if agg := (aggregator{p}).Take(&k); agg.Packets != [2]uint32{20, 0} || agg.Bytes != [2]uint64{20 * 228, 0} {
		t.Errorf("the kernel counted %+v", agg)
	}
}

// TestLoadErrors: what cannot load says why.
func TestLoadErrors(t *testing.T) {
	if _, err := Load(Config{Aggregate: "tc"}); err == nil {
		t.Error("pre-aggregation at tc: no error")
	}
	if _, err := Load(Config{}); err == nil {
		t.Error("nothing to load: no error")
	}
	if os.Geteuid() == 0 {
		if _, err := Load(Config{Aggregate: AggregateXDP, Interface: "no-such-ifc0"}); err == nil {
			t.Error("XDP on a missing interface: no error")
		}
	}
	for _, s := range []string{"tcp:443,udp:853", "tcp:65535"} {
		if _, err := ParsePorts(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"tcp", "sctp:443", "tcp:0", "tcp:70000", ""} {
		if _, err := ParsePorts(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}
