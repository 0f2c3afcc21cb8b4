package flowmeter

import (
	"crypto/md5"
	"crypto/sha256"
	"hash"
	"slices"
)

// helloParts are the parts of a ClientHello its fingerprints are made of,
// views into what tlsHello read (a packet's payload, or a hello put back
// together), and the length of one that goes on past it: tlsHello fills
// them.
type helloParts struct {
	need     int    // the bytes of the record of a ClientHello that goes on past the packet, its header's included
	whole    bool   // a ClientHello whose extensions all lie in the packet, well formed
	version  uint16 // legacy_version
	ciphers  []byte // cipher suites, 2 bytes each
	exts     []byte // the extensions, as they come
	groups   []byte // supported_groups, 2 bytes each
	formats  []byte // ec_point_formats, 1 byte each
	sigAlgs  []byte // signature_algorithms, 2 bytes each
	versions []byte // supported_versions, 2 bytes each
	alpn     []byte // the first ALPN protocol, nil without one
	sni      bool   // a server_name extension
}

// TLS extensions the fingerprints read.
const (
	tlsExtGroups            = 10
	tlsExtPointFormats      = 11
	tlsExtSigAlgs           = 13
	tlsExtSupportedVersions = 43
)

// ja4Len is the size of a JA4 fingerprint as a flow keeps it: its first
// part as text (10 characters), then the 6 bytes of each hash that its
// second and third parts show in hex.
const ja4Len = 10 + 6 + 6

// grease reports whether v is one of the values TLS clients send to keep
// servers tolerant of unknown ones (RFC 8701): 0x?a?a with equal bytes.
// Both fingerprints leave them out.
func grease(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// fingerprinter computes the fingerprints of ClientHellos, without
// allocating: its hashes and scratch are made once, for a meter.
type fingerprinter struct {
	md5, sha hash.Hash
	w        hashWriter
	// values holds a hello's lists of values, GREASE left out: fewer than
	// 2^16 together, as they lie in its cipher suites and its extensions,
	// each at most 2^16-1 bytes, 2 bytes or more a value.
	values [1 << 16]uint16
	sum    [sha256.Size]byte
}

func newFingerprinter() *fingerprinter {
	return &fingerprinter{md5: md5.New(), sha: sha256.New()}
}

// fingerprint writes the JA3 and JA4 fingerprints of the ClientHello h,
// which came over transport ('t' TCP, 'q' QUIC), to ja3 and ja4.
//
// JA3 (Salesforce's) is the MD5 of "version,ciphers,extensions,groups,
// point formats", each list's values in decimal in the hello's order,
// joined by '-'.
//
// JA4 (FoxIO's, for TLS clients) is kept as its first part's text and its
// hashes' first 6 bytes: the transport, the highest version offered, "d"
// with a server name or "i", the counts of cipher suites and of
// extensions, the first ALPN protocol's first and last character; then the SHA-256 of the
// cipher suites sorted, in 4-digit hex joined by ','; then that of the
// extensions sorted, server_name and ALPN left out, and "_" and the
// signature algorithms as they come, if any. A list without values hashes
// to zeros.
//
// GREASE values count in neither.
func (fp *fingerprinter) fingerprint(h *helloParts, transport byte, ja3 *[md5.Size]byte, ja4 *[ja4Len]byte) {
	ciphers, rest := appendValues(fp.values[:0], h.ciphers)
	exts := rest
	for e := h.exts; len(e) >= 4; e = e[4+int(be.Uint16(e[2:])):] {
		if t := be.Uint16(e); !grease(t) {
			exts = append(exts, t)
		}
	}
	groups, rest := appendValues(exts[len(exts):], h.groups)
	sigAlgs, _ := appendValues(rest, h.sigAlgs)

	w := &fp.w
	w.reset(fp.md5)
	w.decimal(h.version)
	for _, list := range [...][]uint16{ciphers, exts, groups} {
		w.byte(',')
		w.decimals(list)
	}
	w.byte(',')
	for i, f := range h.formats {
		if i > 0 {
			w.byte('-')
		}
		w.decimal(uint16(f))
	}
	w.sum(ja3[:0])

	ja4[0] = transport
	copy(ja4[1:3], ja4Version(h))
	ja4[3] = "id"[b2i(h.sni)]
	putCount(ja4[4:6], len(ciphers))
	putCount(ja4[6:8], len(exts))
	putALPN(ja4[8:10], h.alpn)
	slices.Sort(ciphers)
	fp.sortedHash(ciphers, nil, ja4[10:16])
	exts = slices.DeleteFunc(exts, func(t uint16) bool { return t == tlsExtSNI || t == tlsExtALPN })
	slices.Sort(exts)
	fp.sortedHash(exts, sigAlgs, ja4[16:22])
}

// appendValues appends the 2-byte values of a list to dst, GREASE values
// left out, and returns the values appended and dst's room after them.
func appendValues(dst []uint16, list []byte) (values, rest []uint16) {
	for ; len(list) >= 2; list = list[2:] {
		if v := be.Uint16(list); !grease(v) {
			dst = append(dst, v)
		}
	}
	return dst, dst[len(dst):]
}

// sortedHash writes to out the first bytes of the SHA-256 of list in hex,
// then, when after has values, "_" and after's too; zeros when list is
// empty.
func (fp *fingerprinter) sortedHash(list, after []uint16, out []byte) {
	if len(list) == 0 {
		clear(out)
		return
	}
	w := &fp.w
	w.reset(fp.sha)
	w.hexes(list)
	if len(after) > 0 {
		w.byte('_')
		w.hexes(after)
	}
	copy(out, w.sum(fp.sum[:0]))
}

// ja4Version is JA4's version: the highest of supported_versions, or
// else the hello's own.
func ja4Version(h *helloParts) string {
	v := h.version
	if h.versions != nil {
		v = 0
		for s := h.versions; len(s) >= 2; s = s[2:] {
			if x := be.Uint16(s); !grease(x) {
				v = max(v, x)
			}
		}
	}
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// putALPN puts the first and last character of the first ALPN protocol
// p when both are letters or digits, else the first and last digit of
// its hex; "00" without one.
func putALPN(dst, p []byte) {
	switch {
	case len(p) == 0:
		copy(dst, "00")
	case alnum(p[0]) && alnum(p[len(p)-1]):
		dst[0], dst[1] = p[0], p[len(p)-1]
	default:
		dst[0], dst[1] = hexDigits[p[0]>>4], hexDigits[p[len(p)-1]&0xf]
	}
}

func alnum(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }

// putCount puts n in two digits, 99 at most.
func putCount(dst []byte, n int) {
	n = min(n, 99)
	dst[0], dst[1] = byte('0'+n/10), byte('0'+n%10)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

const hexDigits = "0123456789abcdef"

// hashWriter feeds text to a hash through a buffer of its own, so that a
// fingerprint's text need not be whole anywhere.
type hashWriter struct {
	h   hash.Hash
	buf [512]byte
	n   int
}

func (w *hashWriter) reset(h hash.Hash) {
	h.Reset()
	w.h, w.n = h, 0
}

// room makes room for k more bytes.
func (w *hashWriter) room(k int) {
	if w.n+k > len(w.buf) {
		w.h.Write(w.buf[:w.n])
		w.n = 0
	}
}

func (w *hashWriter) byte(c byte) {
	w.room(1)
	w.buf[w.n] = c
	w.n++
}

func (w *hashWriter) decimal(v uint16) {
	w.room(5)
	n := 1 + b2i(v >= 10) + b2i(v >= 100) + b2i(v >= 1000) + b2i(v >= 10000)
	d := w.buf[w.n : w.n+n]
	for i := n - 1; i > 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	d[0] = byte('0' + v)
	w.n += n
}

func (w *hashWriter) hex4(v uint16) {
	w.room(4)
	w.buf[w.n] = hexDigits[v>>12]
	w.buf[w.n+1] = hexDigits[v>>8&0xf]
	w.buf[w.n+2] = hexDigits[v>>4&0xf]
	w.buf[w.n+3] = hexDigits[v&0xf]
	w.n += 4
}

// decimals writes values in decimal, joined by '-'.
func (w *hashWriter) decimals(values []uint16) {
	for i, v := range values {
		if i > 0 {
			w.byte('-')
		}
		w.decimal(v)
	}
}

// hexes writes values in 4-digit hex, joined by ','.
func (w *hashWriter) hexes(values []uint16) {
	for i, v := range values {
		if i > 0 {
			w.byte(',')
		}
		w.hex4(v)
	}
}

// sum appends the hash of what was written to dst.
func (w *hashWriter) sum(dst []byte) []byte {
	w.h.Write(w.buf[:w.n])
	w.n = 0
	return w.h.Sum(dst)
}
