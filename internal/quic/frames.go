package quic

import "encoding/binary"

// Frame types an Initial packet may carry (RFC 9000 section 12.4).
const (
	framePadding         = 0x00
	framePing            = 0x01
	frameACK             = 0x02
	frameACKECN          = 0x03
	frameCrypto          = 0x06
	frameConnectionClose = 0x1c
)

// Frames walks the frames of an Initial packet's payload for its CRYPTO
// frames, passing by padding, PING and ACK frames.
type Frames struct {
	b       []byte
	at      int
	overran bool
}

// NewFrames walks payload.
func NewFrames(payload []byte) Frames { return Frames{b: payload} }

// NextCrypto returns the next CRYPTO frame: the offset of its data in the
// connection's CRYPTO stream, and its data, a view into the payload; a
// frame whose data runs past the payload's end (the capture cut it, see
// Initial.Cut) as far as it goes, the last. ok is false at the end of the
// frames, or at a CONNECTION_CLOSE frame; err is ErrMalformed for a frame
// that does not parse or that an Initial packet does not carry.
func (f *Frames) NextCrypto() (offset uint64, data []byte, ok bool, err error) {
	b := f.b
	for f.at < len(b) {
		typ := b[f.at]
		switch typ {
		case framePadding:
			// Padding fills most of a client's Initial packet: it is passed
			// by a word at a time.
			at := f.at + 1
			for at+8 <= len(b) && binary.LittleEndian.Uint64(b[at:]) == 0 {
				at += 8
			}
			for at < len(b) && b[at] == 0 {
				at++
			}
			f.at = at
		case framePing:
			f.at++
		case frameACK, frameACKECN:
			if !f.skipACK(typ == frameACKECN) {
				return 0, nil, false, ErrMalformed
			}
		case frameCrypto:
			off, n := varint(b, f.at+1)
			if n == 0 {
				return 0, nil, false, ErrMalformed
			}
			at := f.at + 1 + n
			length, n := varint(b, at)
			if n == 0 {
				return 0, nil, false, ErrMalformed
			}
			at += n
			if length > uint64(len(b)-at) {
				f.overran, length = true, uint64(len(b)-at)
			}
			f.at = at + int(length)
			return off, b[at:f.at], true, nil
		case frameConnectionClose:
			f.at = len(b)
			return 0, nil, false, nil
		default:
			return 0, nil, false, ErrMalformed
		}
	}
	return 0, nil, false, nil
}

// Overran reports that the last CRYPTO frame ran past the payload's end.
func (f *Frames) Overran() bool { return f.overran }

// skipACK passes by an ACK frame: largest acknowledged, delay, the count of
// ranges and the first, then the ranges' gaps and lengths, then the ECN
// counts.
func (f *Frames) skipACK(ecn bool) bool {
	at := f.at + 1
	fields := 4
	for i := 0; i < fields; i++ {
		v, n := varint(f.b, at)
		if n == 0 {
			return false
		}
		at += n
		if i == 2 {
			if v > uint64(len(f.b)) {
				return false
			}
			fields += 2 * int(v)
		}
	}
	if ecn {
		for range 3 {
			_, n := varint(f.b, at)
			if n == 0 {
				return false
			}
			at += n
		}
	}
	f.at = at
	return true
}
