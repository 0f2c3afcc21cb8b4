package quic

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"encoding/binary"
	"errors"
	"hash"
)

// The versions whose Initial packets an Opener reads.
const (
	Version1 uint32 = 0x00000001 // RFC 9000
	Version2 uint32 = 0x6b3343cf // RFC 9369
)

// MaxConnIDLen is the longest connection ID of versions 1 and 2.
const MaxConnIDLen = 20

// Errors of Open. They say why a datagram is not read, for counting.
var (
	ErrNotInitial = errors.New("quic: not a long header Initial packet of version 1 or 2")
	ErrMalformed  = errors.New("quic: malformed Initial packet")
)

// versionParams are what a version's Initial protection takes: the salt
// of its initial secret, the labels of the keys derived from it, and the
// long header type of its Initial packets.
type versionParams struct {
	salt              [20]byte
	key, iv, hp       string
	initialPacketType byte
}

var (
	params1 = versionParams{
		salt: [20]byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a},
		key:  "quic key", iv: "quic iv", hp: "quic hp", initialPacketType: 0,
	}
	params2 = versionParams{
		salt: [20]byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9},
		key:  "quicv2 key", iv: "quicv2 iv", hp: "quicv2 hp", initialPacketType: 1,
	}
)

func paramsOf(version uint32) *versionParams {
	switch version {
	case Version1:
		return &params1
	case Version2:
		return &params2
	}
	return nil
}

// Initial is a client's Initial packet, its protection removed.
type Initial struct {
	Version uint32
	// DCID is the packet's destination connection ID, a view into the
	// datagram.
	DCID []byte
	// PacketNumber is the packet's full packet number as far as its
	// header tells (the client's first packets number from 0).
	PacketNumber uint64
	// Payload is the packet's frames, decrypted into the Opener's buffer
	// (valid until its next Open); short of the packet's when the capture
	// cut the datagram.
	Payload []byte
	// Size is the bytes of the datagram the packet takes: the next
	// coalesced packet starts there.
	Size int
	// Cut says that the datagram ends before the packet does: the capture
	// cut it short, Payload too.
	Cut bool
}

// An Opener removes the protection of Initial packets. It keeps the keys
// of the last connection it read, so that a client's second Initial packet
// costs no key derivation. It is not for concurrent use.
type Opener struct {
	mac   hash.Hash // SHA-256, reused
	state interface {
		encoding.BinaryAppender
		encoding.BinaryUnmarshaler
	} // mac's state
	salts   [2]hmacKey // params1's and params2's
	secret  hmacKey    // a secret being expanded
	pad     [64]byte   // HMAC's key block
	sum     [sha256.Size]byte
	inner   [sha256.Size]byte // an HMAC's inner hash
	label   [32]byte          // an HkdfLabel
	keyed   *versionParams
	keyDCID [MaxConnIDLen]byte
	keyLen  int
	aead    aes128 // the payload's key
	hp      aes128 // the header protection key
	iv      [12]byte
	block   [16]byte
	// plain holds a payload's key stream, then the payload: a UDP
	// datagram's largest, rounded up to whole blocks.
	plain [1<<16 + 16]byte
}

// hmacKey is an HMAC-SHA-256 key made ready: the hash's states after its
// inner and outer key blocks, which every message under the key starts
// from.
type hmacKey struct {
	inner, outer []byte // views into buf
	buf          [256]byte
}

// NewOpener returns an Opener.
func NewOpener() *Opener {
	o := &Opener{mac: sha256.New()}
	// crypto/sha256 documents that its hashes marshal their state.
	o.state = o.mac.(interface {
		encoding.BinaryAppender
		encoding.BinaryUnmarshaler
	})
	o.prepare(&o.salts[0], params1.salt[:])
	o.prepare(&o.salts[1], params2.salt[:])
	return o
}

// Open removes the protection of the client Initial packet at the start
// of datagram and decrypts its payload. keyDCID is the destination
// connection ID the keys derive from: that of the client's first Initial
// packet of the connection, nil for the packet's own. It returns
// ErrNotInitial for a datagram that does not start with an Initial packet
// of a version it reads, ErrMalformed for one whose header does not parse.
func (o *Opener) Open(datagram, keyDCID []byte) (Initial, error) {
	var in Initial
	b := datagram
	// A long header (RFC 9000 section 17.2): form bit set; the fixed bit
	// may be greased (RFC 9287).
	if len(b) < 7 || b[0]&0x80 == 0 {
		return in, ErrNotInitial
	}
	in.Version = binary.BigEndian.Uint32(b[1:])
	p := paramsOf(in.Version)
	if p == nil || b[0]>>4&3 != p.initialPacketType {
		return in, ErrNotInitial
	}
	at := 5
	dcidLen := int(b[at])
	if dcidLen > MaxConnIDLen || at+1+dcidLen >= len(b) {
		return in, ErrMalformed
	}
	in.DCID = b[at+1 : at+1+dcidLen]
	at += 1 + dcidLen
	scidLen := int(b[at])
	if scidLen > MaxConnIDLen {
		return in, ErrMalformed
	}
	at += 1 + scidLen
	tokenLen, n := varint(b, at)
	if n == 0 || tokenLen > uint64(len(b)) {
		return in, ErrMalformed
	}
	at += n + int(tokenLen)
	length, n := varint(b, at)
	if n == 0 || length > 1<<16 {
		return in, ErrMalformed
	}
	pnAt := at + n
	// The sample of header protection starts 4 bytes after the packet
	// number's first: a packet number takes 1 to 4 bytes; the tag makes
	// every packet long enough.
	if length < 4+16 || pnAt+4+16 > len(b) {
		return in, ErrMalformed
	}
	in.Size, in.Cut = pnAt+int(length), pnAt+int(length) > len(b)
	if keyDCID == nil {
		keyDCID = in.DCID
	}
	o.setKeys(p, keyDCID)
	copy(o.block[:], b[pnAt+4:])
	o.hp.encrypt(&o.block, &o.block) // the mask
	first := b[0] ^ o.block[0]&0x0f
	pnLen := int(first&3) + 1
	for i := range pnLen {
		in.PacketNumber = in.PacketNumber<<8 | uint64(b[pnAt+i]^o.block[1+i])
	}
	// The payload: what follows the packet number, but the tag, as far
	// as the datagram holds it.
	start, end := pnAt+pnLen, min(in.Size-16, len(b))
	if end < start {
		end = start
	}
	in.Payload = o.decrypt(b[start:end], in.PacketNumber)
	return in, nil
}

// setKeys derives the client's Initial keys of version p for the
// connection whose first Initial packet was sent to dcid, unless they are
// the keys it holds.
func (o *Opener) setKeys(p *versionParams, dcid []byte) {
	if o.keyed == p && string(o.keyDCID[:o.keyLen]) == string(dcid) {
		return
	}
	// initial_secret = HKDF-Extract(salt, dcid); the client's secret is
	// HKDF-Expand-Label(initial_secret, "client in", "", 32); its key, IV
	// and header protection key are expanded from that (RFC 9001 5.2).
	salt := &o.salts[0]
	if p == &params2 {
		salt = &o.salts[1]
	}
	o.hmac(o.sum[:], salt, dcid)
	o.prepare(&o.secret, o.sum[:])
	o.prepare(&o.secret, o.expandLabel("client in", sha256.Size))
	var key [16]byte
	copy(key[:], o.expandLabel(p.key, 16))
	o.aead.setKey(&key)
	copy(o.iv[:], o.expandLabel(p.iv, 12))
	copy(key[:], o.expandLabel(p.hp, 16))
	o.hp.setKey(&key)
	o.keyed, o.keyLen = p, copy(o.keyDCID[:], dcid)
}

// expandLabel is TLS 1.3's HKDF-Expand-Label(secret, label, "", length)
// of o.secret, for length <= 32: a single HMAC block, a view into o.sum.
func (o *Opener) expandLabel(label string, length int) []byte {
	l := o.label[:0]
	l = binary.BigEndian.AppendUint16(l, uint16(length))
	l = append(l, byte(len("tls13 ")+len(label)))
	l = append(l, "tls13 "...)
	l = append(l, label...)
	l = append(l, 0, 1) // an empty context; the counter of HKDF-Expand's first block
	o.hmac(o.sum[:], &o.secret, l)
	return o.sum[:length]
}

// prepare makes key, at most 64 bytes, ready in k.
func (o *Opener) prepare(k *hmacKey, key []byte) {
	o.keyBlock(key, 0x36)
	o.mac.Reset()
	o.mac.Write(o.pad[:])
	k.inner, _ = o.state.AppendBinary(k.buf[:0])
	o.keyBlock(key, 0x5c)
	o.mac.Reset()
	o.mac.Write(o.pad[:])
	k.outer, _ = o.state.AppendBinary(k.buf[len(k.inner):len(k.inner)])
}

// hmac puts HMAC-SHA-256(k, msg) in out, which may be o.sum.
func (o *Opener) hmac(out []byte, k *hmacKey, msg []byte) {
	o.state.UnmarshalBinary(k.inner)
	o.mac.Write(msg)
	inner := o.mac.Sum(o.inner[:0])
	o.state.UnmarshalBinary(k.outer)
	o.mac.Write(inner)
	o.mac.Sum(out[:0])
}

// keyBlock puts HMAC's key block, key padded with zeros and XOR-ed with
// pad, in o.pad.
func (o *Opener) keyBlock(key []byte, pad byte) {
	clear(o.pad[copy(o.pad[:], key):])
	p := uint64(pad) * 0x0101010101010101
	for i := 0; i < len(o.pad); i += 8 {
		binary.LittleEndian.PutUint64(o.pad[i:], binary.LittleEndian.Uint64(o.pad[i:])^p)
	}
}

// decrypt decrypts src into o.plain as AES-GCM does, without its tag: by
// the key stream of counter blocks that start at the nonce and count from
// 2.
func (o *Opener) decrypt(src []byte, pn uint64) []byte {
	var nonce [12]byte
	copy(nonce[:], o.iv[:])
	binary.BigEndian.PutUint64(nonce[4:], binary.BigEndian.Uint64(nonce[4:])^pn)
	stream := o.plain[:(len(src)+15)/16*16]
	for i, n := 0, uint32(2); i < len(stream); i, n = i+16, n+1 {
		copy(stream[i:], nonce[:])
		binary.BigEndian.PutUint32(stream[i+12:], n)
	}
	o.aead.encryptBlocks(stream)
	return o.plain[:subtle.XORBytes(o.plain[:], stream, src)]
}

// varint reads the variable-length integer at b[at:] (RFC 9000 section
// 16); n is its length, 0 when it overruns b.
func varint(b []byte, at int) (v uint64, n int) {
	if at >= len(b) {
		return 0, 0
	}
	n = 1 << (b[at] >> 6)
	if at+n > len(b) {
		return 0, 0
	}
	v = uint64(b[at] & 0x3f)
	for _, c := range b[at+1 : at+n] {
		v = v<<8 | uint64(c)
	}
	return v, n
}
