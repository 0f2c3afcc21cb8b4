package flowmeter

// TLS constants of the hello messages.
const (
	tlsHandshake    = 22
	tlsClientHello  = 1
	tlsServerHello  = 2
	tlsExtSNI       = 0
	tlsExtALPN      = 16
	tlsHelloMinSize = 44 // type, length, version, random, session id, ciphers, compression, extensions' length
)

// tlsHello reads a TLS hello at the start of stream, a packet's payload
// or a ClientHello's segments put back together (hellos.go): as
// ipfixprobe's tls plugin reads a packet's, but the message may span
// records, as clients that hide the server name from DPI split it (see
// helloRecords; scratch, maxHello bytes, gathers it then). h.need is the
// length of the stream that holds a ClientHello that goes on past it, as
// far as it tells.
func tlsHello(stream []byte, h *helloParts, scratch []byte) (sni []byte, done bool) {
	msg, need, whole := helloRecords(stream, scratch)
	if need == 0 {
		*h = helloParts{}
		return nil, false
	}
	sni, done = helloMessage(msg, h)
	if !whole && need > len(stream) && (len(msg) == 0 || msg[0] == tlsClientHello) {
		h.need = need
	}
	return sni, done
}

// helloRecords gathers the handshake message that the TLS records at the
// start of stream carry: msg is the message as far as stream holds it, a
// view into stream when its first record holds it, else gathered into
// scratch (its first len(scratch) bytes) without the records' headers;
// whole says that all of it is there. need is the length of stream that
// holds the message as far as stream tells: past stream's end, the end of
// its last record or the next record's header; at most its end when a
// record of another kind cuts the message short; 0 when stream does not
// start with a handshake record.
func helloRecords(stream, scratch []byte) (msg []byte, need int, whole bool) {
	if len(stream) == 0 {
		return nil, 0, false
	}
	msgLen := -1 // unknown until its header is there
	gathered := false
	for at := 0; ; {
		if !handshakeHeader(stream[at:min(at+5, len(stream))]) {
			return msg, at, false
		}
		if at+5 > len(stream) {
			return msg, at + 5, false
		}
		end := at + 5 + int(be.Uint16(stream[at+3:]))
		part := stream[at+5 : min(end, len(stream))]
		before := len(msg)
		switch {
		case at == 0:
			msg = part
		case !gathered:
			gathered = true
			n := copy(scratch, msg)
			msg = scratch[:n+copy(scratch[n:], part)]
		default:
			msg = scratch[:before+copy(scratch[before:], part)]
		}
		if msgLen < 0 && len(msg) >= 4 {
			msgLen = 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
		}
		// Where the message ends in stream, if in this record.
		msgEnd := at + 5 + msgLen - before
		switch {
		case msgLen >= 0 && len(msg) >= msgLen:
			return msg[:msgLen], msgEnd, true
		case end > len(stream) && msgLen >= 0:
			return msg, min(end, msgEnd), false
		case end > len(stream):
			return msg, end, false
		}
		at = end
	}
}

// handshakeHeader reports whether h may be a handshake record's header,
// as far as it goes (some clients send the header's first 2 bytes alone,
// to evade DPI): content type, version 3.x with x <= 3, length.
func handshakeHeader(h []byte) bool {
	return (len(h) < 1 || h[0] == tlsHandshake) && (len(h) < 2 || h[1] == 3) && (len(h) < 3 || h[2] <= 3)
}

// helloMessage reads the TLS hello message at the start of b, whole or
// its first part. done reports a hello that ends the search, a
// ClientHello or a ServerHello that names an ALPN protocol; sni is the
// first host name of a ClientHello's server_name extension, a view into
// b, or nil. h gets the parts of a ClientHello its fingerprints are made
// of; h.whole is false unless it is one whose extensions all lie in b,
// well formed.
func helloMessage(b []byte, h *helloParts) (sni []byte, done bool) {
	*h = helloParts{}
	if len(b) < tlsHelloMinSize {
		return nil, false
	}
	typ := b[0]
	if typ != tlsClientHello && typ != tlsServerHello || b[4] != 3 || b[5] < 1 || b[5] > 3 {
		return nil, false
	}
	client := typ == tlsClientHello
	p := 4 + 2 + 32 // type and length, version, random
	sessionID := int(b[p])
	if p+sessionID+2 > len(b) {
		return nil, false
	}
	p += 1 + sessionID
	if client {
		if p+2 > len(b) {
			return nil, false
		}
		ciphers := int(be.Uint16(b[p:]))
		if p += 2 + ciphers; p >= len(b) {
			return nil, false
		}
		h.version, h.ciphers = be.Uint16(b[4:]), b[p-ciphers:p]
		compression := int(b[p])
		if p+compression+3 > len(b) {
			return nil, false
		}
		p += 1 + compression
	} else {
		p += 2 + 1 // the chosen cipher suite and compression method
	}
	if p+2 > len(b) {
		return nil, false
	}
	end := len(b)
	extEnd := p + 2 + int(be.Uint16(b[p:]))
	whole := client && extEnd <= end
	if extEnd <= end {
		end = extEnd
	}
	p += 2
	exts := p
	for p+4 <= end {
		extType, extLen := be.Uint16(b[p:]), int(be.Uint16(b[p+2:]))
		if p+4+extLen > end {
			break
		}
		ext := b[p+4 : p+4+extLen]
		p += 4 + extLen
		if !client {
			if extType == tlsExtALPN {
				return nil, true
			}
			continue
		}
		ok := true
		switch extType {
		case tlsExtSNI:
			name, nameOK := firstHostName(ext)
			if !nameOK {
				// A broken server_name list voids the hello.
				return nil, false
			}
			if sni == nil {
				sni = name
			}
			h.sni = true
		case tlsExtALPN:
			var list []byte
			if list, ok = sublist(ext, 2); ok && len(list) > 0 {
				h.alpn, ok = sublist(list, 1)
			}
		case tlsExtGroups:
			h.groups, ok = sublist(ext, 2)
		case tlsExtPointFormats:
			h.formats, ok = sublist(ext, 1)
		case tlsExtSigAlgs:
			h.sigAlgs, ok = sublist(ext, 2)
		case tlsExtSupportedVersions:
			h.versions, ok = sublist(ext, 1)
		}
		whole = whole && ok
	}
	if whole && p == end {
		h.exts, h.whole = b[exts:end], true
	}
	return sni, client
}

// sublist returns the list at the start of b whose length, big-endian,
// takes its first size bytes; ok is false when the list overruns b.
func sublist(b []byte, size int) (list []byte, ok bool) {
	if len(b) < size {
		return nil, false
	}
	n := int(b[0])
	if size == 2 {
		n = int(be.Uint16(b))
	}
	if size+n > len(b) {
		return nil, false
	}
	return b[size : size+n], true
}

// firstHostName returns the first name of a server_name extension's list
// (ipfixprobe takes the first entry, whatever its name type), or nil when
// there is none whole; ok is false when the list overruns the extension.
func firstHostName(ext []byte) (name []byte, ok bool) {
	if len(ext) < 2 {
		return nil, false
	}
	listEnd := 2 + int(be.Uint16(ext))
	if listEnd > len(ext) {
		return nil, false
	}
	if 2+3 >= listEnd {
		return nil, true
	}
	n := int(be.Uint16(ext[3:]))
	if 5+n > listEnd {
		return nil, true
	}
	return ext[5 : 5+n], true
}
