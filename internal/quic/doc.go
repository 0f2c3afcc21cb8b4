// Package quic reads the Initial packets a QUIC client sends first, which
// carry its TLS ClientHello in CRYPTO frames: it removes their protection
// (RFC 9001 section 5; version 2, RFC 9369) with the keys anyone can derive
// from a packet's own destination connection ID, and walks their frames.
// A flow meter calls it for new flows, so it allocates nothing: its AES
// and HMAC work in buffers an Opener keeps.
//
// The AEAD tag is not checked. Initial keys are public, so the tag proves
// nothing against a forger; a packet damaged on its way, or opened with
// keys not its own, decrypts to frames that do not parse, which its
// reader is to refuse; and not checking it reads the frames of a packet
// the capture cut short.
package quic
