package flowmeter

import (
	"bytes"
	"context"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/alfd/alfd/internal/quic"
	"github.com/alfd/alfd/internal/quic/quictest"
)

// seedTCP is a TCP header, its sequence number 1.
var seedTCP = []byte{0xc3, 0x50, 1, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0}

// seedIPv4 is an IPv4 packet of a TCP segment carrying payload, its
// sequence number seq.
func seedIPv4(seq uint32, payload []byte) []byte {
	ipv4 := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 192, 0, 2, 1}
	v4 := append(append(ipv4, seedTCP...), payload...)
	binary.BigEndian.PutUint16(v4[2:], uint16(len(v4)))
	binary.BigEndian.PutUint32(v4[20+4:], seq)
	return v4
}

// seedEthernet is seedIPv4's packet in an Ethernet frame.
func seedEthernet(seq uint32, payload []byte) []byte {
	return append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}, seedIPv4(seq, payload)...)
}

// seedUDP is an Ethernet frame of a UDP datagram to port 443 carrying
// payload.
func seedUDP(payload []byte) []byte {
	ipv4 := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 192, 0, 2, 1}
	v4 := append(append(ipv4, 0xc3, 0x50, 1, 0xbb, 0, 0, 0, 0), payload...)
	binary.BigEndian.PutUint16(v4[2:], uint16(len(v4)))
	binary.BigEndian.PutUint16(v4[24:], uint16(8+len(payload)))
	return append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}, v4...)
}

// seedFrames are frames for the fuzzers to start from.
func seedFrames() [][]byte {
	hello := specHello(true)
	tcp := seedTCP
	v4 := seedIPv4(1, hello)
	eth := seedEthernet(1, hello)
	vlan := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0, 42, 0x08, 0x00}, v4...)
	ipv6 := append([]byte{0x60, 0, 0, 0, 0, 0, 0, 64}, make([]byte, 32)...)
	ipv6[6] = 0 // hop-by-hop
	v6 := append(append(append(ipv6, 6, 0, 1, 4, 0, 0, 0, 0), tcp...), hello...)
	binary.BigEndian.PutUint16(v6[4:], uint16(len(v6)-40))
	eth6 := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd}, v6...)
	return [][]byte{eth, vlan, eth6, eth[:30], {}}
}

// FuzzDecode: no frame makes the decoder panic, and what it decodes stays
// inside the frame and agrees with the headers.
func FuzzDecode(f *testing.F) {
	for _, fr := range seedFrames() {
		f.Add(fr, uint16(LinkEthernet))
	}
	f.Add(seedFrames()[0][14:], uint16(LinkRaw))
	f.Add(append([]byte{2, 0, 0, 0}, seedFrames()[0][14:]...), uint16(LinkNull))
	fp := newFingerprinter()
	scratch := make([]byte, maxHello)
	f.Fuzz(func(t *testing.T, frame []byte, link uint16) {
		var p Packet
		if (Decoder{Link: LinkType(link)}).Decode(frame, 0, &p) != Decoded {
			return
		}
		if len(p.Payload) > int(p.PayloadLen) || p.IPVersion != 4 && p.IPVersion != 6 {
			t.Fatalf("payload %d bytes, %d by the headers, IP version %d", len(p.Payload), p.PayloadLen, p.IPVersion)
		}
		if len(p.Payload) > 0 && cap(p.Payload) > cap(frame) {
			t.Fatal("payload outside the frame")
		}
		var h helloParts
		if tlsHello(p.Payload, &h, scratch); h.whole {
			var ja3 [16]byte
			var ja4 [ja4Len]byte
			fp.fingerprint(&h, 't', &ja3, &ja4)
			if a := ja4[:10]; a[0] != 't' || a[3] != 'd' && a[3] != 'i' || !isDigits(a[4:8]) || !alnum(a[8]) || !alnum(a[9]) {
				t.Fatalf("JA4 starts %q", a)
			}
		}
	})
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FuzzMeter: any frames, through a small cache, keep the meter's counts
// consistent and never panic; and Frames, working ahead, makes the same
// flows of them as Packet does one by one. The frames are a and b, each
// byte 35 (an untagged IPv4 packet's source port) set apart, so that the
// flows overflow the cache and the ring, which nobody reads meanwhile.
func FuzzMeter(f *testing.F) {
	for _, fr := range seedFrames() {
		f.Add(fr, fr, int64(1))
	}
	// A ClientHello over two segments.
	hello := specHello(true)
	f.Add(seedEthernet(1, hello[:100]), seedEthernet(101, hello[100:]), int64(1))
	// A ClientHello in two TLS records, over two segments.
	split := records(hello[5:], 60)
	f.Add(seedEthernet(1, split[:90]), seedEthernet(91, split[90:]), int64(1))
	// A QUIC ClientHello in one Initial packet, and over two.
	message := hello[5:]
	f.Add(seedUDP(initial(quic.Version1, 0, quictest.Crypto(nil, 0, message))), seedUDP(initial(quic.Version2, 0, quictest.Crypto(nil, 0, message))), int64(1))
	f.Add(seedUDP(initial(quic.Version1, 0, quictest.Crypto(nil, 0, message[:100]))), seedUDP(initial(quic.Version1, 1, quictest.Crypto(nil, 100, message[100:]))), int64(1))
	f.Fuzz(func(t *testing.T, a, b []byte, dt int64) {
		cfg := Config{Cache: CacheConfig{Size: 4, LineSize: 2, TLSFingerprints: true, QUIC: true}, RingSize: 4}
		one, err := NewMeter(cfg, LinkEthernet)
		if err != nil {
			t.Fatal(err)
		}
		ahead, err := NewMeter(cfg, LinkEthernet)
		if err != nil {
			t.Fatal(err)
		}
		ahead.crowdedFlows = 0
		var frames []Frame
		const packets = 24
		for i := range packets {
			fr := a
			if i%2 == 1 {
				fr = b
			}
			if len(fr) > 35 {
				fr = append([]byte(nil), fr...)
				fr[35] ^= byte(i / 2)
			}
			one.Packet(fr, int64(i)*dt, len(fr))
			frames = append(frames, Frame{Data: fr, Micros: int64(i) * dt, WireLen: len(fr)})
		}
		ahead.Frames(frames)
		var flows [2][]Flow
		for k, m := range []*Meter{one, ahead} {
			nobody, cancel := context.WithCancel(context.Background())
			cancel() // nobody reads the ring: do not wait
			m.Finish(nobody)
			m.Flush()
			st := m.Stats()
			var skipped, exported uint64
			for i := range st.Skipped {
				skipped += st.Skipped[i].Load()
			}
			for i := range st.Exported {
				exported += st.Exported[i].Load()
			}
			if st.Packets.Load() != packets || skipped > packets || exported != st.Created.Load() || st.Flows.Load() != 0 {
				t.Fatalf("packets %d, skipped %d, created %d, exported %d, left %d", st.Packets.Load(), skipped, st.Created.Load(), exported, st.Flows.Load())
			}
			for fl := m.Ring().Next(); fl != nil; fl = m.Ring().Next() {
				if fl.NPPI() > MaxPPI || len(fl.SNI()) > maxSNI {
					t.Fatalf("flow with %d PPI, SNI %d bytes", fl.NPPI(), len(fl.SNI()))
				}
				flows[k] = append(flows[k], *fl)
			}
		}
		if !reflect.DeepEqual(flows[0], flows[1]) {
			t.Fatalf("one by one:\n%+v\nworking ahead:\n%+v", flows[0], flows[1])
		}
	})
}

// FuzzPcap reads any bytes as a pcap or pcapng file: the reader opens or
// refuses it and then gives frames until an end or an error, never
// panicking, never looping, never a frame longer than the file.
func FuzzPcap(f *testing.F) {
	le := binary.LittleEndian
	file := le.AppendUint32(nil, 0xa1b2c3d4) // microsecond pcap
	file = le.AppendUint16(file, 2)
	file = le.AppendUint16(file, 4)
	file = append(file, make([]byte, 8)...)
	file = le.AppendUint32(file, 65535) // snapshot length
	file = le.AppendUint32(file, 1)     // Ethernet
	for i, frame := range seedFrames() {
		file = le.AppendUint32(file, uint32(1_700_000_000+i))
		file = le.AppendUint32(file, 0)
		file = le.AppendUint32(file, uint32(len(frame)))
		file = le.AppendUint32(file, uint32(len(frame)))
		file = append(file, frame...)
	}
	f.Add(file)
	f.Add(file[:len(file)-3])
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := newPcapReader("fuzz.pcap", bytes.NewReader(data))
		if err != nil {
			return
		}
		for n := 0; ; n++ {
			frame, _, err := r.Next()
			if err != nil {
				return
			}
			if len(frame) > len(data) || n > len(data) {
				t.Fatalf("frame %d: %d bytes from a file of %d", n, len(frame), len(data))
			}
		}
	})
}
