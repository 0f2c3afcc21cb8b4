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

// tlsHello reads a TLS hello at the start of a packet's payload, as
// ipfixprobe's tls plugin does: one packet, no reassembly. done reports a
// hello that ends the search, a ClientHello or a ServerHello that names an
// ALPN protocol; sni is the first host name of a ClientHello's server_name
// extension, a view into payload, or nil.
func tlsHello(payload []byte) (sni []byte, done bool) {
	// The record header: content type, version 3.x with x <= 3, length.
	if len(payload) < 5 || payload[0] != tlsHandshake || payload[1] != 3 || payload[2] > 3 {
		return nil, false
	}
	b := payload[5:]
	if len(b) < tlsHelloMinSize {
		return nil, false
	}
	typ := b[0]
	if typ != tlsClientHello && typ != tlsServerHello || b[4] != 3 || b[5] < 1 || b[5] > 3 {
		return nil, false
	}
	p := 4 + 2 + 32 // type and length, version, random
	sessionID := int(b[p])
	if p+sessionID+2 > len(b) {
		return nil, false
	}
	p += 1 + sessionID
	if typ == tlsClientHello {
		if p+2 > len(b) {
			return nil, false
		}
		p += 2 + int(be.Uint16(b[p:])) // cipher suites
		if p >= len(b) {
			return nil, false
		}
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
	if extEnd := p + 2 + int(be.Uint16(b[p:])); extEnd <= end {
		end = extEnd
	}
	p += 2
	for p+4 <= end {
		extType, extLen := be.Uint16(b[p:]), int(be.Uint16(b[p+2:]))
		p += 4
		if p+extLen > end {
			break
		}
		ext := b[p : p+extLen]
		switch {
		case typ == tlsClientHello && extType == tlsExtSNI:
			name, ok := firstHostName(ext)
			if !ok {
				// A broken server_name list voids the hello.
				return nil, false
			}
			if sni == nil {
				sni = name
			}
		case typ == tlsServerHello && extType == tlsExtALPN:
			return nil, true
		}
		p += extLen
	}
	return sni, typ == tlsClientHello
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
