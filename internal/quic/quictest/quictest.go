// Package quictest makes QUIC Initial packets as clients send them, for
// tests of what reads them. It derives keys and encrypts with the standard
// library (crypto/hkdf, AES-GCM), apart from the code under test.
package quictest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// The versions' Initial salts (RFC 9001 section 5.2, RFC 9369 section
// 3.3.1), labels' prefixes and Initial packet types.
var versions = map[uint32]struct {
	salt, prefix string
	initialType  byte
}{
	0x00000001: {"38762cf7f55934b34d179ae6a4c80cadccbb7f0a", "quic ", 0},
	0x6b3343cf: {"0dede3def700a6db819381be6e269dcbf9bd2ed9", "quicv2 ", 1},
}

// Keys are a client's Initial keys.
type Keys struct{ Key, IV, HP []byte }

// ClientKeys derives the client's Initial keys of version for a connection
// whose first Initial packet goes to dcid.
func ClientKeys(version uint32, dcid []byte) Keys {
	v, ok := versions[version]
	if !ok {
		panic(fmt.Sprintf("quictest: version %#x", version))
	}
	salt, _ := hex.DecodeString(v.salt)
	initial, err := hkdf.Extract(sha256.New, dcid, salt)
	if err != nil {
		panic(err)
	}
	client := expandLabel(initial, "client in", 32)
	return Keys{Key: expandLabel(client, v.prefix+"key", 16), IV: expandLabel(client, v.prefix+"iv", 12), HP: expandLabel(client, v.prefix+"hp", 16)}
}

func expandLabel(secret []byte, label string, length int) []byte {
	info := binary.BigEndian.AppendUint16(nil, uint16(length))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "+label...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), length)
	if err != nil {
		panic(err)
	}
	return out
}

// Initial is a client Initial packet to make.
type Initial struct {
	Version      uint32
	DCID, SCID   []byte
	Token        []byte
	PacketNumber uint64
	PNLen        int    // 1 to 4 bytes
	KeyDCID      []byte // the DCID the keys derive from; nil for DCID
	Frames       []byte
}

// Header is the packet's header, unprotected.
func (in *Initial) Header() []byte {
	h := []byte{0xc0 | versions[in.Version].initialType<<4 | byte(in.PNLen-1)}
	h = binary.BigEndian.AppendUint32(h, in.Version)
	h = append(h, byte(len(in.DCID)))
	h = append(h, in.DCID...)
	h = append(h, byte(len(in.SCID)))
	h = append(h, in.SCID...)
	h = AppendVarint(h, uint64(len(in.Token)))
	h = append(h, in.Token...)
	// The length as two bytes, as clients write it.
	h = binary.BigEndian.AppendUint16(h, 0x4000|uint16(in.PNLen+len(in.Frames)+16))
	for i := in.PNLen - 1; i >= 0; i-- {
		h = append(h, byte(in.PacketNumber>>(8*i)))
	}
	return h
}

// Seal returns the packet, protected.
func (in *Initial) Seal() []byte {
	keyDCID := in.KeyDCID
	if keyDCID == nil {
		keyDCID = in.DCID
	}
	k := ClientKeys(in.Version, keyDCID)
	header := in.Header()
	block, err := aes.NewCipher(k.Key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	nonce := append([]byte(nil), k.IV...)
	for i := range 8 {
		nonce[4+i] ^= byte(in.PacketNumber >> (56 - 8*i))
	}
	packet := aead.Seal(append([]byte(nil), header...), nonce, in.Frames, header)
	// Header protection (RFC 9001 section 5.4).
	hp, err := aes.NewCipher(k.HP)
	if err != nil {
		panic(err)
	}
	pnAt := len(header) - in.PNLen
	var mask [16]byte
	hp.Encrypt(mask[:], packet[pnAt+4:pnAt+20])
	packet[0] ^= mask[0] & 0x0f
	for i := range in.PNLen {
		packet[pnAt+i] ^= mask[1+i]
	}
	return packet
}

// AppendVarint appends v as a variable-length integer, in its shortest
// form.
func AppendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, 0x4000|uint16(v))
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, 0x8000_0000|uint32(v))
	}
	return binary.BigEndian.AppendUint64(b, 0xc000_0000_0000_0000|v)
}

// Crypto appends a CRYPTO frame of data at offset.
func Crypto(b []byte, offset uint64, data []byte) []byte {
	b = append(b, 0x06)
	b = AppendVarint(b, offset)
	b = AppendVarint(b, uint64(len(data)))
	return append(b, data...)
}
