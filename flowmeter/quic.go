package flowmeter

import (
	"errors"

	"github.com/alfd/alfd/internal/quic"
)

// QUIC clients (HTTP/3, and so DNS over HTTP/3) send their ClientHello in
// the CRYPTO frames of their first Initial packets, encrypted with keys
// anyone can derive from the packets themselves (internal/quic). With
// CacheConfig.QUIC a meter reads the Initial packets a UDP flow's source
// sends, and puts the hello together by its frames' offsets, in the
// buffers of hellos.go: a hello with post-quantum key shares takes two
// packets, and Chrome scatters its hello over frames out of order, with
// padding and PINGs between. ipfixprobe's quic plugin exports the server
// name as QUIC_SNI, and the version as QUIC_VERSION.

// maxSpans is how many separate parts of a QUIC ClientHello a meter holds
// at once; a hello scattered wider is read as far as it is whole from its
// start.
const maxSpans = 16

// spans are the parts of a QUIC ClientHello held, as byte ranges: sorted,
// apart.
type spans struct {
	n uint8
	s [maxSpans]struct{ from, to uint16 }
}

// add records that bytes [from, to) are held; false when they would make
// more than maxSpans parts.
func (s *spans) add(from, to int) bool {
	if from >= to {
		return true
	}
	f, t := uint16(from), uint16(to)
	i := 0
	for i < int(s.n) && s.s[i].to < f {
		i++
	}
	// The parts from i to j overlap or touch [f, t), and merge with it.
	j := i
	for ; j < int(s.n) && s.s[j].from <= t; j++ {
		f, t = min(f, s.s[j].from), max(t, s.s[j].to)
	}
	if j == i && s.n == maxSpans {
		return false
	}
	n := int(s.n) - (j - i) + 1
	copy(s.s[i+1:n], s.s[j:s.n])
	s.s[i].from, s.s[i].to = f, t
	s.n = uint8(n)
	return true
}

// prefix is how many bytes are held from the hello's start on.
func (s *spans) prefix() int {
	if s.n > 0 && s.s[0].from == 0 {
		return int(s.s[0].to)
	}
	return 0
}

// quicPacket reads p, a packet of UDP flow f from direction dir (one with
// a long header, or any while the flow's hello is being put together),
// for the Initial packets of a QUIC client, the flow's source: it
// adds their CRYPTO frames to the ClientHello being put together, and
// reads it once whole. The first packets of a hello go to the scratch
// buffer; a hello they leave unfinished takes a buffer of its own.
func (k *cache) quicPacket(f *Flow, p *Packet, dir int) {
	if dir != 0 {
		return
	}
	a := k.hellos
	i := len(a.under) // the scratch buffer's place
	u := &k.quicScratch
	if f.tls == tlsAssembling {
		i = a.of(f)
		u = &a.under[i]
	} else {
		*u = helloAssembly{}
	}
	buf := a.buf(i)
	var keyDCID []byte
	if u.version != 0 {
		keyDCID = u.dcid[:u.dcidLen]
	}
	scattered := false
	for datagram := p.Payload; len(datagram) > 0; {
		in, err := k.quic.Open(datagram, keyDCID)
		if err != nil {
			if errors.Is(err, quic.ErrMalformed) {
				k.c.quicMalformed++
			}
			break // a coalesced Handshake or 0-RTT packet, or not QUIC
		}
		if u.version == 0 {
			u.version, u.dcidLen = in.Version, uint8(copy(u.dcid[:], in.DCID))
			keyDCID = u.dcid[:u.dcidLen]
		}
		// The tag is not checked: a packet whose frames do not all parse
		// (decrypted with keys not its own, or damaged) gives nothing.
		if !framesParse(in) {
			k.c.quicMalformed++
			break
		}
		k.c.quicInitials++
		frames := quic.NewFrames(in.Payload)
		for {
			off, data, ok, _ := frames.NextCrypto()
			if !ok {
				break
			}
			if off >= maxHello {
				continue
			}
			end := min(int(off)+len(data), maxHello)
			copy(buf[off:end], data)
			scattered = !u.spans.add(int(off), end) || scattered
		}
		datagram = datagram[min(in.Size, len(datagram)):]
	}
	if u.version == 0 {
		return // no Initial packet: look on
	}
	held := u.spans.prefix()
	need := quicHelloLen(buf[:held])
	switch {
	case need > 0 && held >= need:
		if i < len(a.under) {
			k.c.hellosAssembled++
		}
	case scattered || need > maxHello:
		// What is whole from the start is what there will be.
		k.c.hellosUnassembled++
	default:
		if i == len(a.under) && u.spans.n > 0 {
			k.startQUICHello(f, u, seconds(p.TimeMicros))
		}
		return
	}
	if i < len(a.under) {
		k.endHello(f, i)
	} else {
		k.readQUICHello(f, buf, u)
	}
}

// framesParse reports whether the frames of Initial packet in all parse,
// the last one cut short only where the capture cut the packet.
func framesParse(in quic.Initial) bool {
	frames := quic.NewFrames(in.Payload)
	for {
		_, _, ok, err := frames.NextCrypto()
		if err != nil {
			return false
		}
		if !ok {
			return !frames.Overran() || in.Cut
		}
	}
}

// quicHelloLen is the length of the ClientHello message that starts b,
// its header's included, or 0 when b does not hold its header yet.
func quicHelloLen(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	return 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
}

// startQUICHello gives the hello of flow f, begun in the scratch buffer
// as u, a buffer of its own to wait for its next packets in; without one
// it reads what it has.
func (k *cache) startQUICHello(f *Flow, u *helloAssembly, now int64) {
	a := k.hellos
	scratch := a.scratch()
	i, ok := k.takeBuffer(now)
	if !ok {
		k.c.hellosUnassembled++
		k.readQUICHello(f, scratch, u)
		return
	}
	copy(a.buf(i), scratch[:u.spans.s[u.spans.n-1].to])
	a.under[i] = *u
	a.under[i].flow, a.under[i].dir, a.under[i].since = f, 0, now
	f.tls = tlsAssembling
}

// readQUICHello reads the QUIC ClientHello of flow f in buf, held as u
// tells, as far as it is whole from its start.
func (k *cache) readQUICHello(f *Flow, buf []byte, u *helloAssembly) {
	n := u.spans.prefix()
	if need := quicHelloLen(buf[:n]); need > 0 {
		n = min(n, need)
	}
	sni, _ := helloMessage(buf[:n], &k.hello)
	k.keepHello(f, sni, true, 'q')
	if u.version == quic.Version2 {
		f.hello |= helloQUIC2
	} else {
		f.hello |= helloQUIC1
	}
}
