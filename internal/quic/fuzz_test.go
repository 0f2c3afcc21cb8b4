package quic

import (
	"testing"

	"github.com/alfd/alfd/internal/quic/quictest"
)

// FuzzOpen: no datagram makes Open or the frames' walk panic, and what
// they return lies within the datagram.
func FuzzOpen(f *testing.F) {
	for _, version := range []uint32{Version1, Version2} {
		in := rfcInitial(f, version)
		f.Add(in.Seal(), false)
		in.Frames = append([]byte{0x01, 0x02, 0x05, 0x00, 0x01, 0x02, 0x00, 0x01}, quictest.Crypto(nil, 7, []byte("hello"))...)
		f.Add(in.Seal(), true)
	}
	o := NewOpener()
	f.Fuzz(func(t *testing.T, datagram []byte, ownKeys bool) {
		var keyDCID []byte
		if !ownKeys {
			keyDCID = []byte{1, 2, 3, 4, 5, 6, 7, 8}
		}
		in, err := o.Open(datagram, keyDCID)
		if err != nil {
			return
		}
		if len(in.Payload) > len(datagram) || in.Size <= 0 || in.Cut != (in.Size > len(datagram)) || len(in.DCID) > MaxConnIDLen {
			t.Fatalf("payload %d bytes, size %d, cut %v, of a datagram of %d", len(in.Payload), in.Size, in.Cut, len(datagram))
		}
		frames := NewFrames(in.Payload)
		for n := 0; ; n++ {
			_, data, ok, _ := frames.NextCrypto()
			if !ok {
				break
			}
			if len(data) > len(in.Payload) || n > len(in.Payload) {
				t.Fatalf("frame %d: %d bytes of a payload of %d", n, len(data), len(in.Payload))
			}
		}
	})
}
