package flowmeter

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// tlsExt is an extension of a hello made by helloRecord.
type tlsExt struct {
	typ  uint16
	body []byte
}

// helloRecord makes a TLS record holding a ClientHello of legacy version
// version, with the cipher suites and extensions given.
func helloRecord(version uint16, ciphers []uint16, exts []tlsExt) []byte {
	body := binary.BigEndian.AppendUint16(nil, version)
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = binary.BigEndian.AppendUint16(body, uint16(2*len(ciphers)))
	for _, c := range ciphers {
		body = binary.BigEndian.AppendUint16(body, c)
	}
	body = append(body, 1, 0) // compression: null
	var block []byte
	for _, e := range exts {
		block = binary.BigEndian.AppendUint16(block, e.typ)
		block = binary.BigEndian.AppendUint16(block, uint16(len(e.body)))
		block = append(block, e.body...)
	}
	body = binary.BigEndian.AppendUint16(body, uint16(len(block)))
	body = append(body, block...)
	hs := append([]byte{tlsClientHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{tlsHandshake, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

// sniExt is a server_name extension naming server.
func sniExt(server string) tlsExt {
	name := []byte(server)
	return tlsExt{tlsExtSNI, append([]byte{byte((len(name) + 3) >> 8), byte(len(name) + 3), 0, byte(len(name) >> 8), byte(len(name))}, name...)}
}

// list16 is an extension body of 2-byte values after a length of
// lenSize bytes.
func list16(lenSize int, values ...uint16) []byte {
	b := make([]byte, lenSize)
	for _, v := range values {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	if lenSize == 1 {
		b[0] = byte(len(b) - 1)
	} else {
		binary.BigEndian.PutUint16(b, uint16(len(b)-2))
	}
	return b
}

// alpnExt is an ALPN extension listing protocols.
func alpnExt(protocols ...string) tlsExt {
	b := []byte{0, 0}
	for _, p := range protocols {
		b = append(append(b, byte(len(p))), p...)
	}
	binary.BigEndian.PutUint16(b, uint16(len(b)-2))
	return tlsExt{tlsExtALPN, b}
}

// specHello is JA4's own example (FoxIO's JA4.md): its cipher suites and
// extensions in its order, signature algorithms, ALPN h2 and TLS 1.3, with
// GREASE values among them, which both fingerprints leave out.
func specHello(sigAlgs bool) []byte {
	ciphers := []uint16{0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}
	exts := []tlsExt{{0x3a3a, nil}}
	for _, t := range []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015} {
		switch t {
		case tlsExtSNI:
			exts = append(exts, sniExt("dns.example.net"))
		case tlsExtALPN:
			exts = append(exts, alpnExt("h2", "http/1.1"))
		case tlsExtSigAlgs:
			if sigAlgs {
				exts = append(exts, tlsExt{t, list16(2, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)})
			} else {
				exts = append(exts, tlsExt{t, list16(2)})
			}
		case tlsExtSupportedVersions:
			exts = append(exts, tlsExt{t, list16(1, 0x7a7a, 0x0304, 0x0303)})
		case tlsExtGroups:
			exts = append(exts, tlsExt{t, list16(2, 0x2a2a, 0x001d, 0x0017, 0x0018)})
		case tlsExtPointFormats:
			exts = append(exts, tlsExt{t, []byte{1, 0}})
		default:
			exts = append(exts, tlsExt{t, []byte{0}})
		}
	}
	return helloRecord(0x0303, ciphers, append(exts, tlsExt{0x1a1a, []byte{0}}))
}

// fingerprints returns the fingerprints of a ClientHello record over TCP,
// as a flow exports them, and its server name.
func fingerprints(t *testing.T, record []byte) (ja3, ja4, sni string) {
	return fingerprintsIf(t, true, record)
}

// fingerprintsIf is fingerprints, by a meter that computes them or not.
func fingerprintsIf(t *testing.T, on bool, record []byte) (ja3, ja4, sni string) {
	t.Helper()
	r := newRig(t, CacheConfig{TLSFingerprints: on})
	p := pkt(1, false, 100, 0, pshAck, len(record))
	p.Payload = record
	r.add(p)
	got := r.finish()
	if len(got) != 1 {
		t.Fatalf("%d flows", len(got))
	}
	return hex.EncodeToString(got[0].JA3()), string(got[0].AppendJA4(nil)), string(got[0].SNI())
}

// TestFingerprintsAsSpecified: JA4 as FoxIO's JA4.md works its example
// (its hashes 8daaf6152771, e5627efa2ab1, and 6d807ffa2a79 without
// signature algorithms), JA3 as Salesforce defines it, GREASE values left
// out of both.
func TestFingerprintsAsSpecified(t *testing.T) {
	ja3Text := "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53," +
		"27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0"
	sum := md5.Sum([]byte(ja3Text))
	for _, tc := range []struct {
		sigAlgs bool
		ja4     string
	}{
		{true, "t13d1516h2_8daaf6152771_e5627efa2ab1"},
		{false, "t13d1516h2_8daaf6152771_6d807ffa2a79"},
	} {
		ja3, ja4, sni := fingerprints(t, specHello(tc.sigAlgs))
		if ja3 != hex.EncodeToString(sum[:]) || ja4 != tc.ja4 || sni != "dns.example.net" {
			t.Errorf("signature algorithms %v: JA3 %s, JA4 %s, SNI %q; want %x, %s", tc.sigAlgs, ja3, ja4, sni, sum, tc.ja4)
		}
	}
}

// TestFingerprintsOnRequest: a meter computes fingerprints only when asked;
// the server name it reads either way.
func TestFingerprintsOnRequest(t *testing.T) {
	if ja3, ja4, sni := fingerprintsIf(t, false, specHello(true)); ja3 != "" || ja4 != "" || sni != "dns.example.net" {
		t.Errorf("JA3 %q, JA4 %q, SNI %q", ja3, ja4, sni)
	}
}

// TestFingerprintRules states JA4's rules one by one, and when a hello has
// no fingerprints.
func TestFingerprintRules(t *testing.T) {
	ciphers := []uint16{0xc02f, 0x1301}
	sha := func(text string) string {
		sum := sha256.Sum256([]byte(text))
		return hex.EncodeToString(sum[:6])
	}
	// spare makes the last n bytes of a hello's extensions no extension.
	spare := func(record []byte, n int) []byte {
		at := 5 + 4 + 2 + 32 + 1 + 2 + 2*len(ciphers) + 2
		binary.BigEndian.PutUint16(record[at:], binary.BigEndian.Uint16(record[at:])+uint16(n))
		return append(record, make([]byte, n)...)
	}
	withSNI := []tlsExt{sniExt("a.example"), {tlsExtGroups, list16(2, 0x001d)}}
	// 300 cipher suites: texts longer than the hashes' buffer.
	var many []uint16
	var manyDecimal, manyHex []string
	for i := range 300 {
		many = append(many, uint16(0x0100+i))
		manyDecimal = append(manyDecimal, strconv.Itoa(0x0100+i))
		manyHex = append(manyHex, fmt.Sprintf("%04x", 0x0100+i))
	}
	for _, tc := range []struct {
		name          string
		record        []byte
		ja3, ja4, sni string // ja3 as text, before its MD5; JA3 and JA4 empty: none
	}{
		{"no server name, no ALPN, no supported_versions: the hello's version",
			helloRecord(0x0303, ciphers, []tlsExt{{tlsExtPointFormats, []byte{1, 0}}}),
			"771,49199-4865,11,,0", "t12i0201" + "00_" + sha("1301,c02f") + "_" + sha("000b"), ""},
		{"no cipher suites, no extensions but server_name and ALPN: zeros",
			helloRecord(0x0301, nil, []tlsExt{sniExt("a.example"), alpnExt("http/1.1")}),
			"769,,0-16,,", "t10d0002h1_000000000000_000000000000", "a.example"},
		{"supported_versions' highest, GREASE left out",
			helloRecord(0x0303, ciphers, []tlsExt{{tlsExtSupportedVersions, list16(1, 0x0302, 0xfafa, 0x0301)}}),
			"771,49199-4865,43,,", "t11i0201" + "00_" + sha("1301,c02f") + "_" + sha("002b"), ""},
		{"an unknown version",
			helloRecord(0x0303, ciphers, []tlsExt{{tlsExtSupportedVersions, list16(1, 0x7f1c)}}),
			"771,49199-4865,43,,", "t00i0201" + "00_" + sha("1301,c02f") + "_" + sha("002b"), ""},
		{"signature algorithms in their order, after the sorted extensions",
			helloRecord(0x0303, ciphers, []tlsExt{{tlsExtSigAlgs, list16(2, 0x0804, 0x0403)}, {tlsExtGroups, list16(2, 0x001d)}}),
			"771,49199-4865,13-10,29,", "t12i0202" + "00_" + sha("1301,c02f") + "_" + sha("000a,000d_0804,0403"), ""},
		{"an ALPN protocol that starts or ends in other than a letter or digit: its hex's first and last digit",
			helloRecord(0x0303, ciphers, []tlsExt{alpnExt("\x01h2\xfe", "h2")}),
			"771,49199-4865,16,,", "t12i02010e_" + sha("1301,c02f") + "_000000000000", ""},
		{"300 cipher suites: their count 99",
			helloRecord(0x0303, many, nil),
			"771," + strings.Join(manyDecimal, "-") + ",,,", "t12i9900" + "00_" + sha(strings.Join(manyHex, ",")) + "_000000000000", ""},
		{"a record after the hello's",
			append(helloRecord(0x0303, ciphers, withSNI), 20, 3, 3, 0, 1, 1),
			"771,49199-4865,0-10,29,", "t12d020200_" + sha("1301,c02f") + "_" + sha("000a"), "a.example"},
		{"extensions cut by the packet's end: none, the server name kept",
			helloRecord(0x0303, ciphers, []tlsExt{sniExt("a.example"), {0x0015, make([]byte, 100)}})[:80], "", "", "a.example"},
		{"an extension whose body the hello's extensions leave out: none",
			func() []byte {
				r := helloRecord(0x0303, ciphers, append(withSNI, tlsExt{0x0015, nil}))
				r[len(r)-1] = 5 // its length; its header ends the block
				return r
			}(), "", "", "a.example"},
		{"a supported_groups list longer than its extension: none",
			helloRecord(0x0303, ciphers, []tlsExt{sniExt("a.example"), {tlsExtGroups, []byte{0, 8, 0, 0x1d}}}), "", "", "a.example"},
		{"bytes after the last extension, too few for another: none",
			spare(helloRecord(0x0303, ciphers, withSNI), 3), "", "", "a.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ja3, ja4, sni := fingerprints(t, tc.record)
			want3 := ""
			if tc.ja3 != "" {
				sum := md5.Sum([]byte(tc.ja3))
				want3 = hex.EncodeToString(sum[:])
			}
			if ja3 != want3 || ja4 != tc.ja4 || sni != tc.sni {
				t.Errorf("JA3 %s, JA4 %s, SNI %q; want %s (%s), %s, %q", ja3, ja4, sni, want3, tc.ja3, tc.ja4, tc.sni)
			}
		})
	}
}

// TestJA4ALPN: the ALPN part of JA4, on the examples of FoxIO's JA4.md.
func TestJA4ALPN(t *testing.T) {
	for alpn, want := range map[string]string{
		"": "00", "h2": "h2", "http/1.1": "h1", "h": "hh",
		"\xab": "ab", "\xab\xcd": "ad", "0\xab": "3b", "01\xab\xcd": "3d", "0\xab\xcd1": "01",
	} {
		var got [2]byte
		if putALPN(got[:], []byte(alpn)); string(got[:]) != want {
			t.Errorf("ALPN %q: %q, want %q", alpn, got, want)
		}
	}
}

// TestFingerprintAllocatesNothing: a ClientHello's fingerprints cost no
// allocation.
func TestFingerprintAllocatesNothing(t *testing.T) {
	var h helloParts
	record := specHello(true)
	if _, done := tlsHello(record, &h, make([]byte, maxHello)); !done || !h.whole {
		t.Fatal("the hello is not read whole")
	}
	fp := newFingerprinter()
	var ja3 [md5.Size]byte
	var ja4 [ja4Len]byte
	if n := testing.AllocsPerRun(100, func() { fp.fingerprint(&h, 't', &ja3, &ja4) }); n != 0 {
		t.Errorf("%v allocations a hello", n)
	}
}

// BenchmarkFingerprint is the cost of a ClientHello's fingerprints, its
// reading included.
func BenchmarkFingerprint(b *testing.B) {
	record := specHello(true)
	var h helloParts
	fp := newFingerprinter()
	var ja3 [md5.Size]byte
	var ja4 [ja4Len]byte
	scratch := make([]byte, maxHello)
	b.ReportAllocs()
	for b.Loop() {
		tlsHello(record, &h, scratch)
		fp.fingerprint(&h, 't', &ja3, &ja4)
	}
}
