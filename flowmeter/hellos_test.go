package flowmeter

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

// segments cuts a packet carrying payload into TCP segments at the given
// offsets, their sequence numbers from seq on.
func segments(p Packet, seq uint32, payload []byte, cuts ...int) []Packet {
	var out []Packet
	from := 0
	for _, to := range append(cuts, len(payload)) {
		s := p
		s.Payload = payload[from:to]
		s.PayloadLen = uint32(to - from)
		s.IPLen = uint32(40 + to - from)
		s.TCPSeq = seq + uint32(from)
		out = append(out, s)
		from = to
	}
	return out
}

// helloFlow is what a flow's hello told: its server name and fingerprints.
type helloFlow struct{ sni, ja3, ja4 string }

func helloOf(f *Flow) helloFlow {
	return helloFlow{string(f.SNI()), hex.EncodeToString(f.JA3()), string(f.AppendJA4(nil))}
}

// assembles meters packets and checks that their one flow's hello told
// want, and how many hellos were put back together and not.
func assembles(t *testing.T, packets []Packet, want helloFlow, assembled, unassembled uint64) {
	t.Helper()
	r := newRig(t, CacheConfig{TLSFingerprints: true})
	r.add(packets...)
	got := r.finish()
	if len(got) != 1 || helloOf(&got[0]) != want {
		t.Fatalf("%d flows, the first %+v; want %+v", len(got), helloOf(&got[0]), want)
	}
	if st := r.m.Stats(); st.HellosAssembled.Load() != assembled || st.HellosUnassembled.Load() != unassembled {
		t.Errorf("assembled %d, not %d; want %d, %d", st.HellosAssembled.Load(), st.HellosUnassembled.Load(), assembled, unassembled)
	}
}

// TestHelloOverSegments: a ClientHello over several segments, as browsers
// that offer post-quantum key shares send theirs, tells what it tells in
// one: cut anywhere after its record's header, in order or retransmitted
// or overlapping, with the server's packets between.
func TestHelloOverSegments(t *testing.T) {
	hello := specHello(true)
	want := helloFlow{"dns.example.net", "", "t13d1516h2_8daaf6152771_e5627efa2ab1"}
	{
		ja3, _, _ := fingerprints(t, hello)
		want.ja3 = ja3
	}
	client := pkt(1, false, 100, 0, pshAck, 0)
	server := pkt(1, true, 100, 5, pshAck, 0)
	seq := uint32(0xfffffff0) // the numbers wrap within the hello
	// The server's packet has the number the client's next segment has:
	// only its direction tells it apart.
	server.Payload, server.PayloadLen, server.TCPSeq = []byte("from the server"), 15, seq+60
	for _, tc := range []struct {
		name string
		segs func() []Packet
	}{
		{"two segments", func() []Packet { return segments(client, seq, hello, 100) }},
		{"the record's header alone first", func() []Packet { return segments(client, seq, hello, 5, 50) }},
		{"the header's first 2 bytes alone first, as DPI evaders send them", func() []Packet { return segments(client, seq, hello, 2, 50) }},
		{"seven-byte segments", func() []Packet {
			var cuts []int
			for c := 7; c < len(hello); c += 7 {
				cuts = append(cuts, c)
			}
			return segments(client, seq, hello, cuts...)
		}},
		{"the server's between", func() []Packet {
			s := segments(client, seq, hello, 60)
			return []Packet{s[0], server, s[1]}
		}},
		{"a segment twice, and one overlapping the last", func() []Packet {
			s := segments(client, seq, hello, 60, 120)
			over := segments(client, seq, hello, 90)[1]
			return []Packet{s[0], s[1], s[1], s[0], over}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { assembles(t, tc.segs(), want, 1, 0) })
	}
}

// TestHelloNotAssembled: a hello that cannot be put back together leaves
// its flow what the part there is tells (here the server name, which comes
// first), no fingerprints, and is counted.
func TestHelloNotAssembled(t *testing.T) {
	hello := helloRecord(0x0303, []uint16{0x1301}, []tlsExt{sniExt("dns.example.net"), {0x0015, make([]byte, 300)}})
	partial := helloFlow{sni: "dns.example.net"}
	client := pkt(1, false, 100, 0, pshAck, 0)
	for _, tc := range []struct {
		name string
		segs func() []Packet
	}{
		{"a segment missing", func() []Packet {
			s := segments(client, 1, hello, 100, 200)
			return []Packet{s[0], s[2]}
		}},
		{"the capture cut a segment", func() []Packet {
			s := segments(client, 1, hello, 100)
			s[1].PayloadLen += 10
			return s
		}},
		{"the flow ends first", func() []Packet { return segments(client, 1, hello, 100)[:1] }},
		{"longer than 4 KiB", func() []Packet {
			big := helloRecord(0x0303, []uint16{0x1301}, []tlsExt{sniExt("dns.example.net"), {0x0015, make([]byte, maxHello)}})
			return segments(client, 1, big, 1400)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { assembles(t, tc.segs(), partial, 0, 1) })
	}
}

// TestHelloBuffersReclaimed: a meter puts a few hellos back together at
// once (one for a cache of 16 flows); a hello that waited a second for its
// next segment gives its buffer up to a new one, and keeps what its part
// tells.
func TestHelloBuffersReclaimed(t *testing.T) {
	hello := specHello(true)
	r := newRig(t, CacheConfig{Size: 16, LineSize: 16})
	start := func(port uint16, sec int64) []Packet {
		p := pkt(port, false, sec, 0, pshAck, 0)
		return segments(p, 1, hello, 100)
	}
	a, b, c := start(1, 100), start(2, 100), start(3, 101)
	r.add(a[0], b[0], b[1]) // b finds the buffer taken: what its first segment tells
	r.add(c[0], c[1])       // a second on, c takes a's buffer
	r.add(a[1])             // too late for a
	got := r.finish()
	bySrc := map[uint16]helloFlow{}
	for i := range got {
		bySrc[got[i].key.SrcPort] = helloOf(&got[i])
	}
	whole := helloFlow{sni: "dns.example.net"}
	if bySrc[1] != (helloFlow{}) || bySrc[2] != (helloFlow{}) || bySrc[3] != whole {
		t.Errorf("server names %+v", bySrc)
	}
	if st := r.m.Stats(); st.HellosAssembled.Load() != 1 || st.HellosUnassembled.Load() != 2 {
		t.Errorf("assembled %d, not %d", st.HellosAssembled.Load(), st.HellosUnassembled.Load())
	}
}

// TestRealHellosOverSegments cuts each ClientHello of nDPI's captures in
// two, at its middle, or in 100-byte segments: every flow has the server
// name and fingerprints it has when the hello comes whole.
func TestRealHellosOverSegments(t *testing.T) {
	frames := ndpiFrames(t)
	var packets [2][]Packet // whole, and cut
	n := 0
	for i, frame := range frames.frames {
		var p Packet
		if (Decoder{Link: LinkEthernet}).Decode(frame, frames.micros[i], &p) != Decoded {
			continue
		}
		packets[0] = append(packets[0], p)
		var h helloParts
		if tlsHello(p.Payload, &h, make([]byte, maxHello)); !h.whole || p.Proto != protoTCP || len(p.Payload) <= 200 {
			packets[1] = append(packets[1], p)
			continue
		}
		n++
		cuts := []int{len(p.Payload) / 2}
		if n%2 == 0 {
			cuts = []int{100, 200}
		}
		packets[1] = append(packets[1], segments(p, p.TCPSeq, p.Payload, cuts...)...)
	}
	var flows [2]map[[2]netip.AddrPort]helloFlow
	for i := range packets {
		m, err := NewMeter(Config{Cache: CacheConfig{TLSFingerprints: true}}, LinkEthernet)
		if err != nil {
			t.Fatal(err)
		}
		flows[i] = map[[2]netip.AddrPort]helloFlow{}
		drain := func() {
			for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
				flows[i][[2]netip.AddrPort{netip.AddrPortFrom(f.Src(), f.key.SrcPort), netip.AddrPortFrom(f.Dst(), f.key.DstPort)}] = helloOf(f)
			}
			m.Ring().Release()
		}
		for j := range packets[i] {
			m.cache.add(&packets[i][j])
		}
		m.FinishWith(drain)
		m.Flush()
		drain()
		m.Close()
		if st := m.Stats(); i == 1 && (st.HellosAssembled.Load() != uint64(n) || st.HellosUnassembled.Load() != 0) {
			t.Errorf("%d hellos cut, %d put back together, %d not", n, st.HellosAssembled.Load(), st.HellosUnassembled.Load())
		}
	}
	for ends, whole := range flows[0] {
		if cut := flows[1][ends]; cut != whole {
			t.Errorf("%v: cut %+v, whole %+v", ends, cut, whole)
		}
	}
	if n < 90 || len(flows[0]) < 100 {
		t.Errorf("only %d hellos cut, %d flows", n, len(flows[0]))
	}
}

// records puts a handshake message in TLS records, cut at the offsets
// given.
func records(message []byte, cuts ...int) []byte {
	var out []byte
	from := 0
	for _, to := range append(cuts, len(message)) {
		out = append(out, tlsHandshake, 3, 1, byte((to-from)>>8), byte(to-from))
		out = append(out, message[from:to]...)
		from = to
	}
	return out
}

// TestHelloOverRecords: a ClientHello split into several TLS records, as
// tools that hide the server name from DPI split it, tells what it tells
// in one, in one segment or over several.
func TestHelloOverRecords(t *testing.T) {
	message := specHello(true)[5:]
	want := helloFlow{"dns.example.net", "", "t13d1516h2_8daaf6152771_e5627efa2ab1"}
	want.ja3, _, _ = fingerprints(t, specHello(true))
	client := pkt(1, false, 100, 0, pshAck, 0)
	var every20 []int
	for c := 20; c < len(message); c += 20 {
		every20 = append(every20, c)
	}
	for _, tc := range []struct {
		name      string
		segs      []Packet
		assembled uint64
	}{
		{"two records, one segment", segments(client, 1, records(message, 50)), 0},
		{"a record of 2 bytes first", segments(client, 1, records(message, 2)), 0},
		{"20-byte records", segments(client, 1, records(message, every20...)), 0},
		{"two records over two segments", segments(client, 1, records(message, 50), 80), 1},
		{"the first record alone, then the rest", segments(client, 1, records(message, 50), 55), 1},
		{"20-byte records over 7-byte segments", func() []Packet {
			stream := records(message, every20...)
			var cuts []int
			for c := 7; c < len(stream); c += 7 {
				cuts = append(cuts, c)
			}
			return segments(client, 1, stream, cuts...)
		}(), 1},
	} {
		t.Run(tc.name, func(t *testing.T) { assembles(t, tc.segs, want, tc.assembled, 0) })
	}
	// A record of another kind cuts the hello short: what came before
	// stands (here not the server name, which was to follow).
	cut := append(records(message[:50]), 21, 3, 3, 0, 2, 2, 40)
	assembles(t, segments(client, 1, cut), helloFlow{}, 0, 0)
}
