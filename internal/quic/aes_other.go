//go:build !amd64 || purego

package quic

// encryptBlocks encrypts the whole blocks of b in place.
func (c *aes128) encryptBlocks(b []byte) { c.encryptEach(b[:len(b)/16*16]) }
