//go:build linux

package bpf

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/internal/loadgen"
	"github.com/alfd/alfd/internal/netnstest"
)

// rig is a capture with the programs loaded and UDP servers, for traffic
// from src (sent in namespace sendNS) to dst: across a veth pair, or on a
// namespace's loopback.
type rig struct {
	pair              *netnstest.Pair
	captureNS, sendNS string
	ifc               string
	src, dst          netip.Addr
	meter             flowmeter.Config // the meters', but for the aggregator
	capture           *flowmeter.Capture
	progs             *Programs
	cancel            context.CancelFunc
	ran               chan error
	conns             []net.PacketConn
}

// A place is where a rig captures.
type place int

const (
	veth     place = iota // B's end of a veth pair, for traffic from A
	veth6                 // the same over IPv6
	loopback              // A's loopback, for traffic from 127.0.0.1 to itself
)

func (p place) String() string { return [...]string{"veth", "veth IPv6", "loopback"}[p] }

// newRig loads programs by cfg and captures with fanout sockets where;
// the servers on ports echo or sink.
func newRig(t testing.TB, where place, subnet byte, cfg Config, fanout int, echo bool, ports ...int) *rig {
	t.Helper()
	r := rigAt(t, where, subnet)
	r.start(t, cfg, fanout, echo, ports)
	return r
}

// rigAt is a rig where, not started yet: its meters' configuration may
// be set before.
func rigAt(t testing.TB, where place, subnet byte) *rig {
	t.Helper()
	pair := netnstest.NewPair(t, subnet)
	r := &rig{pair: pair, captureNS: pair.B, sendNS: pair.A, ifc: pair.IfB, src: pair.AddrA, dst: pair.AddrB}
	switch where {
	case veth6:
		r.src, r.dst = pair.AddrA6, pair.AddrB6
	case loopback:
		lo := netip.MustParseAddr("127.0.0.1")
		r.captureNS, r.ifc, r.src, r.dst = pair.A, "lo", lo, lo
	}
	return r
}

// start loads the programs, opens the capture and the servers, and runs
// the capture.
func (r *rig) start(t testing.TB, cfg Config, fanout int, echo bool, ports []int) {
	t.Helper()
	cfg.Interface = r.ifc
	netnstest.In(t, r.captureNS, func() {
		var err error
		if r.progs, err = Load(cfg); err != nil {
			t.Error(err)
			return
		}
		capCfg := flowmeter.AFPacketConfig{Interface: r.ifc, Fanout: fanout,
			FilterProgram: r.progs.FilterFD(), SteeringProgram: r.progs.SteeringFD(), Meter: r.meter}
		capCfg.Meter.Aggregator = r.progs.Aggregator()
		if r.capture, err = flowmeter.OpenAFPacket(capCfg); err != nil {
			t.Error(err)
			return
		}
		for _, port := range ports {
			c, err := net.ListenPacket("udp", netip.AddrPortFrom(r.dst, uint16(port)).String())
			if err != nil {
				t.Error(err)
				return
			}
			r.conns = append(r.conns, c)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() {
		for _, c := range r.conns {
			c.Close()
		}
		r.progs.Close()
	})
	for _, c := range r.conns {
		go netnstest.Serve(c, echo)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.ran = cancel, make(chan error, 1)
	go func() { r.ran <- r.capture.Run(ctx) }()
}

// send sends packets datagrams of 100 bytes from src's port from to dst's
// port to, waiting for each echo when echo is set.
func (r *rig) send(t testing.TB, from, to, packets int, echo bool) {
	t.Helper()
	netnstest.In(t, r.sendNS, func() {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.src, uint16(from))),
			net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.dst, uint16(to))))
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 100)
		for range packets {
			if _, err := c.Write(buf); err != nil {
				t.Error(err)
				return
			}
			if echo {
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Read(buf); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
}

// stop ends the capture and returns the UDP flows from src, by source port,
// and the packets the meters read.
func (r *rig) stop(t testing.TB) (map[uint16][]flowmeter.Flow, []uint64) {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	r.cancel()
	if err := <-r.ran; err != nil {
		t.Fatal(err)
	}
	flows := map[uint16][]flowmeter.Flow{}
	var read []uint64
	for _, m := range r.capture.Meters() {
		read = append(read, m.Stats().Packets.Load())
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			if f.Src() == r.src && f.Key().Proto == 17 {
				flows[f.Key().SrcPort] = append(flows[f.Key().SrcPort], *f)
			}
		}
		m.Ring().Release()
	}
	return flows, read
}

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

// udpIPBytes is the IP bytes of one of send's datagrams.
func (r *rig) udpIPBytes() uint64 { return uint64(ipHeader(r.src) + 8 + 100) }

// TestFilter: the socket filter passes exactly the wanted packets.
func TestFilter(t *testing.T) {
	for i, where := range []place{veth, veth6, loopback} {
		t.Run(where.String(), func(t *testing.T) {
			r := newRig(t, where, byte(10+i), Config{Ports: []flowmeter.Port{{Proto: 17, Port: 5353}}}, 1, false, 5353, 6000)
			r.send(t, 41000, 5353, 25, false)
			r.send(t, 41001, 6000, 40, false)
			flows, read := r.stop(t)
			if len(flows) != 1 || len(flows[41000]) != 1 || flows[41000][0].Packets() != 25 {
				t.Errorf("flows %v", flows)
			}
			if sum(read) != 25 {
				t.Errorf("the meter read %d packets, the filter should pass exactly 25", sum(read))
			}
			c, err := r.progs.Counts()
			if err != nil {
				t.Fatal(err)
			}
			if c.Passed != 25 || c.Dropped < 40 {
				t.Errorf("counters %+v", c)
			}
		})
	}
}

// TestPreaggregation: long flows come out with exactly the packets and
// bytes sent, while user space read only those sent before the meter
// handed the flow to the kernel, once it had read 30; in the socket
// filter (both directions; also on a loopback) and at XDP (ingress; on a
// loopback, which has no XDP of its own, the program that is not bound to
// its interface, and the reason why not).
func TestPreaggregation(t *testing.T) {
	// Each flow's first packets first: the meter hands it to the kernel
	// once it has read 30 (with their echoes, when they are).
	const flows, packets, first = 4, 300, 40
	for i, tc := range []struct {
		mode  string
		echo  bool
		where place
	}{{AggregateSocket, true, veth}, {AggregateXDP, false, veth}, {AggregateSocket, true, veth6}, {AggregateXDP, false, veth6}, {AggregateSocket, true, loopback}, {AggregateXDP, false, loopback}} {
		t.Run(tc.mode+"/"+tc.where.String(), func(t *testing.T) {
			r := newRig(t, tc.where, byte(20+i), Config{Ports: []flowmeter.Port{{Proto: 17, Port: 5353}}, Aggregate: tc.mode}, 1, tc.echo, 5353)
			bound, err := r.progs.VLANHint()
			if want := tc.mode == AggregateXDP && tc.where != loopback; bound != want || !bound && tc.mode == AggregateXDP && err == nil {
				t.Errorf("XDP bound to %s: %v (%v); want %v", r.ifc, bound, err, want)
			} else if err != nil {
				t.Logf("XDP not bound to %s: %v", r.ifc, err)
			}
			for f := range flows {
				r.send(t, 42000+f, 5353, first, tc.echo)
			}
			r.waitCounting(t, flows)
			for f := range flows {
				r.send(t, 42000+f, 5353, packets-first, tc.echo)
			}
			got, read := r.stop(t)
			back := uint32(0)
			if tc.echo {
				back = packets
			}
			for f := range flows {
				fl := got[uint16(42000+f)]
				if len(fl) != 1 {
					t.Errorf("flow %d came out %d times", f, len(fl))
					continue
				}
				if p := &fl[0]; p.Packets() != packets || p.PacketsRev() != back ||
					p.Bytes() != packets*r.udpIPBytes() || p.BytesRev() != uint64(back)*r.udpIPBytes() || p.NPPI() != 30 {
					t.Errorf("flow %d: %d/%d packets, %d/%d bytes, %d packets' information; sent %d/%d", f,
						p.Packets(), p.PacketsRev(), p.Bytes(), p.BytesRev(), p.NPPI(), packets, back)
				}
			}
			up := first
			if tc.echo {
				up *= 2
			}
			if sum(read) > uint64(flows*up) {
				t.Errorf("user space read %d packets of %d flows: more than the %d each sent before the kernel counted", sum(read), flows, up)
			}
			c, _ := r.progs.Counts()
			t.Logf("%s on %s: user space read %d packets of %d sent; kernel counted %d", tc.mode, tc.where, sum(read), flows*(packets+int(back)), c.Counted)
		})
	}
}

// TestLargeFrames: frames of 4 KiB and more, which a packet socket sends
// across a veth pair with only their Ethernet header in the socket
// buffer's linear head, are read whole, with VLAN tags or without: their
// ports filtered, their flows steered to one meter both ways and counted
// in the kernel like any other's, in the socket filter or at XDP (whose
// program takes frames in fragments: an interface with it attached may
// have an MTU of 9000).
func TestLargeFrames(t *testing.T) {
	const flows, packets = 6, 100
	for i, tc := range []struct {
		mode  string
		where place
	}{{AggregateSocket, veth}, {AggregateSocket, veth6}, {AggregateXDP, veth}, {AggregateXDP, veth6}} {
		t.Run(tc.mode+"/"+tc.where.String(), func(t *testing.T) {
			r := newRig(t, tc.where, byte(40+i), Config{Ports: []flowmeter.Port{{Proto: 17, Port: 5353}}, Aggregate: tc.mode, Steer: true}, 2, false)
			for _, ifc := range [][2]string{{r.pair.A, r.pair.IfA}, {r.pair.B, r.pair.IfB}} {
				netnstest.IP(t, "-n", ifc[0], "link", "set", ifc[1], "mtu", "9000")
			}
			// Two frames of 6000 bytes of payload, then two of 100; a
			// third of the flows in VLAN 100, a third in VLAN 200 (a
			// service tag) around 300; port 9999's filtered out.
			payload := func(p int) int { return [...]int{6000, 6000, 100, 100}[p%4] }
			vlans := [][][2]uint16{nil, {{0x8100, 100}}, {{0x88a8, 200}, {0x8100, 300}}}
			// Each flow's first 40 frames first: the meter hands it to the
			// kernel once it has read 30.
			var firsts, rests [][]byte
			var ipBytes [2]uint64
			for f := range flows + 1 {
				port := uint16(5353)
				if f == flows {
					port = 9999
				}
				conv, b := r.conversation(uint16(44000+f), port, packets, payload)
				for i, fr := range conv {
					if fr = withVLANs(fr, vlans[f%3]...); i < 40 {
						firsts = append(firsts, fr)
					} else {
						rests = append(rests, fr)
					}
				}
				ipBytes = b
			}
			r.sendHandingOver(t, firsts, rests, flows)
			got, read := r.stop(t)
			for f := range flows {
				fl := got[uint16(44000+f)]
				if len(fl) != 1 {
					t.Errorf("flow %d came out %d times", f, len(fl))
					continue
				}
				vlan := uint16(0)
				if tags := vlans[f%3]; tags != nil {
					vlan = tags[0][1]
				}
				checkFlow(t, &fl[0], packets, ipBytes, vlan)
			}
			if fl := got[uint16(44000+flows)]; len(fl) != 0 {
				t.Errorf("the flow to port 9999 came out %d times", len(fl))
			}
			c, err := r.progs.Counts()
			if err != nil {
				t.Fatal(err)
			}
			if c.Unparsed != 0 || c.Dropped < packets || c.Counted < flows*(packets-40) {
				t.Errorf("the programs' counts: %+v; user space read %d packets", c, sum(read))
			}
		})
	}
}

// TestPreaggregationKeepsVLANsApart: a flow seen twice, in two VLANs (a
// mirror of a trunk to a router that routes it from one VLAN to the
// other), is two flows, each with all its packets, in the kernel's flow
// table as in the meter's cache; at XDP too where the tags come beside
// the frames (a NIC's VLAN offload), which the driver tells the program
// (veth does, as of Linux 6.8).
func TestPreaggregationKeepsVLANsApart(t *testing.T) {
	const packets = 100
	for i, tc := range []struct {
		mode    string
		offload bool
	}{{AggregateSocket, false}, {AggregateXDP, false}, {AggregateSocket, true}, {AggregateXDP, true}} {
		name := tc.mode
		if tc.offload {
			name += "/tags_beside_frames"
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t, veth, byte(50+i), Config{Ports: []flowmeter.Port{{Proto: 17, Port: 5353}}, Aggregate: tc.mode}, 1, false)
			if bound, err := r.progs.VLANHint(); tc.mode == AggregateXDP && !bound {
				t.Fatalf("XDP not bound to the interface: %v", err)
			}
			if tc.offload {
				tagOnTheWayOut(t, r.pair.A, r.pair.IfA, 0)
			}
			conv, ipBytes := r.conversation(45000, 5353, packets, func(int) int { return 200 })
			var frames [][]byte
			for _, fr := range conv {
				frames = append(frames, withVLANs(fr, [2]uint16{0x8100, 10}), withVLANs(fr, [2]uint16{0x8100, 20}))
			}
			r.sendHandingOver(t, frames[:80], frames[80:], 2)
			got, _ := r.stop(t)
			fl := got[45000]
			if len(fl) != 2 || fl[0].Key().VLAN == fl[1].Key().VLAN {
				t.Fatalf("the flow came out %d times; want once in each VLAN", len(fl))
			}
			for i := range fl {
				checkFlow(t, &fl[i], packets, ipBytes, fl[i].Key().VLAN)
			}
			c, err := r.progs.Counts()
			if err != nil {
				t.Fatal(err)
			}
			if c.Counted == 0 || c.NoVLANHint != 0 {
				t.Errorf("the kernel counted %d packets, and could not tell the VLAN of %d", c.Counted, c.NoVLANHint)
			}
		})
	}
}

// TestPreaggregationVLANOffTheFrame: a flow whose VLAN tag travels beside
// the frame, not in it, as a NIC with VLAN offload hands frames to the
// kernel, is counted in the kernel and its counts found: at XDP the
// driver tells the program the tag, and where the program is not bound
// to the interface (the driver cannot) the meter looks for the counts
// without the VLAN. (Frames tagged on the way out of one end of a veth
// pair by bpf_skb_vlan_push come to the other end so.)
func TestPreaggregationVLANOffTheFrame(t *testing.T) {
	const packets = 100
	for i, cfg := range aggregations() {
		t.Run(cfg.name(), func(t *testing.T) {
			cfg.Ports = []flowmeter.Port{{Proto: 17, Port: 5353}}
			r := newRig(t, veth, byte(60+i), cfg, 1, false)
			tagOnTheWayOut(t, r.pair.A, r.pair.IfA, 10)
			frames, ipBytes := r.conversation(46000, 5353, packets, func(int) int { return 200 })
			r.sendHandingOver(t, frames[:40], frames[40:], 1)
			got, read := r.stop(t)
			fl := got[46000]
			if len(fl) != 1 {
				t.Fatalf("the flow came out %d times", len(fl))
			}
			checkFlow(t, &fl[0], packets, ipBytes, 10)
			if sum(read) > 40 {
				t.Errorf("user space read %d packets: the kernel counted none", sum(read))
			}
		})
	}
}

// aggregations are the places pre-aggregation runs: the socket filter,
// XDP bound to its interface (told the VLAN tags the driver takes off),
// and XDP not bound, as where that cannot be.
func aggregations() []Config {
	return []Config{{Aggregate: AggregateSocket}, {Aggregate: AggregateXDP}, {Aggregate: AggregateXDP, unbound: true}}
}

// name names a test of c's pre-aggregation.
func (c Config) name() string {
	if c.unbound {
		return c.Aggregate + "/unbound"
	}
	return c.Aggregate
}

// TestPreaggregatedFlowLastsWhileTheKernelSeesIt: a flow whose packets,
// once its meter handed it over, are all counted in the kernel stays
// one flow for as long as they come, though its meter sees none of them
// for longer than the inactive timeout: the meter asks the kernel when it
// last saw the flow before it ends it. So too at XDP with the flow's VLAN
// beside its frames, told by the driver, or not (unbound: the kernel's
// key has none).
func TestPreaggregatedFlowLastsWhileTheKernelSeesIt(t *testing.T) {
	for i, cfg := range aggregations() {
		t.Run(cfg.name(), func(t *testing.T) {
			r := rigAt(t, veth, byte(70+i))
			// Timeouts count whole seconds, as ipfixprobe's: 2 s is
			// more than a second between the flow's packets.
			r.meter.Cache.Inactive = 2 * time.Second
			cfg.Ports = []flowmeter.Port{{Proto: 17, Port: 5353}}
			r.start(t, cfg, 1, false, nil)
			vlan := uint16(0)
			if cfg.Aggregate == AggregateXDP {
				tagOnTheWayOut(t, r.pair.A, r.pair.IfA, 10)
				vlan = 10
			}
			// 40 packets at once, then 10 every 250 ms for 3 s.
			frames, ipBytes := r.conversation(47000, 5353, 160, func(int) int { return 200 })
			r.sendFrames(t, frames[:40])
			r.waitCounting(t, 1)
			for k := 40; k < len(frames); k += 10 {
				time.Sleep(250 * time.Millisecond)
				r.sendFrames(t, frames[k:k+10])
			}
			got, read := r.stop(t)
			if fl := got[47000]; len(fl) != 1 {
				t.Errorf("the flow came out as %d flows", len(fl))
			} else {
				checkFlow(t, &fl[0], len(frames), ipBytes, vlan)
			}
			if sum(read) > 40 {
				t.Errorf("user space read %d packets: the kernel counted none", sum(read))
			}
		})
	}
}

// conversation returns the frames of a UDP flow between r.src's port
// sport and r.dst's port dport, packets of them alternating directions,
// packet p with payload(p) bytes of payload; and its IP bytes each way.
func (r *rig) conversation(sport, dport uint16, packets int, payload func(p int) int) (frames [][]byte, ipBytes [2]uint64) {
	for p := range packets {
		fr := frame(17, r.src, r.dst, sport, dport, 0, payload(p))
		if p%2 == 1 {
			fr = frame(17, r.dst, r.src, dport, sport, 0, payload(p))
		}
		ipBytes[p%2] += uint64(len(fr) - 14)
		frames = append(frames, fr)
	}
	return frames, ipBytes
}

// sendFrames sends frames out of A's end of the pair, fast but not so
// fast that B's end drops them.
func (r *rig) sendFrames(t *testing.T, frames [][]byte) {
	t.Helper()
	netnstest.In(t, r.sendNS, func() {
		if sent, err := loadgen.Send(context.Background(), r.pair.IfA, frames, len(frames), 50000); err != nil || sent != len(frames) {
			t.Errorf("sent %d of %d frames: %v", sent, len(frames), err)
		}
	})
}

// sendHandingOver sends first, waits until the kernel counts flows flows
// (the meters have handed them over), and sends rest.
func (r *rig) sendHandingOver(t *testing.T, first, rest [][]byte, flows int) {
	t.Helper()
	r.sendFrames(t, first)
	r.waitCounting(t, flows)
	r.sendFrames(t, rest)
}

// waitCounting waits until the kernel counts flows flows: the meters
// hand a flow over once they have its first 30 packets with payload, which
// they read from the ring up to 50 ms after they came (a block not filled
// is handed over then).
func (r *rig) waitCounting(t testing.TB, flows int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, it := 0, r.progs.flows.Iterate()
		var k alfdFlowKey
		var v alfdFlowCounts
		for it.Next(&k, &v) {
			n++
		}
		if n >= flows {
			return
		}
		if it.Err() != nil || time.Now().After(deadline) {
			t.Fatalf("the kernel counts %d flows, want %d (%v)", n, flows, it.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkFlow fails t unless f, a conversation of packets, has half of them
// and ipBytes each way, 30 packets' information and VLAN ID vlan.
func checkFlow(t *testing.T, f *flowmeter.Flow, packets int, ipBytes [2]uint64, vlan uint16) {
	t.Helper()
	if f.Packets() != uint32(packets/2) || f.PacketsRev() != uint32(packets/2) || f.Bytes() != ipBytes[0] || f.BytesRev() != ipBytes[1] || f.NPPI() != 30 || f.Key().VLAN != vlan {
		t.Errorf("flow from port %d: %d/%d packets, %d/%d bytes, %d packets' information, VLAN %d; sent %d/%d packets, %d/%d bytes in VLAN %d",
			f.Key().SrcPort, f.Packets(), f.PacketsRev(), f.Bytes(), f.BytesRev(), f.NPPI(), f.Key().VLAN, packets/2, packets/2, ipBytes[0], ipBytes[1], vlan)
	}
}

// tagOnTheWayOut puts VLAN tag vid on every packet leaving interface ifc
// of namespace ns, beside the frame (bpf_skb_vlan_push), where a veth
// pair carries it to the other end, as a NIC with VLAN offload hands its
// frames over. With vid 0 it moves each frame's own outer tag there.
func tagOnTheWayOut(t *testing.T, ns, ifc string, vid int32) {
	t.Helper()
	tpid := int32(binary.BigEndian.Uint16([]byte{0x00, 0x81})) // 802.1Q's TPID in network order
	// The context stays in R6 for the calls; R7 is the VLAN ID.
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R7, vid),
	}
	if vid == 0 {
		insns = append(insns,
			// The frame's tag: its TCI, at 14, in network order.
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, 14),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, 2),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, "pass"),
			asm.LoadMem(asm.R7, asm.RFP, -8, asm.Half),
			asm.HostTo(asm.BE, asm.R7, asm.Half),
			asm.And.Imm(asm.R7, 0x0fff),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.FnSkbVlanPop.Call(),
			asm.JNE.Imm(asm.R0, 0, "pass"),
		)
	}
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, tpid),
		asm.Mov.Reg(asm.R3, asm.R7),
		asm.FnSkbVlanPush.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("pass"), // TCX_PASS
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	netnstest.In(t, ns, func() {
		i, err := net.InterfaceByName(ifc)
		if err != nil {
			t.Error(err)
			return
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: i.Index, Program: prog, Attach: ebpf.AttachTCXEgress})
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { l.Close() })
	})
	if t.Failed() {
		t.FailNow()
	}
}

// TestSteering: the steering program puts both directions of every flow on
// one socket, over IPv4 and IPv6.
func TestSteering(t *testing.T) {
	for i, where := range []place{veth, veth6} {
		t.Run(where.String(), func(t *testing.T) {
			testSteering(t, newRig(t, where, byte(30+i), Config{Ports: []flowmeter.Port{{Proto: 17, Port: 5353}}, Steer: true}, 2, true, 5353))
		})
	}
}

func testSteering(t *testing.T, r *rig) {
	const flows = 24
	for f := range flows {
		r.send(t, 43000+f, 5353, 5, true)
	}
	got, read := r.stop(t)
	for f := range flows {
		fl := got[uint16(43000+f)]
		if len(fl) != 1 || fl[0].Packets() != 5 || fl[0].PacketsRev() != 5 {
			t.Errorf("flow %d: %d records; both directions must reach one meter", f, len(fl))
		}
	}
	if read[0] == 0 || read[1] == 0 {
		t.Errorf("the meters read %v packets: the steering used one socket", read)
	}
}
