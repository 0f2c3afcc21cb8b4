package quic

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/alfd/alfd/internal/quic/quictest"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The example of RFC 9001 appendix A and RFC 9369 appendix A: a client's
// first Initial packet, to 8394c8f03e515708, packet number 2 in 4 bytes,
// whose CRYPTO frame holds a ClientHello for example.com, padded to 1,162
// bytes of frames; and what the RFCs show of it protected: its header and
// the sample of header protection (its first 16 bytes of ciphertext), and
// its AEAD tag, which proves the rest.
const (
	rfcDCID  = "8394c8f03e515708"
	rfcHello = "010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868" +
		"04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578" +
		"616d706c652e636f6dff01000100000a00080006001d00170018001000070005" +
		"04616c706e000500050100000000003300260024001d00209370b2c9caa47fba" +
		"baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400" +
		"0d0010000e0403050306030203080408050806002d00020101001c0002400100" +
		"3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000" +
		"75300901100f088394c8f03e51570806048000ffff"
	rfcFramesLen = 1162
)

var rfcVectors = []struct {
	name                string
	version             uint32
	key, iv, hp         string
	header, sample, tag string
}{
	{"v1", Version1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2",
		"c000000001088394c8f03e5157080000449e7b9aec34", "d1b1c98dd7689fb8ec11d242b123dc9b", "e221af44860018ab0856972e194cd934"},
	{"v2", Version2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9",
		"d76b3343cf088394c8f03e5157080000449ea0c95e82", "ffe67b6abcdb4298b485dd04de806071", "a18b2faa745b6fe189cf772a9f84cbfc"},
}

// rfcInitial is the RFCs' example packet of version.
func rfcInitial(t testing.TB, version uint32) *quictest.Initial {
	frames := quictest.Crypto(nil, 0, unhex(t, rfcHello))
	frames = append(frames, make([]byte, rfcFramesLen-len(frames))...)
	return &quictest.Initial{Version: version, DCID: unhex(t, rfcDCID), PacketNumber: 2, PNLen: 4, Frames: frames}
}

// TestKeysAsRFCs derives the client's keys of the RFCs' examples.
func TestKeysAsRFCs(t *testing.T) {
	for _, v := range rfcVectors {
		o := NewOpener()
		o.setKeys(paramsOf(v.version), unhex(t, rfcDCID))
		var key, hp aes128
		key.setKey((*[16]byte)(unhex(t, v.key)))
		hp.setKey((*[16]byte)(unhex(t, v.hp)))
		if o.aead != key || o.hp != hp || hex.EncodeToString(o.iv[:]) != v.iv {
			t.Errorf("%s: the keys are not the RFC's (IV %x, want %s)", v.name, o.iv, v.iv)
		}
	}
}

// TestOpenAsRFCs opens the RFCs' example packets: the test's packets are
// the RFCs' (their headers, samples and tags agree), and Open finds their
// packet number and frames, and the ClientHello in the CRYPTO frame.
func TestOpenAsRFCs(t *testing.T) {
	for _, v := range rfcVectors {
		in := rfcInitial(t, v.version)
		packet := in.Seal()
		if len(packet) != 1200 {
			t.Fatalf("%s: a packet of %d bytes, the RFC's has 1200", v.name, len(packet))
		}
		if got := hex.EncodeToString(packet[:22]); got != v.header {
			t.Fatalf("%s: header %s, the RFC's is %s", v.name, got, v.header)
		}
		if got := hex.EncodeToString(packet[22:38]); got != v.sample {
			t.Fatalf("%s: sample %s, the RFC's is %s", v.name, got, v.sample)
		}
		if got := hex.EncodeToString(packet[len(packet)-16:]); got != v.tag {
			t.Fatalf("%s: tag %s, the RFC's is %s", v.name, got, v.tag)
		}
		got, err := NewOpener().Open(packet, nil)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if got.Version != v.version || hex.EncodeToString(got.DCID) != rfcDCID || got.PacketNumber != 2 || got.Size != 1200 {
			t.Errorf("%s: version %#x, DCID %x, packet number %d, size %d", v.name, got.Version, got.DCID, got.PacketNumber, got.Size)
		}
		if !bytes.Equal(got.Payload, in.Frames) {
			t.Fatalf("%s: frames\n%x\nwant\n%x", v.name, got.Payload, in.Frames)
		}
		frames := NewFrames(got.Payload)
		off, data, ok, err := frames.NextCrypto()
		if !ok || err != nil || off != 0 || hex.EncodeToString(data) != rfcHello {
			t.Errorf("%s: CRYPTO frame at %d, %x, %v, %v", v.name, off, data, ok, err)
		}
		if _, _, ok, err := frames.NextCrypto(); ok || err != nil {
			t.Errorf("%s: after the CRYPTO frame, padding only: %v, %v", v.name, ok, err)
		}
	}
}

// TestOpenRules states how Open reads what the RFCs' example does not
// show.
func TestOpenRules(t *testing.T) {
	hello := unhex(t, rfcHello)
	dcid := unhex(t, rfcDCID)
	base := func() *quictest.Initial {
		return &quictest.Initial{Version: Version1, DCID: dcid, SCID: []byte{1, 2, 3, 4}, PNLen: 1, Frames: quictest.Crypto(nil, 0, hello)}
	}
	open := func(t *testing.T, datagram, keyDCID []byte) (Initial, error) {
		t.Helper()
		return NewOpener().Open(datagram, keyDCID)
	}
	t.Run("packet numbers of 1 to 4 bytes, a token", func(t *testing.T) {
		for pnLen := 1; pnLen <= 4; pnLen++ {
			in := base()
			in.PNLen, in.PacketNumber, in.Token = pnLen, uint64(1)<<(8*pnLen-1)+5, []byte("a retry token")
			got, err := open(t, in.Seal(), nil)
			if err != nil || got.PacketNumber != in.PacketNumber || !bytes.Equal(got.Payload, in.Frames) {
				t.Errorf("%d bytes: packet number %d (want %d), %v", pnLen, got.PacketNumber, in.PacketNumber, err)
			}
		}
	})
	t.Run("the fixed bit greased", func(t *testing.T) {
		// RFC 9287: a client may clear it; header protection leaves it be.
		in := base()
		packet := in.Seal()
		packet[0] &^= 0x40
		if got, err := open(t, packet, nil); err != nil || !bytes.Equal(got.Payload, in.Frames) {
			t.Errorf("%v", err)
		}
	})
	t.Run("keys of the first packet's DCID", func(t *testing.T) {
		// Once the server answers, the client sends to the server's
		// connection ID, with the keys it began with.
		in := base()
		in.DCID, in.KeyDCID = []byte{9, 9, 9, 9, 9, 9, 9, 9, 9}, dcid
		packet := in.Seal()
		if got, err := open(t, packet, dcid); err != nil || !bytes.Equal(got.Payload, in.Frames) {
			t.Errorf("with the first DCID's keys: %v", err)
		}
		if got, err := open(t, packet, nil); err == nil && bytes.Equal(got.Payload, in.Frames) {
			t.Errorf("the packet's own DCID's keys read it too")
		}
	})
	t.Run("coalesced packets", func(t *testing.T) {
		first, second := base(), base()
		second.PacketNumber, second.Frames = 1, quictest.Crypto(nil, uint64(len(hello)), []byte("more"))
		datagram := append(first.Seal(), second.Seal()...)
		o := NewOpener()
		got, err := o.Open(datagram, nil)
		if err != nil || !bytes.Equal(got.Payload, first.Frames) {
			t.Fatalf("first: %v", err)
		}
		got, err = o.Open(datagram[got.Size:], nil)
		if err != nil || got.PacketNumber != 1 || !bytes.Equal(got.Payload, second.Frames) {
			t.Fatalf("second: packet number %d, %v", got.PacketNumber, err)
		}
	})
	t.Run("cut by the capture", func(t *testing.T) {
		in := rfcInitial(t, Version1)
		packet := in.Seal()[:200]
		got, err := open(t, packet, nil)
		if err != nil || got.Size != 1200 || !got.Cut || !bytes.Equal(got.Payload, in.Frames[:200-22]) {
			t.Fatalf("size %d, cut %v, %d bytes of frames, %v", got.Size, got.Cut, len(got.Payload), err)
		}
		// The CRYPTO frame's part there is read.
		f := NewFrames(got.Payload)
		off, data, ok, err := f.NextCrypto()
		if !ok || err != nil || off != 0 || hex.EncodeToString(data) != rfcHello[:2*(200-22-4)] || !f.Overran() {
			t.Errorf("the cut CRYPTO frame: at %d, %d bytes, %v, %v, overran %v", off, len(data), ok, err, f.Overran())
		}
	})
	t.Run("version 2's type codes", func(t *testing.T) {
		in := base()
		in.Version = Version2
		packet := in.Seal()
		// Version 1's Initial type (0) in a version 2 packet is its Retry.
		packet[0] &^= 0x30
		if _, err := open(t, packet, nil); !errors.Is(err, ErrNotInitial) {
			t.Errorf("a version 2 Retry: %v, want ErrNotInitial", err)
		}
	})
	packet := base().Seal()
	for _, c := range []struct {
		name    string
		edit    func(b []byte) []byte
		wantErr error
	}{
		{"short header", func(b []byte) []byte { b[0] &^= 0x80; return b }, ErrNotInitial},
		{"Handshake packet", func(b []byte) []byte { b[0] |= 0x20; return b }, ErrNotInitial},
		{"unknown version", func(b []byte) []byte { binary.BigEndian.PutUint32(b[1:], 0xff00001d); return b }, ErrNotInitial},
		{"version negotiation", func(b []byte) []byte { binary.BigEndian.PutUint32(b[1:], 0); return b }, ErrNotInitial},
		{"DCID of 21 bytes", func(b []byte) []byte { b[5] = 21; return b }, ErrMalformed},
		{"SCID of 21 bytes", func(b []byte) []byte { b[6+len(dcid)] = 21; return b }, ErrMalformed},
		{"no room for the sample", func(b []byte) []byte { return b[:30] }, ErrMalformed},
		{"header only", func(b []byte) []byte { return b[:6] }, ErrNotInitial},
		{"token past the end", func(b []byte) []byte { b[7+len(dcid)+4] = 0x7f; return b }, ErrMalformed},
	} {
		if _, err := open(t, c.edit(bytes.Clone(packet)), nil); !errors.Is(err, c.wantErr) {
			t.Errorf("%s: %v, want %v", c.name, err, c.wantErr)
		}
	}
}

// TestFrames walks the frames a client's Initial packets carry.
func TestFrames(t *testing.T) {
	var b []byte
	b = append(b, 0x01)                         // PING
	b = append(b, 0x02, 0x05, 0x00, 0x01, 0x02) // ACK: largest 5, delay 0, one range more, first 2
	b = append(b, 0x00, 0x01)                   // that range: gap 0, length 1
	b = quictest.Crypto(b, 100, []byte("second"))
	b = append(b, 0x00, 0x00, 0x00) // PADDING
	b = append(b, 0x03, 0x01, 0x00, 0x00, 0x00, 0x07, 0x08, 0x09)
	b = quictest.Crypto(b, 0, []byte("first"))
	f := NewFrames(b)
	for _, want := range []struct {
		off  uint64
		data string
	}{{100, "second"}, {0, "first"}} {
		off, data, ok, err := f.NextCrypto()
		if !ok || err != nil || off != want.off || string(data) != want.data {
			t.Fatalf("CRYPTO frame at %d, %q, %v, %v; want %d, %q", off, data, ok, err, want.off, want.data)
		}
	}
	if _, _, ok, err := f.NextCrypto(); ok || err != nil || f.Overran() {
		t.Errorf("the end: %v, %v, overran %v", ok, err, f.Overran())
	}
	for _, c := range []struct {
		name    string
		frames  []byte
		wantErr error
	}{
		{"CONNECTION_CLOSE ends them", append([]byte{0x1c, 0x01}, quictest.Crypto(nil, 0, []byte("x"))...), nil},
		{"a STREAM frame", []byte{0x08, 0x00}, ErrMalformed},
		{"CRYPTO's length cut", []byte{0x06, 0x00, 0x40}, ErrMalformed},
		{"ACK cut short", []byte{0x02, 0x05, 0x00}, ErrMalformed},
		{"ACK's range count overruns", []byte{0x02, 0x05, 0x00, 0x3f, 0x00}, ErrMalformed},
	} {
		f := NewFrames(c.frames)
		if _, _, ok, err := f.NextCrypto(); ok || !errors.Is(err, c.wantErr) {
			t.Errorf("%s: %v, %v; want no frame, %v", c.name, ok, err, c.wantErr)
		}
	}
}

// TestOpenAllocatesNothing opens packets of new connections and of the
// same one.
func TestOpenAllocatesNothing(t *testing.T) {
	packet := rfcInitial(t, Version1).Seal()
	o := NewOpener()
	other := rfcInitial(t, Version2).Seal()
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range [][]byte{packet, packet, other} {
			in, err := o.Open(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			f := NewFrames(in.Payload)
			for _, _, ok, _ := f.NextCrypto(); ok; _, _, ok, _ = f.NextCrypto() {
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func BenchmarkOpen(b *testing.B) {
	packet := rfcInitial(b, Version1).Seal()
	o := NewOpener()
	b.Run("new-connection", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(packet)))
		for b.Loop() {
			o.keyed = nil
			if _, err := o.Open(packet, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("same-connection", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(packet)))
		for b.Loop() {
			if _, err := o.Open(packet, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
