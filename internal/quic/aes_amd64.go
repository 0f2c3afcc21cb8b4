//go:build amd64 && !purego

package quic

import (
	"encoding/binary"

	"golang.org/x/sys/cpu"
)

// aesni is whether the processor has AES instructions.
var aesni = cpu.X86.HasAES

// encryptBlocks encrypts the whole blocks of b in place.
func (c *aes128) encryptBlocks(b []byte) {
	n := len(b) / 16
	if n == 0 {
		return
	}
	if !aesni {
		c.encryptEach(b[:16*n])
		return
	}
	var keys [176]byte
	for i, w := range c.rk {
		binary.BigEndian.PutUint32(keys[4*i:], w)
	}
	encryptBlocksAESNI(&keys, &b[0], n)
}

// encryptBlocksAESNI encrypts n blocks at blocks in place with the round
// keys in keys, as bytes (aes_amd64.s).
//
//go:noescape
func encryptBlocksAESNI(keys *[176]byte, blocks *byte, n int)
