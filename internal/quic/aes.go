package quic

import (
	"encoding/binary"
	"math/bits"
)

// aes128 encrypts blocks with an expanded AES-128 key (FIPS 197). Only
// encryption is needed: header protection encrypts a sample, and GCM
// decrypts by encrypting counter blocks. crypto/aes allocates its cipher
// for every key, and a key lasts one connection here.
type aes128 struct {
	rk [44]uint32 // round keys
}

// sbox is AES's S-box; te0..te3 join SubBytes, ShiftRows and MixColumns
// for one byte of a column, rotated for its row.
var (
	sbox               [256]byte
	te0, te1, te2, te3 [256]uint32
)

func init() {
	// The S-box, by walking the multiplicative group of GF(2^8) with
	// generator 3: p runs over its elements and q over their inverses.
	p, q := byte(1), byte(1)
	for {
		p ^= p<<1 ^ byte(int8(p)>>7)&0x1b // p × 3
		q ^= q << 1                       // q ÷ 3
		q ^= q << 2
		q ^= q << 4
		if q&0x80 != 0 {
			q ^= 0x09
		}
		sbox[p] = 0x63 ^ q ^ bits.RotateLeft8(q, 1) ^ bits.RotateLeft8(q, 2) ^ bits.RotateLeft8(q, 3) ^ bits.RotateLeft8(q, 4)
		if p == 1 {
			break
		}
	}
	sbox[0] = 0x63
	for i, s := range sbox {
		s2 := xtime(s)
		w := uint32(s2)<<24 | uint32(s)<<16 | uint32(s)<<8 | uint32(s2^s)
		te0[i], te1[i], te2[i], te3[i] = w, bits.RotateLeft32(w, -8), bits.RotateLeft32(w, -16), bits.RotateLeft32(w, -24)
	}
}

// xtime multiplies b by x (2) in GF(2^8).
func xtime(b byte) byte { return b<<1 ^ byte(int8(b)>>7)&0x1b }

// subWord applies the S-box to each byte of w.
func subWord(w uint32) uint32 {
	return uint32(sbox[w>>24])<<24 | uint32(sbox[w>>16&0xff])<<16 | uint32(sbox[w>>8&0xff])<<8 | uint32(sbox[w&0xff])
}

// setKey expands key.
func (c *aes128) setKey(key *[16]byte) {
	for i := range 4 {
		c.rk[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := 4; i < len(c.rk); i++ {
		t := c.rk[i-1]
		if i%4 == 0 {
			t = subWord(bits.RotateLeft32(t, 8)) ^ rcon<<24
			rcon = uint32(xtime(byte(rcon)))
		}
		c.rk[i] = c.rk[i-4] ^ t
	}
}

// encrypt encrypts the block src into dst (they may be the same).
func (c *aes128) encrypt(dst, src *[16]byte) {
	rk := &c.rk
	s0 := binary.BigEndian.Uint32(src[0:]) ^ rk[0]
	s1 := binary.BigEndian.Uint32(src[4:]) ^ rk[1]
	s2 := binary.BigEndian.Uint32(src[8:]) ^ rk[2]
	s3 := binary.BigEndian.Uint32(src[12:]) ^ rk[3]
	for r := 4; r < 40; r += 4 {
		t0 := te0[s0>>24] ^ te1[s1>>16&0xff] ^ te2[s2>>8&0xff] ^ te3[s3&0xff] ^ rk[r]
		t1 := te0[s1>>24] ^ te1[s2>>16&0xff] ^ te2[s3>>8&0xff] ^ te3[s0&0xff] ^ rk[r+1]
		t2 := te0[s2>>24] ^ te1[s3>>16&0xff] ^ te2[s0>>8&0xff] ^ te3[s1&0xff] ^ rk[r+2]
		t3 := te0[s3>>24] ^ te1[s0>>16&0xff] ^ te2[s1>>8&0xff] ^ te3[s2&0xff] ^ rk[r+3]
		s0, s1, s2, s3 = t0, t1, t2, t3
	}
	// The last round has no MixColumns.
	binary.BigEndian.PutUint32(dst[0:], lastRound(s0, s1, s2, s3)^rk[40])
	binary.BigEndian.PutUint32(dst[4:], lastRound(s1, s2, s3, s0)^rk[41])
	binary.BigEndian.PutUint32(dst[8:], lastRound(s2, s3, s0, s1)^rk[42])
	binary.BigEndian.PutUint32(dst[12:], lastRound(s3, s0, s1, s2)^rk[43])
}

// lastRound is one column of the last round's SubBytes and ShiftRows.
func lastRound(a, b, c, d uint32) uint32 {
	return uint32(sbox[a>>24])<<24 | uint32(sbox[b>>16&0xff])<<16 | uint32(sbox[c>>8&0xff])<<8 | uint32(sbox[d&0xff])
}

// encryptEach encrypts the blocks of b, a multiple of 16 bytes, in place,
// one by one.
func (c *aes128) encryptEach(b []byte) {
	for i := 0; i < len(b); i += 16 {
		block := (*[16]byte)(b[i:])
		c.encrypt(block, block)
	}
}
