package quic

import (
	"crypto/aes"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestAESAsFIPS197 encrypts FIPS 197's example (appendix C.1) and, for
// random keys and blocks, what crypto/aes encrypts.
func TestAESAsFIPS197(t *testing.T) {
	var key, block [16]byte
	hex.Decode(key[:], []byte("000102030405060708090a0b0c0d0e0f"))
	hex.Decode(block[:], []byte("00112233445566778899aabbccddeeff"))
	var c aes128
	c.setKey(&key)
	var out [16]byte
	c.encrypt(&out, &block)
	if got, want := hex.EncodeToString(out[:]), "69c4e0d86a7b0430d8cdb78070b4c55a"; got != want {
		t.Errorf("FIPS 197 C.1: %s, want %s", got, want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		for j := range 16 {
			key[j], block[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		c.setKey(&key)
		c.encrypt(&out, &block)
		std, _ := aes.NewCipher(key[:])
		var want [16]byte
		std.Encrypt(want[:], block[:])
		if out != want {
			t.Fatalf("case %d: key %x block %x: %x, crypto/aes %x", i, key, block, out, want)
		}
	}
}

// TestEncryptBlocks: the blocks encrypted together (with the processor's
// AES instructions, where it has them, four at a time) are those
// encrypted one by one.
func TestEncryptBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var key [16]byte
	for n := range 10 {
		for j := range key {
			key[j] = byte(r.Uint32())
		}
		var c aes128
		c.setKey(&key)
		blocks := make([]byte, 16*n+5) // a part block after them, left be
		for j := range blocks {
			blocks[j] = byte(r.Uint32())
		}
		want := append([]byte(nil), blocks...)
		c.encryptEach(want[:16*n])
		c.encryptBlocks(blocks)
		if string(blocks) != string(want) {
			t.Errorf("%d blocks: %x, want %x", n, blocks, want)
		}
	}
}

func BenchmarkAES(b *testing.B) {
	var key, block [16]byte
	var c aes128
	b.ReportAllocs()
	b.SetBytes(16)
	for b.Loop() {
		c.setKey(&key)
		c.encrypt(&block, &block)
	}
}

func BenchmarkAESBlock(b *testing.B) {
	var key, block [16]byte
	var c aes128
	c.setKey(&key)
	b.SetBytes(16)
	for b.Loop() {
		c.encrypt(&block, &block)
	}
}
