package flowmeter

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strconv"
	"testing"

	"github.com/alfd/alfd/internal/quic"
	"github.com/alfd/alfd/internal/quic/quictest"
)

// udp makes a UDP packet carrying payload from client port cport to
// 192.0.2.1:443 (or the other way with back), at second sec.
func udp(cport uint16, back bool, sec int64, payload []byte) Packet {
	p := pkt(cport, back, sec, 0, 0, len(payload))
	p.Key.Proto, p.TCPFlags = protoUDP, 0
	p.Payload, p.IPLen = payload, uint32(28+len(payload))
	return p
}

var quicDCID = []byte{0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08}

// initial seals frames as the client's Initial packet number pn of the
// version, to quicDCID, padded to 1,200 bytes as clients pad them.
func initial(version uint32, pn uint64, frames []byte) []byte {
	in := quictest.Initial{Version: version, DCID: quicDCID, SCID: []byte{5, 6, 7, 8}, PacketNumber: pn, PNLen: 2}
	in.Frames = append(frames, make([]byte, max(0, 1200-60-len(frames)))...)
	return in.Seal()
}

// cryptoFrames are the CRYPTO frames of message from byte from to to, cut
// at the offsets given.
func cryptoFrames(message []byte, from, to int, cuts ...int) [][]byte {
	var frames [][]byte
	for _, c := range append(cuts, to) {
		frames = append(frames, quictest.Crypto(nil, uint64(from), message[from:c]))
		from = c
	}
	return frames
}

// quicHello is what a flow of QUIC packets told: its hello, and its
// QUIC_VERSION.
type quicHello struct {
	helloFlow
	version uint32
}

// meterQUIC meters the UDP packets of one flow by a meter that reads QUIC
// and fingerprints hellos, and checks what the flow told, how many hellos
// were put together from several packets and not, and how many Initial
// packets were read.
func meterQUIC(t *testing.T, packets []Packet, want quicHello, assembled, unassembled, initials uint64) {
	t.Helper()
	r := newRig(t, CacheConfig{TLSFingerprints: true, QUIC: true})
	r.add(packets...)
	got := r.finish()
	if len(got) != 1 {
		t.Fatalf("%d flows", len(got))
	}
	if g := (quicHello{helloOf(&got[0]), got[0].QUICVersion()}); g != want {
		t.Fatalf("%+v; want %+v", g, want)
	}
	if st := r.m.Stats(); st.HellosAssembled.Load() != assembled || st.HellosUnassembled.Load() != unassembled {
		t.Errorf("assembled %d, not %d; want %d, %d", st.HellosAssembled.Load(), st.HellosUnassembled.Load(), assembled, unassembled)
	}
	if st := r.m.Stats(); st.QUICInitials.Load() != initials || st.QUICMalformed.Load() != 0 {
		t.Errorf("%d Initial packets read, %d malformed; want %d, 0", st.QUICInitials.Load(), st.QUICMalformed.Load(), initials)
	}
}

// quicWant is what the specHello tells over QUIC of version: its JA4's
// first letter is q, and the rest and JA3 are as over TCP.
func quicWant(t *testing.T, version uint32) quicHello {
	ja3, ja4, sni := fingerprints(t, specHello(true))
	return quicHello{helloFlow{sni, ja3, "q" + ja4[1:]}, version}
}

// zeroRTT is a 0-RTT packet of version to quicDCID, 40 bytes of
// protected payload after its header.
func zeroRTT(version uint32) []byte {
	typ := byte(1) // RFC 9000's 0-RTT
	if version == quic.Version2 {
		typ = 2 // RFC 9369's
	}
	b := binary.BigEndian.AppendUint32([]byte{0xc1 | typ<<4}, version)
	b = append(append(b, byte(len(quicDCID))), quicDCID...)
	b = append(b, 0)        // no SCID
	b = append(b, 0x40, 42) // length: 2 bytes of packet number and 40 of payload
	return append(b, make([]byte, 42)...)
}

// TestQUICHello: a QUIC client's ClientHello tells its flow what it tells
// over TCP, in one Initial packet or over several, in CRYPTO frames in
// any order, of either version.
func TestQUICHello(t *testing.T) {
	message := specHello(true)[5:] // QUIC carries the handshake message without TLS's record
	n := len(message)
	join := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	ping, padding := []byte{0x01}, make([]byte, 7)
	for _, version := range []uint32{quic.Version1, quic.Version2} {
		want := quicWant(t, version)
		whole := initial(version, 0, join(cryptoFrames(message, 0, n)...))
		one := []Packet{udp(1, false, 100, whole)}
		f := cryptoFrames(message, 0, n, 40, 90, 150, 200)
		server := quictest.Initial{Version: version, DCID: []byte{5, 6, 7, 8}, SCID: []byte{9, 9}, PNLen: 1, Frames: make([]byte, 100)}
		for _, tc := range []struct {
			name                   string
			packets                []Packet
			assembled, unassembled uint64
		}{
			{"one packet", one, 0, 0},
			{"a 0-RTT packet coalesced after it", []Packet{udp(1, false, 100, append(whole, zeroRTT(version)...))}, 0, 0},
			{"frames out of order, pings and padding between", []Packet{udp(1, false, 100, initial(version, 0, join(f[3], ping, f[0], padding, f[1], ping, f[4], f[2])))}, 0, 0},
			{"two packets", []Packet{
				udp(1, false, 100, initial(version, 0, join(f[0], f[1], f[2]))),
				udp(1, false, 100, initial(version, 1, join(f[3], f[4]))),
			}, 1, 0},
			{"two packets, the second first, scattered", []Packet{
				udp(1, false, 100, initial(version, 1, join(f[3], ping, f[1]))),
				udp(1, false, 100, initial(version, 0, join(f[4], padding, f[0], f[2]))),
			}, 1, 0},
			{"the server's Initial and a retransmission between", []Packet{
				udp(1, false, 100, initial(version, 0, join(f[0], f[1], f[2]))),
				udp(1, true, 100, server.Seal()),
				udp(1, false, 100, initial(version, 1, join(f[0], f[1], f[2]))),
				udp(1, false, 101, initial(version, 2, join(f[3], f[4]))),
			}, 1, 0},
			{"the rest to the server's connection ID", []Packet{
				udp(1, false, 100, initial(version, 0, join(f[0], f[1], f[2]))),
				udp(1, false, 100, (&quictest.Initial{Version: version, DCID: []byte{5, 6, 7, 8}, KeyDCID: quicDCID, PacketNumber: 1, PNLen: 1, Frames: join(f[3], f[4])}).Seal()),
			}, 1, 0},
		} {
			// Every packet from the client is an Initial packet, read.
			var initials uint64
			for _, p := range tc.packets {
				if p.Key.SrcPort != 443 {
					initials++
				}
			}
			t.Run(tc.name, func(t *testing.T) { meterQUIC(t, tc.packets, want, tc.assembled, tc.unassembled, initials) })
		}
	}
}

// TestQUICHelloLen reads the length of a hello's message from its header.
func TestQUICHelloLen(t *testing.T) {
	for _, c := range []struct {
		header []byte
		want   int
	}{
		{[]byte{1, 0, 0, 0xed}, 4 + 0xed},
		{[]byte{1, 0, 5, 0xe6}, 4 + 0x5e6},
		{[]byte{1, 1, 0, 0}, 4 + 1<<16},
		{[]byte{1, 0, 0}, 0},
	} {
		if got := quicHelloLen(c.header); got != c.want {
			t.Errorf("%x: %d, want %d", c.header, got, c.want)
		}
	}
}

// TestQUICHelloNotAssembled: a QUIC hello that cannot be put together
// leaves its flow what its whole first part tells (here the server name,
// which comes early), no fingerprints, and is counted.
func TestQUICHelloNotAssembled(t *testing.T) {
	message := helloRecord(0x0303, []uint16{0x1301}, []tlsExt{sniExt("dns.example.net"), {0x0015, make([]byte, 700)}})[5:]
	n := len(message)
	partial := quicHello{helloFlow{sni: "dns.example.net"}, quic.Version1}
	// Every other part of 20 bytes first: too many apart.
	var cuts []int
	for c := 100; c < n; c += 20 {
		cuts = append(cuts, c)
	}
	var odd, even []byte
	for i, f := range cryptoFrames(message, 0, n, cuts...) {
		if i%2 == 0 {
			even = append(even, f...)
		} else {
			odd = append(odd, f...)
		}
	}
	big := helloRecord(0x0303, []uint16{0x1301}, []tlsExt{sniExt("dns.example.net"), {0x0015, make([]byte, maxHello)}})[5:]
	for _, tc := range []struct {
		name    string
		packets []Packet
	}{
		{"the second packet missing", []Packet{udp(1, false, 100, initial(quic.Version1, 0, cryptoFrames(message, 0, 300)[0]))}},
		{"in too many parts apart", []Packet{udp(1, false, 100, initial(quic.Version1, 0, even)), udp(1, false, 100, initial(quic.Version1, 1, odd))}},
		{"longer than 4 KiB", []Packet{udp(1, false, 100, initial(quic.Version1, 0, cryptoFrames(big, 0, 1000)[0]))}},
		{"cut by the capture", func() []Packet {
			p := udp(1, false, 100, initial(quic.Version1, 0, cryptoFrames(message, 0, n)[0]))
			p.Payload = p.Payload[:300] // the server name is in the first 120 bytes

			return []Packet{p}
		}()},
	} {
		// The first packet ends the search.
		t.Run(tc.name, func(t *testing.T) { meterQUIC(t, tc.packets, partial, 0, 1, 1) })
	}
}

// TestQUICOnRequest: a meter reads QUIC only with CacheConfig.QUIC; a UDP
// flow's packets that are not QUIC's leave it no server name, and those
// whose header does not parse are counted.
func TestQUICOnRequest(t *testing.T) {
	packet := initial(quic.Version1, 0, quictest.Crypto(nil, 0, specHello(true)[5:]))
	for _, on := range []bool{false, true} {
		r := newRig(t, CacheConfig{QUIC: on})
		r.add(udp(1, false, 100, packet))
		got := r.finish()
		if len(got) != 1 || (len(got[0].SNI()) > 0) != on || (got[0].QUICVersion() != 0) != on {
			t.Errorf("QUIC %v: %d flows, the first with server name %q, QUIC version %#x", on, len(got), got[0].SNI(), got[0].QUICVersion())
		}
	}
	r := newRig(t, CacheConfig{QUIC: true})
	garbage := bytes.Repeat([]byte{0xc3, 0, 0, 0, 1, 25}, 30) // version 1, a DCID of 25 bytes
	r.add(udp(2, false, 100, garbage), udp(3, false, 100, []byte{0xc3, 0x51}), udp(4, false, 100, packet[:40]))
	for _, f := range r.finish() {
		if len(f.SNI()) > 0 || f.QUICVersion() != 0 {
			t.Errorf("flow %d: server name %q, version %#x", f.key.SrcPort, f.SNI(), f.QUICVersion())
		}
	}
	if st := r.m.Stats(); st.QUICInitials.Load() != 0 || st.QUICMalformed.Load() != 2 {
		t.Errorf("%d read, %d malformed; want 0, 2 (a DCID too long, no room for the sample)", st.QUICInitials.Load(), st.QUICMalformed.Load())
	}
}

// TestQUICRecord: a QUIC flow's server name and version go out as
// ipfixprobe's quic plugin exports them, QUIC_SNI and QUIC_VERSION, not
// in TLS_SNI; a TCP flow's are as before.
func TestQUICRecord(t *testing.T) {
	r := newRig(t, CacheConfig{TLSFingerprints: true, QUIC: true})
	tcp := pkt(1, false, 100, 0, pshAck, 0)
	tcp.Payload = specHello(true)
	tcp.PayloadLen = uint32(len(tcp.Payload))
	r.add(udp(2, false, 100, initial(quic.Version2, 0, quictest.Crypto(nil, 0, specHello(true)[5:]))), tcp)
	enc := NewEncoder()
	tm := enc.Template()
	got := map[uint8][4]string{}
	for _, f := range r.finish() {
		b, err := enc.Append(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := tm.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		got[f.key.Proto] = [4]string{string(rec.String(tm.Field("TLS_SNI"))), string(rec.String(tm.Field("QUIC_SNI"))),
			strconv.FormatUint(uint64(rec.Uint32(tm.Field("QUIC_VERSION"))), 16), string(rec.String(tm.Field("TLS_JA4")))[:1]}
	}
	want := map[uint8][4]string{
		protoUDP: {"", "dns.example.net", "6b3343cf", "q"},
		protoTCP: {"dns.example.net", "", "0", "t"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TLS_SNI, QUIC_SNI, QUIC_VERSION, TLS_JA4's first letter: %q, want %q", got, want)
	}
}

// TestQUICAllocatesNothing: reading QUIC hellos, in one packet and over
// two, takes no allocation.
func TestQUICAllocatesNothing(t *testing.T) {
	message := specHello(true)[5:]
	f := cryptoFrames(message, 0, len(message), 100)
	whole := initial(quic.Version1, 0, quictest.Crypto(nil, 0, message))
	first, second := initial(quic.Version1, 0, f[0]), initial(quic.Version1, 1, f[1])
	r := newRig(t, CacheConfig{TLSFingerprints: true, QUIC: true})
	port := uint16(1)
	packets := make([]Packet, 3)
	allocs := testing.AllocsPerRun(200, func() {
		packets[0], packets[1], packets[2] = udp(port, false, 100, whole), udp(port+1, false, 100, first), udp(port+1, false, 100, second)
		port += 2
		r.add(packets...)
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
	if r.m.c.hellosAssembled < 200 || r.m.c.quicInitials < 600 {
		t.Errorf("%d hellos put together, %d Initial packets read", r.m.c.hellosAssembled, r.m.c.quicInitials)
	}
}

// BenchmarkQUICHello: the cost of a QUIC flow's hello, in one Initial
// packet of 1,200 bytes: keys derived (each packet is of a connection of
// its own), decrypted and read.
func BenchmarkQUICHello(b *testing.B) {
	packets := make([]Packet, 64)
	for i := range packets {
		in := quictest.Initial{Version: quic.Version1, DCID: []byte{byte(i), 1, 2, 3, 4, 5, 6, 7}, PNLen: 2,
			Frames: quictest.Crypto(nil, 0, specHello(true)[5:])}
		in.Frames = append(in.Frames, make([]byte, 1200-len(in.Header())-16-len(in.Frames))...)
		packets[i] = udp(1, false, 100, in.Seal())
	}
	for _, fp := range []bool{false, true} {
		name := "sni"
		if fp {
			name = "sni-fingerprints"
		}
		b.Run(name, func(b *testing.B) {
			m, err := NewMeter(Config{Cache: CacheConfig{QUIC: true, TLSFingerprints: fp}, RingSize: 64}, LinkEthernet)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			k := m.cache
			var f Flow
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f.tls = tlsLooking
				k.quicPacket(&f, &packets[i%len(packets)], 0)
				i++
			}
			if len(f.SNI()) == 0 {
				b.Fatal("no server name")
			}
		})
	}
}

// TestQUICForeignKeys: an Initial packet sealed with keys other than the
// connection's (here after a Retry, which the meter does not follow)
// decrypts to noise, which is counted and puts nothing into the hello.
func TestQUICForeignKeys(t *testing.T) {
	message := specHello(true)[5:]
	f := cryptoFrames(message, 0, len(message), 150)
	foreign := quictest.Initial{Version: quic.Version1, DCID: quicDCID, KeyDCID: []byte{7, 7, 7, 7, 7, 7, 7, 7}, PacketNumber: 1, PNLen: 2,
		Frames: append(f[1], make([]byte, 1000)...)}
	r := newRig(t, CacheConfig{TLSFingerprints: true, QUIC: true})
	r.add(udp(1, false, 100, initial(quic.Version1, 0, f[0])), udp(1, false, 100, foreign.Seal()))
	got := r.finish()
	st := r.m.Stats()
	if len(got) != 1 || got[0].JA3() != nil || st.QUICInitials.Load() != 1 || st.QUICMalformed.Load() != 1 || st.HellosUnassembled.Load() != 1 {
		t.Errorf("%d flows, JA3 %x; %d Initial packets read, %d malformed, %d hellos not put together; want 1, none, 1, 1, 1",
			len(got), got[0].JA3(), st.QUICInitials.Load(), st.QUICMalformed.Load(), st.HellosUnassembled.Load())
	}
}
