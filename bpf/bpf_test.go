//go:build linux

package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/internal/netnstest"
)

// needRoot skips tests that load programs without the privilege to.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it loads eBPF programs")
	}
}

// mustLoad loads the programs cfg asks for in network namespace ns (the
// test's own when ""), or ends the test; they are closed with it.
func mustLoad(t testing.TB, ns string, cfg Config) *Programs {
	t.Helper()
	needRoot(t)
	var p *Programs
	load := func() {
		var err error
		if p, err = Load(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if ns == "" {
		load()
	} else {
		netnstest.In(t, ns, load)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// frame is an Ethernet frame of an IP packet, IPv4 or IPv6 as src and dst
// are, from src:sport to dst:dport with payload bytes of payload.
func frame(proto uint8, src, dst netip.Addr, sport, dport uint16, flags uint8, payload int) []byte {
	l4 := 8
	if proto == 6 {
		l4 = 20
	}
	b := make([]byte, 14+ipHeader(src)+l4+payload)
	ip := b[14:]
	if src.Is6() {
		binary.BigEndian.PutUint16(b[12:], 0x86dd)
		ip[0], ip[6], ip[7] = 0x60, proto, 64
		binary.BigEndian.PutUint16(ip[4:], uint16(l4+payload))
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
	} else {
		binary.BigEndian.PutUint16(b[12:], 0x0800)
		ip[0], ip[8], ip[9] = 0x45, 64, proto
		binary.BigEndian.PutUint16(ip[2:], uint16(20+l4+payload))
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
	}
	l := ip[ipHeader(src):]
	binary.BigEndian.PutUint16(l, sport)
	binary.BigEndian.PutUint16(l[2:], dport)
	if proto == 6 {
		l[12], l[13] = 0x50, flags
	} else {
		binary.BigEndian.PutUint16(l[4:], uint16(8+payload))
	}
	return b
}

// ext6 is an IPv6 extension header: its type, and its bytes, whose first
// (the next header) withExt6 fills in.
type ext6 struct {
	typ  byte
	body []byte
}

// withExt6 returns frame, an Ethernet frame of an IPv6 packet, with the
// extension headers between the IPv6 header and the transport header.
func withExt6(frame []byte, exts ...ext6) []byte {
	const ip = 14
	b := append([]byte(nil), frame[:ip+40]...)
	proto, next := b[ip+6], &b[ip+6]
	for _, e := range exts {
		*next = e.typ
		b = append(b, e.body...)
		next = &b[len(b)-len(e.body)]
	}
	*next = proto
	b = append(b, frame[ip+40:]...)
	binary.BigEndian.PutUint16(b[ip+4:], uint16(len(b)-ip-40))
	return b
}

// withVLANs returns frame with VLAN tags after its addresses, the outer
// first: each a TPID (0x8100, or 0x88a8 for a service tag) and a VLAN ID.
func withVLANs(frame []byte, tags ...[2]uint16) []byte {
	b := append([]byte(nil), frame[:12]...)
	for _, tag := range tags {
		b = binary.BigEndian.AppendUint16(b, tag[0])
		b = binary.BigEndian.AppendUint16(b, tag[1])
	}
	return append(b, frame[12:]...)
}

// ipHeader is the IP header's length for addresses like a.
func ipHeader(a netip.Addr) int {
	if a.Is6() {
		return 40
	}
	return 20
}

// key is the flow meter's key of a flow from src:sport to dst:dport.
func key(proto uint8, src, dst netip.Addr, sport, dport uint16) flowmeter.Key {
	k := flowmeter.Key{SrcPort: sport, DstPort: dport, Proto: proto, IPVersion: 4}
	if src.Is6() {
		k.IPVersion = 6
		k.Src, k.Dst = src.As16(), dst.As16()
	} else {
		s, d := src.As4(), dst.As4()
		copy(k.Src[:], s[:])
		copy(k.Dst[:], d[:])
	}
	return k
}

var (
	client  = netip.MustParseAddr("10.0.0.1")
	server  = netip.MustParseAddr("192.0.2.53")
	client6 = netip.MustParseAddr("2001:db8::1")
	server6 = netip.MustParseAddr("2001:db8:53::1111")
)

func run(t *testing.T, p *ebpf.Program, data []byte) uint32 {
	t.Helper()
	ret, err := p.Run(&ebpf.RunOptions{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

// mustRunFilter is runFilter, failing t on an error.
func mustRunFilter(t *testing.T, p *Programs, frame []byte) uint32 {
	t.Helper()
	ret, err := runFilter(p, frame)
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

// runFilter runs the socket filter on frame as a packet socket hands it
// over, from its Ethernet header: the kernel's test run starts a socket
// buffer's data past the header it is given, so frame goes in after one
// of a type the test run leaves alone (IEEE's local experimental one).
func runFilter(p *Programs, frame []byte) (uint32, error) {
	data := append(make([]byte, 14, 14+len(frame)), frame...)
	data[12], data[13] = 0x88, 0xb5
	return p.filter.Run(&ebpf.RunOptions{Data: data})
}

// TestProgramsOnSyntheticPackets runs the programs on packets made here,
// through the kernel's test run: deterministic, no network needed.
func TestProgramsOnSyntheticPackets(t *testing.T) {
	p := mustLoad(t, "", Config{Ports: []flowmeter.Port{{Proto: 6, Port: 443}, {Proto: 17, Port: 853}}, Aggregate: AggregateSocket, Steer: true})

	t.Run("filter", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			data []byte
			pass bool
		}{
			{"tcp to 443", frame(6, client, server, 50000, 443, 0x02, 0), true},
			{"tcp to 443 over IPv6", frame(6, client6, server6, 50000, 443, 0x02, 0), true},
			{"udp to 853 over IPv6", frame(17, server6, client6, 50001, 853, 0, 40), true},
			{"udp to 443 over IPv6", frame(17, client6, server6, 50003, 443, 0, 40), false},
			{"tcp from 443", frame(6, server, client, 443, 50000, 0x12, 0), true},
			{"udp to 853", frame(17, client, server, 50001, 853, 0, 40), true},
			{"tcp to 853", frame(6, client, server, 50002, 853, 0x02, 0), false},
			{"udp to 443", frame(17, client, server, 50003, 443, 0, 40), false},
			{"tcp to 80", frame(6, client, server, 50004, 80, 0x02, 0), false},
			{"arp", append(make([]byte, 12), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1), false},
			{"tcp to 443 in VLAN 100", withVLANs(frame(6, client, server, 50000, 443, 0x02, 0), [2]uint16{0x8100, 100}), true},
			{"tcp to 80 in VLAN 100", withVLANs(frame(6, client, server, 50004, 80, 0x02, 0), [2]uint16{0x8100, 100}), false},
			{"udp to 853 over IPv6 in QinQ", withVLANs(frame(17, server6, client6, 50001, 853, 0, 40), [2]uint16{0x88a8, 200}, [2]uint16{0x8100, 300}), true},
			{"udp to 443 in QinQ", withVLANs(frame(17, client, server, 50003, 443, 0, 40), [2]uint16{0x88a8, 200}, [2]uint16{0x8100, 300}), false},
		} {
			if got := mustRunFilter(t, p, tc.data); (got != 0) != tc.pass {
				t.Errorf("%s: the filter returned %d", tc.name, got)
			}
		}
	})

	t.Run("filter/IPv6 extension headers", func(t *testing.T) {
		// Each kind alone, the six of RFC 8200's order, fragments: the
		// filter keys what the flow meter keys, and leaves out later
		// fragments, which have no ports.
		opts := func(typ byte, units int) ext6 {
			return ext6{typ, append([]byte{0, byte(units)}, make([]byte, 6+8*units)...)}
		}
		frag := func(offset uint16) ext6 {
			return ext6{44, []byte{0, 0, byte(offset >> 5), byte(offset<<3) | 1, 0, 0, 0, 1}}
		}
		auth := ext6{51, append([]byte{0, 4}, make([]byte, 22)...)}
		syn := frame(6, client6, server6, 50000, 443, 0x02, 0)
		for _, tc := range []struct {
			name string
			exts []ext6
			pass bool
		}{
			{"hop-by-hop", []ext6{opts(0, 1)}, true},
			{"routing", []ext6{opts(43, 2)}, true},
			{"destination", []ext6{opts(60, 0)}, true},
			{"mobility", []ext6{opts(135, 0)}, true},
			{"authentication", []ext6{auth}, true},
			{"first fragment", []ext6{frag(0)}, true},
			{"later fragment", []ext6{frag(185)}, false},
			{"six in RFC 8200's order", []ext6{opts(0, 0), opts(60, 1), opts(43, 2), frag(0), auth, opts(60, 0)}, true},
		} {
			f := withExt6(syn, tc.exts...)
			var pkt flowmeter.Packet
			keyed := flowmeter.Decoder{Link: flowmeter.LinkEthernet}.Decode(f, 0, &pkt) == flowmeter.Decoded
			if got := mustRunFilter(t, p, f) != 0; got != tc.pass || keyed != tc.pass {
				t.Errorf("%s: the filter passes it: %v, the flow meter keys it: %v; want %v", tc.name, got, keyed, tc.pass)
			}
		}
		// Past MAX_IPV6_EXT headers the filter stops looking: a seventh
		// hides the TCP header from it, not from the flow meter.
		seven := withExt6(syn, opts(0, 0), opts(60, 0), opts(43, 0), opts(60, 0), opts(60, 0), opts(60, 0), opts(60, 0))
		if mustRunFilter(t, p, seven) != 0 {
			t.Error("the filter found the ports behind seven extension headers")
		}
	})

	t.Run("steer", func(t *testing.T) {
		for _, ends := range [][2]netip.Addr{{client, server}, {client6, server6}} {
			seen := map[uint32]bool{}
			for port := uint16(50000); port < 50100; port++ {
				out := run(t, p.steer, frame(6, ends[0], ends[1], port, 443, 0x10, 10))
				back := run(t, p.steer, frame(6, ends[1], ends[0], 443, port, 0x10, 10))
				tagged := run(t, p.steer, withVLANs(frame(6, ends[1], ends[0], 443, port, 0x10, 10), [2]uint16{0x8100, 100}))
				if out != back || tagged != out {
					t.Fatalf("%v port %d: %d one way, %d back, %d back in VLAN 100", ends[0], port, out, back, tagged)
				}
				seen[out%4] = true
			}
			if len(seen) != 4 {
				t.Errorf("100 flows from %v reach %d of 4 sockets", ends[0], len(seen))
			}
		}
	})

	for i, ends := range [][2]netip.Addr{{client, server}, {client6, server6}} {
		t.Run("aggregate in the socket filter/"+ends[0].String(), func(t *testing.T) {
			cl, sv := ends[0], ends[1]
			const packets = 100
			k := key(6, cl, sv, 40000, 443)
			up, upPayload := 0, 0
			for i := range packets {
				if i == 32 {
					// The meter has the flow's 30 packets with payload.
					if !p.Aggregator().Watch(&k) {
						t.Fatal("the kernel's table has no room")
					}
				}
				var f []byte
				switch {
				case i == 0:
					f = frame(6, cl, sv, 40000, 443, 0x02, 0) // SYN
				case i == 1:
					f = frame(6, sv, cl, 443, 40000, 0x12, 0)
				case i == packets-1:
					f = frame(6, cl, sv, 40000, 443, 0x11, 0) // FIN: always up
				case i%2 == 0:
					f = frame(6, cl, sv, 40000, 443, 0x18, 100)
				default:
					f = frame(6, sv, cl, 443, 40000, 0x18, 1000)
				}
				if mustRunFilter(t, p, f) != 0 {
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
			agg := p.Aggregator().Take(&k)
			// Of packets 2..98 (97 with payload, 49 forward, 48 back), the
			// first 30 went up: packets 32..98 were counted, 34 forward
			// (100 bytes of payload and the headers) and 33 back (1000).
			hdr := uint64(ipHeader(cl) + 20)
			want := flowmeter.Aggregate{Packets: [2]uint32{34, 33}, Bytes: [2]uint64{34 * (100 + hdr), 33 * (1000 + hdr)}, TCPFlags: [2]uint8{0x18, 0x18}}
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
			if c.Counted != 67*uint64(i+1) {
				t.Errorf("counters %+v", c)
			}
		})
	}
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
	// The kernel runs no program bound to an interface on a test's
	// packets: the live tests run aggregate_hinted.
	delete(spec.Programs, alfdProgAggregateHinted)
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	prog := coll.Programs[alfdProgAggregate]
	const xdpDrop, xdpPass = 1, 2
	p := &Programs{coll: coll, flows: coll.Maps[alfdMapFlows], flowsFD: uint32(coll.Maps[alfdMapFlows].FD()), counts: coll.Maps[alfdMapCounts]}
	k := key(17, client, server, 40001, 853)
	drops := 0
	for i := range 50 {
		if i == 30 && !p.Aggregator().Watch(&k) {
			t.Fatal("the kernel's table has no room")
		}
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
	if agg := (aggregator{p}).Take(&k); agg.Packets != [2]uint32{20, 0} || agg.Bytes != [2]uint64{20 * 228, 0} {
		t.Errorf("the kernel counted %+v", agg)
	}
}

// TestCountsWithoutTheVLAN: the meter hands a flow in a VLAN to the
// kernel under the key without the VLAN too, and takes its counts from
// there, only where the kernel may count it so: at XDP not bound to its
// interface, or bound to a driver that could not tell a frame's tag.
// Elsewhere such counts are another flow's, one without a VLAN, and stay.
func TestCountsWithoutTheVLAN(t *testing.T) {
	needRoot(t)
	pair := netnstest.NewPair(t, 0)
	tagged := key(17, client, server, 40001, 853)
	tagged.VLAN = 10
	untagged, _ := flowKey(&tagged)
	untagged.Vlan = 0
	for _, tc := range []struct {
		name        string
		cfg         Config
		hintMissing bool
		want        bool
	}{
		{"socket", Config{Aggregate: AggregateSocket}, false, false},
		{"xdp", Config{Aggregate: AggregateXDP}, false, false},
		{"xdp/driver_without_hints", Config{Aggregate: AggregateXDP}, true, true},
		{"xdp/unbound", Config{Aggregate: AggregateXDP, unbound: true}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Interface = pair.IfB
			p := mustLoad(t, pair.B, tc.cfg)
			if tc.hintMissing {
				// As the program does when the driver says it cannot tell.
				if _, err := p.hintMissing.WriteAt([]byte{1}, p.hintOff); err != nil {
					t.Fatal(err)
				}
			}
			counts := alfdFlowCounts{Packets: [2]uint32{7, 5}, FirstLo: 1, LastNs: 1}
			if err := p.flows.Put(&untagged, &counts); err != nil {
				t.Fatal(err)
			}
			agg := p.Aggregator()
			took := agg.LastSeen(&tagged) != 0
			if got := agg.Take(&tagged); took != tc.want || (got.Packets != [2]uint32{7, 5}) != !tc.want {
				t.Errorf("the counts without the VLAN: seen %v, taken %+v; want them %v", took, got, tc.want)
			}
			p.flows.Delete(&untagged)
			if !agg.Watch(&tagged) {
				t.Fatal("the kernel's table has no room")
			}
			own, _ := flowKey(&tagged)
			var v alfdFlowCounts
			if p.flows.Lookup(&own, &v) != nil || (p.flows.Lookup(&untagged, &v) == nil) != tc.want {
				t.Errorf("handed over: under its own key %v, without the VLAN %v; want %v", p.flows.Lookup(&own, &v) == nil, p.flows.Lookup(&untagged, &v) == nil, tc.want)
			}
		})
	}
}

// TestHandedOverWithoutPackets: a flow handed to the kernel that sends no
// more packets has no last packet there, nor counts: the hand-over's time
// is no packet's.
func TestHandedOverWithoutPackets(t *testing.T) {
	p := mustLoad(t, "", Config{Aggregate: AggregateSocket})
	k := key(17, client, server, 1, 853)
	a := p.Aggregator()
	if !a.Watch(&k) {
		t.Fatal("the kernel's table has no room")
	}
	if last := a.LastSeen(&k); last != 0 {
		t.Errorf("last packet at %d; want none", last)
	}
	if got := a.Take(&k); got != (flowmeter.Aggregate{}) {
		t.Errorf("took %+v; want nothing", got)
	}
}

// TestHandOverAllocatesNothing: a meter's calls for a long flow (its
// hand-over, its last sighting, its counts taken back, one not there)
// allocate nothing, in a VLAN at XDP too, where they read whether the
// driver tells the tags.
func TestHandOverAllocatesNothing(t *testing.T) {
	needRoot(t)
	pair := netnstest.NewPair(t, 0)
	p := mustLoad(t, pair.B, Config{Aggregate: AggregateXDP, Interface: pair.IfB})
	if bound, err := p.VLANHint(); !bound {
		t.Fatalf("XDP not bound: %v", err)
	}
	a := p.Aggregator()
	k := key(6, client, server, 40000, 443)
	k.VLAN = 10
	other := key(6, client, server, 40001, 443)
	if n := testing.AllocsPerRun(100, func() {
		if !a.Watch(&k) {
			t.Fatal("the kernel's table has no room")
		}
		a.LastSeen(&k)
		a.Take(&k)
		a.Take(&other)
	}); n != 0 {
		t.Errorf("%v allocations a flow", n)
	}
}

// TestTableFull: a flow the kernel's table has no room for is left to its
// meter, and counted.
func TestTableFull(t *testing.T) {
	p := mustLoad(t, "", Config{Aggregate: AggregateSocket, MaxFlows: 1})
	a, b := key(17, client, server, 1, 853), key(17, client, server, 2, 853)
	for range 2 {
		if !p.Aggregator().Watch(&a) {
			t.Fatal("a table of one: no room for the first flow, or for it again")
		}
	}
	if p.Aggregator().Watch(&b) {
		t.Error("a table of one took a second flow")
	}
	if c, err := p.Counts(); err != nil || c.Full != 1 {
		t.Errorf("counts %+v, %v; want one flow the table had no room for", c, err)
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
}

// TestLoadWithFewestCapabilities loads every program with only the
// capabilities the README names (root's others left out of the loading
// thread's effective set): CAP_BPF for the socket programs, pre-aggregation
// included, and CAP_NET_ADMIN as well to attach XDP. Without CAP_PERFMON
// the verifier refuses some pointer arithmetic (its Spectre v1
// mitigation), which the programs avoid.
func TestLoadWithFewestCapabilities(t *testing.T) {
	needRoot(t)
	pair := netnstest.NewPair(t, 0)
	for _, tc := range []struct {
		cfg  Config
		caps []uintptr
	}{
		{Config{Ports: []flowmeter.Port{{Proto: 6, Port: 443}}, Aggregate: AggregateSocket, Steer: true}, []uintptr{unix.CAP_BPF}},
		{Config{Ports: []flowmeter.Port{{Proto: 6, Port: 443}}, Aggregate: AggregateXDP, Interface: pair.IfB}, []uintptr{unix.CAP_BPF, unix.CAP_NET_ADMIN}},
	} {
		netnstest.In(t, pair.B, func() {
			err := withEffectiveCaps(tc.caps, func() error {
				p, err := Load(tc.cfg)
				if err != nil {
					return err
				}
				defer p.Close()
				if _, err := p.VLANHint(); tc.cfg.Aggregate == AggregateXDP && err != nil {
					return err
				}
				return nil
			})
			if err != nil {
				t.Errorf("aggregate %s with capabilities %v: %v", tc.cfg.Aggregate, tc.caps, err)
			}
		})
	}
}

// withEffectiveCaps runs f on the calling goroutine's thread, locked, with
// only caps effective, and then gives the thread its capabilities back
// (they stay permitted meanwhile).
func withEffectiveCaps(caps []uintptr, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var was [2]unix.CapUserData
	if err := unix.Capget(&hdr, &was[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	only := was
	only[0].Effective, only[1].Effective = 0, 0
	for _, c := range caps {
		only[c/32].Effective |= 1 << (c % 32)
	}
	if err := unix.Capset(&hdr, &only[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	err := f()
	if e := unix.Capset(&hdr, &was[0]); e != nil {
		runtime.LockOSThread() // the thread keeps too few: it must not serve others
		return errors.Join(err, fmt.Errorf("capset back: %w", e))
	}
	return err
}
