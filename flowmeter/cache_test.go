package flowmeter

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cacheRig drives a cache with hand-made packets.
type cacheRig struct {
	t *testing.T
	m *Meter
}

func newRig(t *testing.T, cfg CacheConfig) *cacheRig {
	t.Helper()
	m, err := NewMeter(Config{Cache: cfg, RingSize: 64}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return &cacheRig{t: t, m: m}
}

// pkt makes a TCP packet from client port cport to 192.0.2.1:443 (or the
// other way with back), at second sec and microsecond us.
func pkt(cport uint16, back bool, sec, us int64, flags uint8, payload int) Packet {
	p := Packet{Key: Key{Src: [16]byte{10, 0, 0, 1}, Dst: [16]byte{192, 0, 2, 1}, SrcPort: cport, DstPort: 443, Proto: protoTCP, IPVersion: 4}}
	if back {
		p.Key = p.Key.reversed()
	}
	p.TimeMicros = sec*1e6 + us
	p.TCPFlags = flags
	p.PayloadLen = uint32(payload)
	p.IPLen = uint32(40 + payload)
	return p
}

func (r *cacheRig) add(ps ...Packet) {
	for i := range ps {
		r.m.cache.add(&ps[i])
	}
}

// packets adds n packets of the flow from port at second sec, a
// microsecond apart: each moves the timeout sweep on.
func (r *cacheRig) packets(port uint16, sec int64, n int) {
	for i := range n {
		r.add(pkt(port, false, sec, int64(i), pshAck, 10))
	}
}

// wantTimedOut fails unless the flows exported since the last look are
// the one from port alone, ended by the inactive timeout.
func (r *cacheRig) wantTimedOut(port uint16) {
	r.t.Helper()
	got := r.exported()
	if len(got) != 1 || got[0].key.SrcPort != port || got[0].End() != EndInactive {
		var ended []string
		for _, f := range got {
			ended = append(ended, fmt.Sprintf("flow %d (%v)", f.key.SrcPort, f.End()))
		}
		r.t.Fatalf("want flow %d timed out, alone; ended: %v", port, ended)
	}
}

// exported returns the flows exported so far.
func (r *cacheRig) exported() []Flow {
	r.m.Flush()
	var out []Flow
	for f := r.m.Ring().Next(); f != nil; f = r.m.Ring().Next() {
		out = append(out, *f)
	}
	r.m.Ring().Release()
	return out
}

func (r *cacheRig) finish() []Flow {
	r.m.Finish(context.Background())
	return r.exported()
}

const (
	ack    = 0x10
	pshAck = 0x18
	synAck = 0x12
	finAck = 0x11
	rstAck = 0x14
)

// TestBidirectionalFlowAndPPI: the first packet's sender is the source;
// packets back count as _REV; the per-packet information keeps payload
// lengths, +1/-1 directions, flags and times of the packets with payload,
// up to 30 (pstats' rules).
func TestBidirectionalFlowAndPPI(t *testing.T) {
	r := newRig(t, CacheConfig{})
	r.add(pkt(50000, false, 100, 0, tcpSYN, 0), pkt(50000, true, 100, 1000, synAck, 0), pkt(50000, false, 100, 2000, ack, 0))
	for i := range 40 {
		r.add(pkt(50000, i%3 == 0, 101, int64(i), pshAck, 100+i))
	}
	flows := r.finish()
	if len(flows) != 1 {
		t.Fatalf("%d flows", len(flows))
	}
	f := &flows[0]
	// 40 data packets, 14 of them back (i%3 == 0).
	if f.Src() != netip.MustParseAddr("10.0.0.1") || f.key.SrcPort != 50000 || f.Packets() != 2+26 || f.PacketsRev() != 1+14 {
		t.Errorf("flow %v:%d, %d packets, %d back", f.Src(), f.key.SrcPort, f.Packets(), f.PacketsRev())
	}
	if f.Bytes() != 28*40+sumPayload(40, func(i int) bool { return i%3 != 0 }) || f.TCPFlags() != tcpSYN|ack|pshAck || f.TCPFlagsRev() != synAck|pshAck {
		t.Errorf("bytes %d, flags %#x/%#x", f.Bytes(), f.TCPFlags(), f.TCPFlagsRev())
	}
	if f.FirstMicros() != 100e6 || f.LastMicros() != 101e6+39 || f.End() != EndForced {
		t.Errorf("times %d..%d, end %v", f.FirstMicros(), f.LastMicros(), f.End())
	}
	// The handshake has no payload: the 30 kept are the first 30 with.
	if f.NPPI() != 30 {
		t.Fatalf("%d packets' information", f.NPPI())
	}
	for i := range 30 {
		length, dir, flags, micros := f.PPI(i)
		wantDir := int8(1)
		if i%3 == 0 {
			wantDir = -1
		}
		if length != uint16(100+i) || dir != wantDir || flags != pshAck || micros != 101e6+int64(i) {
			t.Fatalf("packet %d: %d bytes, dir %d, flags %#x, at %d", i, length, dir, flags, micros)
		}
	}

	// include_zeroes keeps the handshake too.
	r = newRig(t, CacheConfig{IncludeZeroPayload: true})
	r.add(pkt(50000, false, 100, 0, tcpSYN, 0), pkt(50000, true, 100, 1000, synAck, 0), pkt(50000, false, 100, 2000, pshAck, 10))
	if f := r.finish()[0]; f.NPPI() != 3 {
		t.Errorf("with zero-payload packets: %d", f.NPPI())
	}
}

func sumPayload(n int, keep func(int) bool) uint64 {
	var s uint64
	for i := range n {
		if keep(i) {
			s += uint64(100 + i)
		}
	}
	return s
}

// TestFlowEndRules states ipfixprobe's rules of when a flow ends.
func TestFlowEndRules(t *testing.T) {
	t.Run("FIN does not end a flow; a SYN after it does", func(t *testing.T) {
		r := newRig(t, CacheConfig{})
		r.add(pkt(50000, false, 100, 0, tcpSYN, 0), pkt(50000, true, 100, 1, synAck, 0),
			pkt(50000, false, 100, 2, finAck, 0), pkt(50000, true, 100, 3, finAck, 0), pkt(50000, false, 100, 4, ack, 0))
		if got := r.exported(); len(got) != 0 {
			t.Fatalf("exported after FIN: %d flows", len(got))
		}
		// The same ports again: a new connection.
		r.add(pkt(50000, false, 105, 0, tcpSYN, 0))
		got := r.exported()
		if len(got) != 1 || got[0].End() != EndOfFlow || got[0].Packets() != 3 || got[0].PacketsRev() != 2 {
			t.Fatalf("after the new SYN: %+v", got)
		}
		if left := r.finish(); len(left) != 1 || left[0].Packets() != 1 || left[0].FirstMicros() != 105e6 {
			t.Fatalf("the new flow: %+v", left)
		}
	})
	t.Run("a SYN from the side that sent no FIN does not end it", func(t *testing.T) {
		r := newRig(t, CacheConfig{})
		r.add(pkt(50000, false, 100, 0, tcpSYN, 0), pkt(50000, true, 100, 1, rstAck, 0), pkt(50000, false, 100, 2, tcpSYN, 0))
		if got := r.exported(); len(got) != 0 {
			t.Fatalf("%d flows exported", len(got))
		}
		// The RST came back: a SYN from there ends it.
		r.add(pkt(50000, true, 100, 3, synAck, 0))
		if got := r.exported(); len(got) != 1 || got[0].End() != EndOfFlow {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("inactive timeout, in whole seconds", func(t *testing.T) {
		r := newRig(t, CacheConfig{})
		r.add(pkt(50000, false, 100, 999999, pshAck, 10))
		r.add(pkt(50000, false, 129, 0, pshAck, 10)) // 29 s by the second: the same flow
		r.add(pkt(50000, false, 159, 0, pshAck, 10)) // 30 s since the last: a new one
		got := r.exported()
		if len(got) != 1 || got[0].End() != EndInactive || got[0].Packets() != 2 {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("inactive after FIN is the end of the flow", func(t *testing.T) {
		r := newRig(t, CacheConfig{})
		r.add(pkt(50000, false, 100, 0, finAck, 0))
		r.add(pkt(50000, false, 140, 0, ack, 0))
		if got := r.exported(); len(got) != 1 || got[0].End() != EndOfFlow {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("active timeout", func(t *testing.T) {
		r := newRig(t, CacheConfig{Active: 60 * time.Second})
		for s := int64(0); s <= 130; s += 10 {
			r.add(pkt(50000, false, 1000+s, 0, pshAck, 10))
		}
		got := append(r.exported(), r.finish()...)
		if len(got) != 3 || got[0].End() != EndActive || got[0].Packets() != 6 || got[1].End() != EndActive || got[2].End() != EndForced {
			t.Fatalf("%d flows: %+v", len(got), got)
		}
	})
	t.Run("quiet flows are swept out by other packets", func(t *testing.T) {
		r := newRig(t, CacheConfig{Size: 64, LineSize: 2})
		r.add(pkt(1, false, 100, 0, pshAck, 10))
		// 64 slots, 1 swept per packet: 64 packets of another flow, later.
		r.packets(2, 200, 64)
		r.wantTimedOut(1)
	})
	t.Run("a round of the sweep within a second waits for the next", func(t *testing.T) {
		r := newRig(t, CacheConfig{Size: 64, LineSize: 2})
		r.add(pkt(1, false, 100, 0, pshAck, 10))
		// Rounds of the sweep within second 101, then within 129: flow 1
		// is 29 s quiet, not yet timed out.
		r.packets(2, 101, 200)
		r.packets(2, 129, 200)
		if got := r.exported(); len(got) != 0 {
			t.Fatalf("exported early: %+v", got)
		}
		// In second 130 it has: the next round, one slot a packet, finds it.
		r.packets(2, 130, 64)
		r.wantTimedOut(1)
	})
	t.Run("a slot's 16-bit second wraps, its flow still times out", func(t *testing.T) {
		// Flow 1's last second is 65530, 2^16 - 6; 35 s later the sweep
		// finds it 35 s quiet, not 35 - 2^16; flow 2's 29 s stay. (The
		// first round, which reads the flows' own times, is over by
		// then.)
		r := newRig(t, CacheConfig{Size: 64, LineSize: 2})
		r.packets(3, 65510, 64)
		r.add(pkt(1, false, 65530, 0, pshAck, 10), pkt(2, false, 65536, 0, pshAck, 10))
		r.packets(3, 65536, 1)
		r.packets(3, 65565, 64)
		r.wantTimedOut(1)
	})
	t.Run("a leap of the capture's time sweeps out every flow", func(t *testing.T) {
		// 50,000 s later (more than a slot's 16-bit second tells: it
		// looks like -15,536 s) another flow's packets sweep flow 1 out,
		// and packets back in time (by an hour) do not end flow 2.
		r := newRig(t, CacheConfig{Size: 64, LineSize: 2})
		r.add(pkt(1, false, 100, 0, pshAck, 10))
		r.packets(2, 50100, 64)
		r.packets(3, 46500, 64)
		r.packets(3, 46501, 64) // a round by the slots' own times
		r.wantTimedOut(1)
	})
	t.Run("a round that lasts hours judges flows by their own times", func(t *testing.T) {
		// A trickle of packets 27 s apart: a round of the sweep (16,384
		// packets) lasts 123 h. Flow 1 starts just after the first round
		// passed its line; when the second comes by, 442,125 s later, its
		// slot's 16-bit second says -17,411 s. That round has lasted over
		// 4 h by then, so it reads the flow's time.
		r := newRig(t, CacheConfig{})
		const line = 11040 // the first round passes it at packet 1381, the second at 17765
		var ends []EndReason
		for i := range int64(17800) {
			r.add(pkt(2, false, 100+27*i, 0, pshAck, 10))
			if i == 1390 {
				p := pkt(1, false, 100+27*i, 0, pshAck, 10)
				r.m.cache.addHashed(&p, line)
			}
			for _, f := range r.exported() {
				if f.key.SrcPort == 1 { // flow 2 leaves by the active timeout, again and again
					ends = append(ends, f.End())
				}
			}
		}
		if len(ends) != 1 || ends[0] != EndInactive {
			t.Fatalf("flow 1 left %d times, for %v; want once, inactive", len(ends), ends)
		}
	})
	t.Run("Expire and Finish", func(t *testing.T) {
		r := newRig(t, CacheConfig{})
		r.add(pkt(1, false, 100, 0, pshAck, 10), pkt(2, false, 125, 0, pshAck, 10))
		r.m.Expire(130e6)
		got := r.exported()
		if len(got) != 1 || got[0].key.SrcPort != 1 {
			t.Fatalf("Expire: %+v", got)
		}
		if got := r.finish(); len(got) != 1 || got[0].key.SrcPort != 2 || got[0].End() != EndForced {
			t.Fatalf("Finish: %+v", got)
		}
	})
}

// TestRecordsReused: a new flow takes the record of a flow the consumer is
// done with, so that flows that come and go use a few records; no flow's
// counts leak into another's; fetching ahead in a full cache takes no
// record too many; and a flow's record, in the ring, is not taken before
// the consumer releases it.
func TestRecordsReused(t *testing.T) {
	r := newRig(t, CacheConfig{Size: 64, LineSize: 4})
	var got []Flow
	for port := range uint16(1000) {
		sec := 100 + 40*int64(port)
		r.add(pkt(port+1, false, sec, 0, pshAck, 10), pkt(port+1, true, sec, 1, ack, 0))
		r.m.Expire((sec + 35) * 1e6)
		got = append(got, r.exported()...)
	}
	if len(got) != 1000 || r.m.cache.unused > 2 {
		t.Fatalf("%d flows ended, %d records used", len(got), r.m.cache.unused)
	}
	for i, f := range got {
		if f.key.SrcPort != uint16(i+1) || f.packets != [2]uint32{1, 1} || f.bytes != [2]uint64{50, 40} || f.nPPI != 1 {
			t.Fatalf("flow %d: %+v", i, f)
		}
	}

	full, err := NewMeter(Config{Cache: CacheConfig{Size: 16, LineSize: 16}, RingSize: 64}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	full.crowdedFlows = 0 // fetch ahead
	for round := range 2 {
		frames := make([]Frame, 40)
		for i := range frames {
			frames[i] = Frame{Data: tcpFrame(uint16(100*round+i+1), 10), Micros: 100e6 + int64(i), WireLen: 64}
		}
		// The ring keeps the records of the flows the full line pushes
		// out, and after Finish those of the rest, until they are read.
		full.Frames(frames)
		full.Finish(context.Background())
		full.Flush()
		seen := map[uint16]bool{}
		for f := full.Ring().Next(); f != nil; f = full.Ring().Next() {
			if f.packets != [2]uint32{1, 0} || seen[f.key.SrcPort] || f.key.SrcPort/100 != uint16(round) {
				t.Fatalf("full cache, round %d: flow %+v (seen %v)", round, f, seen[f.key.SrcPort])
			}
			seen[f.key.SrcPort] = true
		}
		full.Ring().Release()
		if len(seen) != 40 || full.cache.unused != 40 {
			t.Errorf("full cache, round %d: %d flows, %d records used", round, len(seen), full.cache.unused)
		}
	}
}

// TestFullLine: in a full line the last flow goes (no resources) and the
// new one takes the middle place; a flow seen moves to the front.
func TestFullLine(t *testing.T) {
	r := newRig(t, CacheConfig{Size: 4, LineSize: 4})
	for port := uint16(1); port <= 4; port++ {
		r.add(pkt(port, false, 100, int64(port), pshAck, 10))
	}
	// The line is 1 2 3 4; seeing 2 makes it 2 1 3 4.
	r.add(pkt(2, true, 100, 10, pshAck, 10))
	r.add(pkt(5, false, 100, 11, pshAck, 10)) // 4 goes: 2 1 5 3
	r.add(pkt(6, false, 100, 12, pshAck, 10)) // 3 goes: 2 1 6 5
	got := r.exported()
	if len(got) != 2 || got[0].key.SrcPort != 4 || got[1].key.SrcPort != 3 || got[0].End() != EndNoResources {
		t.Fatalf("%+v", got)
	}
	var order []uint16
	for _, rec := range r.m.cache.slots {
		order = append(order, r.m.cache.flows[rec.flow].key.SrcPort)
	}
	if order[0] != 2 || order[1] != 1 || order[2] != 6 || order[3] != 5 {
		t.Errorf("line %v, want [2 1 6 5]", order)
	}
	if st := r.m.Stats(); st.Exported[EndNoResources].Load() != 2 || st.Flows.Load() != 4 || st.Created.Load() != 6 {
		t.Errorf("stats: %d no-resource exports, %d flows, %d created", st.Exported[EndNoResources].Load(), st.Flows.Load(), st.Created.Load())
	}
}

// TestKeyParts: the VLAN, the protocol and the IP version tell flows apart.
func TestKeyParts(t *testing.T) {
	r := newRig(t, CacheConfig{})
	a := pkt(1, false, 100, 0, pshAck, 10)
	b := a
	b.VLAN = 7
	c := a
	c.Proto = protoUDP
	r.add(a, b, c, a)
	if got := r.finish(); len(got) != 3 {
		t.Fatalf("%d flows, want 3", len(got))
	}
}

// TestSNIAndLoneSYN: the server name of a ClientHello is kept (cut at the
// flow's limit, counted); a lone SYN exports no packet information.
func TestSNIAndLoneSYN(t *testing.T) {
	r := newRig(t, CacheConfig{IncludeZeroPayload: true})
	hello := clientHello("dns.example.net")
	p := pkt(1, false, 100, 0, pshAck, len(hello))
	p.Payload = hello
	long := strings.Repeat("a", 200) + ".example"
	q := pkt(2, false, 100, 0, pshAck, 0)
	q.Payload = clientHello(long)
	q.PayloadLen = uint32(len(q.Payload))
	syn := pkt(3, false, 100, 0, tcpSYN, 0)
	r.add(p, q, syn)
	got := r.finish()
	byPort := map[uint16]*Flow{}
	for _, f := range got {
		byPort[f.key.SrcPort] = &f
	}
	if s := byPort[1].SNI(); string(s) != "dns.example.net" {
		t.Errorf("SNI %q", s)
	}
	if s := byPort[2].SNI(); !bytes.Equal(s, []byte(long[:maxSNI])) || r.m.Stats().SNITruncated.Load() != 1 {
		t.Errorf("long SNI %q, truncated %d", s, r.m.Stats().SNITruncated.Load())
	}
	if f := byPort[3]; f.NPPI() != 0 || f.Packets() != 1 {
		t.Errorf("lone SYN: %d packets' information", f.NPPI())
	}
}

// clientHello makes a TLS 1.2 ClientHello record naming server.
func clientHello(server string) []byte {
	return helloRecord(0x0303, []uint16{0x1301}, []tlsExt{sniExt(server)})
}

// TestRingDropsWhenFull: a consumer that does not keep up loses flows,
// counted; the meter never waits.
func TestRingDropsWhenFull(t *testing.T) {
	m, err := NewMeter(Config{RingSize: 4}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for port := uint16(1); port <= 10; port++ {
		p := pkt(port, false, 100, 0, pshAck, 10)
		m.cache.add(&p)
	}
	full, cancel := context.WithCancel(context.Background())
	cancel() // nobody reads: do not wait
	m.Finish(full)
	m.Flush()
	n := 0
	for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
		n++
	}
	if n != 4 || m.Stats().RingDrops.Load() != 6 || m.Stats().Exported[EndForced].Load() != 10 {
		t.Errorf("%d flows through, %d dropped", n, m.Stats().RingDrops.Load())
	}
}

// TestCacheAndRingFull: with the cache full and the ring full of flows the
// consumer has not released (it fell behind), every record is in use;
// new flows still push old ones out, which are dropped and counted, one
// frame at a time or fetched ahead.
func TestCacheAndRingFull(t *testing.T) {
	for _, ahead := range []bool{false, true} {
		m, err := NewMeter(Config{Cache: CacheConfig{Size: 16, LineSize: 16}, RingSize: 4}, LinkEthernet)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if ahead {
			m.crowdedFlows = 0
		}
		frames := make([]Frame, 100)
		for i := range frames {
			frames[i] = Frame{Data: tcpFrame(uint16(i+1), 10), Micros: 100e6 + int64(i), WireLen: 64}
		}
		m.Frames(frames)
		m.Flush()
		st := m.Stats()
		if st.Created.Load() != 100 || st.Exported[EndNoResources].Load() != 84 || st.RingDrops.Load() != 80 || st.Flows.Load() != 16 {
			t.Errorf("ahead %v: %d created, %d pushed out, %d dropped, %d in the cache; want 100, 84, 80, 16",
				ahead, st.Created.Load(), st.Exported[EndNoResources].Load(), st.RingDrops.Load(), st.Flows.Load())
		}
		n := 0
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			if f.packets != [2]uint32{1, 0} {
				t.Errorf("ahead %v: flow %+v", ahead, f)
			}
			n++
		}
		if n != 4 {
			t.Errorf("ahead %v: %d flows in the ring, want 4", ahead, n)
		}
	}
}

// TestPcapWaitsForConsumer: a file can wait, so a meter reading one waits
// for a consumer that falls behind instead of dropping flows: every flow of
// a capture that overflows the cache and the ring arrives, in batches
// fetched ahead or one frame at a time.
func TestPcapWaitsForConsumer(t *testing.T) {
	const flows = 500
	var p preloaded
	for i := range flows {
		fr := tcpFrame(uint16(i+1), 10)
		p.frames, p.micros, p.wire = append(p.frames, fr), append(p.micros, 100e6+int64(i)), append(p.wire, len(fr))
	}
	var file bytes.Buffer
	writePcap(t, &file, p)
	for _, crowded := range []int64{0, math.MaxInt64} {
		m, err := NewMeter(Config{Cache: CacheConfig{Size: 16, LineSize: 16}, RingSize: 4}, LinkEthernet)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		m.crowdedFlows = crowded
		r, err := newPcapReader("flows.pcap", bytes.NewReader(file.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		// A consumer slower than the meter, on a goroutine of its own.
		got := make(chan int)
		done := make(chan struct{})
		go func() {
			n := 0
			for {
				for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
					n++
					time.Sleep(20 * time.Microsecond)
				}
				m.Ring().Release()
				select {
				case <-done:
					for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
						n++
					}
					got <- n
					return
				default:
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
		if err := m.ReadPcap(context.Background(), r, false); err != nil {
			t.Fatal(err)
		}
		m.Finish(context.Background())
		m.Flush()
		close(done)
		if n := <-got; n != flows || m.Stats().RingDrops.Load() != 0 {
			t.Errorf("crowded at %d flows: %d of %d flows arrived, %d dropped", crowded, n, flows, m.Stats().RingDrops.Load())
		}
	}
}

// fakeAggregator stands for the kernel's flow table.
type fakeAggregator struct {
	full                  bool // Watch refuses
	last                  int64
	agg                   Aggregate
	watched, taken, asked map[uint16]int // by source port
}

func newFakeAggregator() *fakeAggregator {
	return &fakeAggregator{watched: map[uint16]int{}, taken: map[uint16]int{}, asked: map[uint16]int{}}
}

func (a *fakeAggregator) Watch(k *Key) bool     { a.watched[k.SrcPort]++; return !a.full }
func (a *fakeAggregator) Take(k *Key) Aggregate { a.taken[k.SrcPort]++; return a.agg }
func (a *fakeAggregator) LastSeen(k *Key) int64 { a.asked[k.SrcPort]++; return a.last }

// TestAggregatorMerges: a flow is handed to the kernel once its 30th
// packet with payload came; with the kernel counting its packets, the
// flow does not time out while the kernel still sees it, and leaves with
// the kernel's counts added.
func TestAggregatorMerges(t *testing.T) {
	agg := newFakeAggregator()
	m, err := NewMeter(Config{RingSize: 64, Aggregator: agg}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := range 40 {
		p := pkt(1, i%2 == 1, 100, int64(i), pshAck, 100)
		m.cache.add(&p)
		if want := min(1, max(0, i-28)); agg.watched[1] != want {
			t.Fatalf("after packet %d with payload the kernel was asked to count the flow %d times, want %d", i+1, agg.watched[1], want)
		}
	}
	// User space saw nothing for 60 s, the kernel a packet 10 s ago.
	agg.last = 150e6
	m.Expire(160e6)
	m.Flush()
	if f := m.Ring().Next(); f != nil {
		t.Fatalf("the flow timed out although the kernel saw it 10 s ago")
	}
	// The kernel's sighting counts as the flow's last packet: the kernel
	// is not asked again before 30 s after it.
	m.Expire(165e6)
	m.Expire(179e6)
	if agg.asked[1] != 1 {
		t.Errorf("the kernel was asked %d times, want 1", agg.asked[1])
	}
	agg.agg = Aggregate{Packets: [2]uint32{500, 400}, Bytes: [2]uint64{5000, 4000}, TCPFlags: [2]uint8{tcpFIN, 0}, LastMicros: 181e6}
	m.Expire(181e6) // 31 s after the kernel's last sighting
	m.Flush()
	f := m.Ring().Next()
	if f == nil {
		t.Fatal("the flow did not time out")
	}
	if f.Packets() != 520 || f.PacketsRev() != 420 || f.Bytes() != 20*140+5000 || f.TCPFlags() != pshAck|tcpFIN || f.LastMicros() != 181e6 || agg.taken[1] != 1 || f.End() != EndOfFlow {
		t.Errorf("flow %d/%d packets, %d bytes, flags %#x, last %d; taken %d times", f.Packets(), f.PacketsRev(), f.Bytes(), f.TCPFlags(), f.LastMicros(), agg.taken[1])
	}
}

// TestAggregatorLeavesShortFlows: the kernel is never asked about a flow
// it does not count: one with fewer than 30 packets with payload (most
// flows: they cost no system call), or one its table had no room for;
// with zero-payload packets kept, 30 packets of any kind make a flow long.
func TestAggregatorLeavesShortFlows(t *testing.T) {
	for _, tc := range []struct {
		name        string
		zeroes      bool
		full        bool
		payload     int
		wantWatched int
		wantCounted int // the flow's counts taken, and its last packet asked for
	}{
		{"29 with payload", false, false, 100, 0, 0},
		{"40 without payload", false, false, 0, 0, 0},
		{"40 without payload, kept", true, false, 0, 1, 1},
		{"40 with payload, table full", false, true, 100, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agg := newFakeAggregator()
			agg.full = tc.full
			m, err := NewMeter(Config{RingSize: 64, Aggregator: agg, Cache: CacheConfig{IncludeZeroPayload: tc.zeroes}}, LinkEthernet)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			n := 40
			if tc.payload > 0 && !tc.full {
				n = 29
			}
			for i := range n {
				p := pkt(1, i%2 == 1, 100, int64(i), pshAck, tc.payload)
				m.cache.add(&p)
			}
			m.Expire(200e6)
			m.Flush()
			f := m.Ring().Next()
			if f == nil || f.Packets()+f.PacketsRev() != uint32(n) {
				t.Fatalf("flow %v: want it timed out with its %d packets", f, n)
			}
			if agg.watched[1] != tc.wantWatched || agg.taken[1] != tc.wantCounted || agg.asked[1] != tc.wantCounted {
				t.Errorf("the kernel was asked to count the flow %d times (want %d), its counts taken %d times, its last packet asked %d times (want %d)",
					agg.watched[1], tc.wantWatched, agg.taken[1], agg.asked[1], tc.wantCounted)
			}
		})
	}
}

// TestCacheTypesHoldNoPointers: the cache's arrays may live outside the Go
// heap, where the collector would not see a pointer.
func TestCacheTypesHoldNoPointers(t *testing.T) {
	var walk func(reflect.Type) bool
	walk = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Pointer, reflect.UnsafePointer, reflect.Slice, reflect.Map, reflect.Chan,
			reflect.Func, reflect.Interface, reflect.String:
			return false
		case reflect.Array:
			return walk(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if !walk(ty.Field(i).Type) {
					t.Errorf("%s.%s holds a pointer", ty, ty.Field(i).Name)
					return false
				}
			}
		}
		return true
	}
	for _, ty := range []reflect.Type{reflect.TypeFor[Flow](), reflect.TypeFor[slot](), reflect.TypeFor[uint64]()} {
		if !walk(ty) {
			t.Errorf("%s holds a pointer", ty)
		}
	}
}

// tcpFrame is the headers of a TCP packet with payload bytes of payload
// from 10.0.0.1:cport to 192.0.2.1:443, cut after the headers as a short
// snapshot length cuts it.
func tcpFrame(cport uint16, payload int) []byte {
	fr := make([]byte, 14+20+20)
	binary.BigEndian.PutUint16(fr[12:], 0x0800)
	ip := fr[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, protoTCP
	binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
	copy(ip[12:], []byte{10, 0, 0, 1, 192, 0, 2, 1})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp, cport)
	binary.BigEndian.PutUint16(tcp[2:], 443)
	tcp[12], tcp[13] = 0x50, pshAck
	return fr
}

// TestTagsShared: a slot keeps only 16 bits of its flow's hash, so flows of
// one line may share a tag; their keys tell them apart. Flows that differ
// from one another in one part of the key each (either address, in either
// word of an IPv6 one, either port, the protocol, the VLAN, the ports
// alone swapped) are put in one line under one tag, and each packet,
// forward or back, still goes to its own flow in its own direction,
// whichever flows the line holds before it.
func TestTagsShared(t *testing.T) {
	r := newRig(t, CacheConfig{Size: 16, LineSize: 16})
	k := r.m.cache
	base := pkt(1000, false, 1, 0, pshAck, 100).Key
	variants := []func(*Key){
		func(*Key) {},
		func(k *Key) { k.SrcPort = 2000 },
		func(k *Key) { k.DstPort = 444 },
		func(k *Key) { k.Src[3] = 2 },
		func(k *Key) { k.Dst[3] = 2 },
		func(k *Key) { k.Proto = protoUDP },
		func(k *Key) { k.VLAN = 7 },
		func(k *Key) { k.SrcPort, k.DstPort = k.DstPort, k.SrcPort },
		func(k *Key) { k.IPVersion, k.Src[15] = 6, 1 },
		func(k *Key) { k.IPVersion, k.Src[15], k.Dst[9] = 6, 1, 9 },
	}
	const h = 0xfeedface_00000000 // one line (the cache has one) and one tag
	want := map[Key][2]uint32{}
	for round := range 3 {
		// Each round in another order, so that each flow meets others
		// before it in the line.
		for v := range variants {
			v = (v + 3*round) % len(variants)
			key := base
			variants[v](&key)
			// Forward and back, a different number each by flow and
			// round, so that a packet counted to another flow or
			// direction shows.
			nf, nb := 1+v%3, round+v%2
			for i := range nf + nb {
				p := Packet{Key: key, TimeMicros: 1e6 + int64(round*100+i), TCPFlags: pshAck, PayloadLen: 10, IPLen: 50}
				if i >= nf {
					p.Key = key.reversed()
				}
				k.addHashed(&p, h)
			}
			c := want[key]
			want[key] = [2]uint32{c[0] + uint32(nf), c[1] + uint32(nb)}
		}
	}
	got := map[Key][2]uint32{}
	for _, f := range r.finish() {
		got[f.key] = f.packets
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packets by flow:\n got %v\nwant %v", got, want)
	}
}

// TestRingKeepsRecordsUntilReleased: with a consumer that reads a little
// at a time and a ring that fills, every flow read is whole and read once
// (no record of a flow in the ring was taken for a new one), and every
// flow is read or counted dropped.
func TestRingKeepsRecordsUntilReleased(t *testing.T) {
	m, err := NewMeter(Config{Cache: CacheConfig{Size: 16, LineSize: 4}, RingSize: 4}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	port, seen := uint16(0), map[uint16]bool{}
	for round := range int64(200) {
		for range 1 + round%5 {
			port++
			p := pkt(port, false, 100+40*round, 0, pshAck, int(port))
			m.cache.add(&p)
		}
		m.Expire((135 + 40*round) * 1e6)
		m.Flush()
		for range round % 4 {
			f := m.Ring().Next()
			if f == nil {
				break
			}
			if seen[f.key.SrcPort] || f.packets != [2]uint32{1, 0} || f.bytes[0] != 40+uint64(f.key.SrcPort) || f.ppi[0].length != f.key.SrcPort {
				t.Fatalf("round %d: flow %d (seen %v): %d packets, %d bytes, length %d", round, f.key.SrcPort, seen[f.key.SrcPort], f.packets, f.bytes[0], f.ppi[0].length)
			}
			seen[f.key.SrcPort] = true
		}
		m.Ring().Release()
	}
	if drops := m.Stats().RingDrops.Load(); uint64(len(seen))+drops+uint64(m.ring.next-m.ring.read) != uint64(port) || drops == 0 || m.cache.unused > 16+4 {
		t.Errorf("%d flows: %d read, %d dropped, %d in the ring; %d records used", port, len(seen), drops, m.ring.next-m.ring.read, m.cache.unused)
	}
}

// TestRingOutlivesClose: a meter closed with flows in its ring leaves its
// records mapped for the consumer (which reads after the meter's owner
// is done with it), and gives them back once they are released.
func TestRingOutlivesClose(t *testing.T) {
	m, err := NewMeter(Config{}, LinkEthernet) // a cache large enough to be mapped apart from the heap
	if err != nil {
		t.Fatal(err)
	}
	if m.cache.unmap == nil {
		t.Skip("the cache is on the Go heap here")
	}
	for port := range uint16(100) {
		p := pkt(port+1, false, 100, 0, pshAck, 10)
		m.cache.add(&p)
	}
	m.Finish(context.Background())
	m.Flush()
	m.Close()
	ring := m.Ring()
	n := 0
	for f := ring.Next(); f != nil; f = ring.Next() {
		if f.packets != [2]uint32{1, 0} || f.End() != EndForced {
			t.Fatalf("flow %d after Close: %+v", n, f)
		}
		n++
	}
	ring.Release()
	if n != 100 || m.cache.unmap == nil {
		t.Fatalf("%d flows read after Close; cache unmapped early: %v", n, m.cache.unmap == nil)
	}

	// Released: Close gives the memory back at once.
	m, err = NewMeter(Config{}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	p := pkt(1, false, 100, 0, pshAck, 10)
	m.cache.add(&p)
	m.Finish(context.Background())
	m.Flush()
	m.Ring().Next()
	m.Ring().Release()
	m.Close()
	if m.cache.unmap != nil {
		t.Error("a drained meter's cache was not unmapped by Close")
	}
}

// TestCacheConfigRefused: sizes and timeouts the cache cannot keep are
// refused with an error that names them.
func TestCacheConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		cfg  CacheConfig
		want string
	}{
		{CacheConfig{Size: 3}, "flow cache size 3"},
		{CacheConfig{Size: 64, LineSize: 1}, "line size 1"},
		{CacheConfig{Size: 64, LineSize: 12}, "line size 12"},
		{CacheConfig{Size: 64, LineSize: 128}, "line size 128"},
		{CacheConfig{Active: 31 * time.Minute}, "active timeout 31m0s"},
		{CacheConfig{Inactive: 500 * time.Millisecond}, "inactive timeout 500ms"},
		{CacheConfig{Inactive: 9 * time.Hour}, "inactive timeout 9h0m0s"},
	} {
		_, err := NewMeter(Config{Cache: tc.cfg}, LinkEthernet)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.cfg, err, tc.want)
		}
	}
	for _, cfg := range []CacheConfig{{Size: 64, LineSize: 64}, {Size: 1 << 10, LineSize: 1 << 10}, {Size: 1 << 10, LineSize: 2}, {Inactive: 8 * time.Hour, Active: 30 * time.Minute}} {
		m, err := NewMeter(Config{Cache: cfg}, LinkEthernet)
		if err != nil {
			t.Errorf("%+v: %v", cfg, err)
			continue
		}
		m.Close()
	}
}
