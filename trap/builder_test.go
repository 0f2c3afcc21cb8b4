package trap

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// everyTypeSpec has one field of every UniRec type.
const everyTypeSpec = "string S,bytes BY,char C,uint8 U8,int8 I8,uint16 U16,int16 I16,uint32 U32,int32 I32," +
	"uint64 U64,int64 I64,float F32,double F64,ipaddr IP,macaddr MAC,time T," +
	"uint8* AU8,int8* AI8,uint16* AU16,int16* AI16,uint32* AU32,int32* AI32,uint64* AU64,int64* AI64," +
	"float* AF32,double* AF64,ipaddr* AIP,macaddr* AMAC,time* AT"

func TestBuilderRoundTrip(t *testing.T) {
	tmpl := mustTemplate(t, everyTypeSpec)
	f := tmpl.Field
	b := NewBuilder(tmpl)
	rng := rand.New(rand.NewPCG(3, 4))
	var buf []byte
	for i := range 200 {
		b.Reset()
		u64 := rng.Uint64()
		ip := netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(i)})
		if i%2 == 0 {
			ip = netip.AddrFrom4([4]byte{10, 0, byte(i), 1})
		}
		sni := strings.Repeat("x", i%40)
		b.SetString(f("S"), sni)
		b.SetVar(f("BY"), []byte{byte(i), 0, 255})
		b.SetUint(f("C"), 'q')
		b.SetUint(f("U8"), u64)
		b.SetInt(f("I8"), -5)
		b.SetUint(f("U16"), u64)
		b.SetInt(f("I16"), -300)
		b.SetUint(f("U32"), u64)
		b.SetInt(f("I32"), -70000)
		b.SetUint(f("U64"), u64)
		b.SetInt(f("I64"), math.MinInt64+int64(i))
		b.SetFloat(f("F32"), 1.5)
		b.SetDouble(f("F64"), float64(i)/3)
		b.SetIP(f("IP"), ip)
		b.SetMAC(f("MAC"), [6]byte{1, 2, 3, 4, 5, byte(i)})
		b.SetTime(f("T"), TimeFromUnix(1638540027, int64(i)*1e6))
		n := i % 31
		for k := range n {
			// Interleave two arrays to exercise moving a growing value.
			b.AppendElem(f("AU16"), uint64(1000+k))
			b.AppendElem(f("AI8"), uint64(int64(-1+2*(k%2))))
			b.AppendElem(f("AT"), uint64(TimeFromUnix(int64(k), 0)))
		}
		b.AppendElem(f("AF64"), math.Float64bits(math.Pi))
		SetArray(b, f("AI32"), []int32{-1, int32(i)})
		SetArray(b, f("AU64"), []Time{TimeFromUnix(int64(i), 0)})
		var ipArr [32]byte
		putIP(ipArr[:16], ip)
		putIP(ipArr[16:], netip.IPv6Loopback())
		b.SetVar(f("AIP"), ipArr[:])

		var err error
		buf, err = b.Append(buf[:0])
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) != b.Len() {
			t.Fatalf("Append wrote %d bytes, Len says %d", len(buf), b.Len())
		}
		rec, err := tmpl.Decode(buf)
		if err != nil {
			t.Fatalf("record %d does not decode: %v", i, err)
		}
		check := func(name string, got, want any) {
			t.Helper()
			if got != want {
				t.Fatalf("record %d: %s = %v, want %v", i, name, got, want)
			}
		}
		check("S", string(rec.String(f("S"))), sni)
		check("BY", string(rec.Var(f("BY"))), string([]byte{byte(i), 0, 255}))
		check("C", rec.Uint8(f("C")), uint8('q'))
		check("U8", rec.Uint8(f("U8")), uint8(u64))
		check("I8", rec.Int8(f("I8")), int8(-5))
		check("U16", rec.Uint16(f("U16")), uint16(u64))
		check("I16", rec.Int16(f("I16")), int16(-300))
		check("U32", rec.Uint32(f("U32")), uint32(u64))
		check("I32", rec.Int32(f("I32")), int32(-70000))
		check("U64", rec.Uint64(f("U64")), u64)
		check("I64", rec.Int64(f("I64")), math.MinInt64+int64(i))
		check("Uint(I16)", int64(rec.Uint(f("I16"))), int64(-300))
		check("F32", rec.Float(f("F32")), float32(1.5))
		check("F64", rec.Double(f("F64")), float64(i)/3)
		check("IP", rec.IP(f("IP")), ip)
		check("MAC", rec.MAC(f("MAC")), [6]byte{1, 2, 3, 4, 5, byte(i)})
		check("T", rec.Time(f("T")).Msec(), uint32(i))
		check("len AU16", rec.Uint16s(f("AU16")).Len(), n)
		check("len AT", rec.Times(f("AT")).Len(), n)
		for k := range n {
			check("AU16", rec.Uint16s(f("AU16")).At(k), uint16(1000+k))
			check("AI8", rec.Int8s(f("AI8")).At(k), int8(-1+2*(k%2)))
			check("AT", rec.Times(f("AT")).At(k).Sec(), uint32(k))
		}
		check("AF64", math.Float64frombits(rec.Uint64s(f("AF64")).At(0)), math.Pi)
		check("AIP[0]", rec.IPs(f("AIP")).At(0), ip)
		check("AIP[1]", rec.IPs(f("AIP")).At(1), netip.IPv6Loopback())
		check("AU32", len(rec.Var(f("AU32"))), 0)
		check("AI32[0]", int32(rec.Uint32s(f("AI32")).At(0)), int32(-1))
		check("AI32[1]", int32(rec.Uint32s(f("AI32")).At(1)), int32(i))
		check("AU64", rec.Uint64s(f("AU64")).At(0), uint64(TimeFromUnix(int64(i), 0)))
	}
}

func TestBuilderCopyFrom(t *testing.T) {
	in := mustTemplate(t, "ipaddr SRC_IP,uint16 SRC_PORT,time TIME_FIRST,string TLS_SNI,uint16* PPI_PKT_LENGTHS")
	out, err := in.Extend("uint8 DOH,double DOH_PROBA,uint32 MODEL_VERSION,uint32 SRC_PORT_32")
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	{
		b := NewBuilder(in)
		b.SetIP(in.Field("SRC_IP"), netip.MustParseAddr("192.0.2.7"))
		b.SetUint(in.Field("SRC_PORT"), 443)
		b.SetString(in.Field("TLS_SNI"), "dns.example")
		b.AppendElem(in.Field("PPI_PKT_LENGTHS"), 517)
		raw, _ = b.Append(nil)
	}
	src, err := in.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(out)
	b.SetDouble(out.Field("DOH_PROBA"), 0.25)
	b.CopyFrom(src)
	b.SetUint(out.Field("DOH"), 1)
	got, err := b.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := out.Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	if rec.IP(out.Field("SRC_IP")).String() != "192.0.2.7" || rec.Uint16(out.Field("SRC_PORT")) != 443 ||
		string(rec.String(out.Field("TLS_SNI"))) != "dns.example" || rec.Uint16s(out.Field("PPI_PKT_LENGTHS")).At(0) != 517 ||
		rec.Uint8(out.Field("DOH")) != 1 || rec.Double(out.Field("DOH_PROBA")) != 0.25 || rec.Uint32(out.Field("SRC_PORT_32")) != 0 {
		t.Errorf("copied record reads wrong: %x", got)
	}
	// Every field the output shares with the input reads the same.
	for _, f := range in.Fields() {
		if !bytes.Equal(rec.AppendValue(nil, out.Field(f.Name)), src.AppendValue(nil, &f)) {
			t.Errorf("%s differs after CopyFrom", f.Name)
		}
	}
}

func TestBuilderRefusesOversizeRecord(t *testing.T) {
	tmpl := mustTemplate(t, "bytes A,bytes B")
	b := NewBuilder(tmpl)
	b.SetVar(tmpl.Field("A"), make([]byte, 40000))
	b.SetVar(tmpl.Field("B"), make([]byte, 40000))
	if _, err := b.Append(nil); !errors.Is(err, ErrRecordTooLong) {
		t.Errorf("Append of an 80008-byte record: %v", err)
	}
}

func TestBuilderDoesNotAllocate(t *testing.T) {
	tmpl := mustTemplate(t, alfSpec)
	b := NewBuilder(tmpl)
	lengths, dirs, times := tmpl.Field("PPI_PKT_LENGTHS"), tmpl.Field("PPI_PKT_DIRECTIONS"), tmpl.Field("PPI_PKT_TIMES")
	buf := make([]byte, 0, 4096)
	build := func() {
		b.Reset()
		b.SetUint(tmpl.Field("PACKETS"), 7)
		b.SetString(tmpl.Field("TLS_SNI"), "suggestqueries-clients6.youtube.com")
		for k := range 30 {
			b.AppendElem(lengths, uint64(100+k))
			b.AppendElem(dirs, 1)
			b.AppendElem(times, uint64(k))
		}
		buf, _ = b.Append(buf[:0])
	}
	build()
	if n := testing.AllocsPerRun(100, build); n != 0 {
		t.Errorf("building a record allocates %v times", n)
	}
	rec, _ := tmpl.Decode(buf)
	if n := testing.AllocsPerRun(100, func() { b.Reset(); b.CopyFrom(rec) }); n != 0 {
		t.Errorf("CopyFrom allocates %v times", n)
	}
}

func TestAppendValue(t *testing.T) {
	tmpl := mustTemplate(t, everyTypeSpec)
	f := tmpl.Field
	b := NewBuilder(tmpl)
	b.SetString(f("S"), "a\"b\n\xff")
	b.SetVar(f("BY"), []byte{0xde, 0xad})
	b.SetUint(f("C"), 'x')
	b.SetInt(f("I16"), -3)
	b.SetDouble(f("F64"), math.NaN())
	b.SetFloat(f("F32"), 0.1)
	b.SetIP(f("IP"), netip.MustParseAddr("2001:db8::1"))
	b.SetMAC(f("MAC"), [6]byte{0, 0x1b, 0x21, 0xa, 0xb, 0xff})
	b.SetTime(f("T"), Time(0x61aa22fb83d0bfa0))
	b.AppendElem(f("AU16"), 517)
	b.AppendElem(f("AU16"), 1430)
	b.AppendElem(f("AI8"), uint64(0xff))
	b.AppendElem(f("AT"), 0x61aa22fb83d0bfa0)
	raw, _ := b.Append(nil)
	rec, err := tmpl.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ field, text, json string }{
		{"S", "a\"b\n\xff", `"a\"b\n` + "\uFFFD" + `"`},
		{"BY", "dead", `"dead"`},
		{"C", "x", `"x"`},
		{"I16", "-3", "-3"},
		{"F64", "NaN", `"NaN"`},
		{"F32", "0.1", "0.1"},
		{"IP", "2001:db8::1", `"2001:db8::1"`},
		{"MAC", "00:1b:21:0a:0b:ff", `"00:1b:21:0a:0b:ff"`},
		{"T", "2021-12-03T14:00:27.514904000Z", `"2021-12-03T14:00:27.514904000Z"`},
		{"AU16", "[517,1430]", "[517,1430]"},
		{"AI8", "[-1]", "[-1]"},
		{"AT", "[2021-12-03T14:00:27.514904000Z]", `["2021-12-03T14:00:27.514904000Z"]`},
		{"AU32", "[]", "[]"},
		{"U64", "0", "0"},
	} {
		if got := string(rec.AppendValue(nil, f(tc.field))); got != tc.text {
			t.Errorf("%s as text: %q, want %q", tc.field, got, tc.text)
		}
		if got := string(rec.AppendValueJSON(nil, f(tc.field))); got != tc.json {
			t.Errorf("%s as JSON: %s, want %s", tc.field, got, tc.json)
		}
	}
}

// TestBuilderCopyFromScattered copies a record whose variable-size values
// do not lie in field order (libunirec's layout allows any offsets): each
// field must still get its own value, and a record in order after it too.
func TestBuilderCopyFromScattered(t *testing.T) {
	in := mustTemplate(t, "string A,string B,uint16 P")
	out, err := in.Extend("uint8 DOH")
	if err != nil {
		t.Fatal(err)
	}
	a, bf, p := in.Field("A"), in.Field("B"), in.Field("P")
	if a.off > bf.off || p.off != 0 {
		t.Fatalf("layout changed: P at %d, A at %d, B at %d", p.off, a.off, bf.off)
	}
	// P, then A's header (offset 3, 2 bytes), B's (offset 0, 3 bytes):
	// B's value comes first.
	scattered := []byte{0x2a, 0, 3, 0, 2, 0, 0, 0, 3, 0, 'b', 'b', 'b', 'a', 'a'}
	b := NewBuilder(out)
	for _, raw := range [][]byte{scattered, {0x2a, 0, 0, 0, 2, 0, 2, 0, 3, 0, 'a', 'a', 'b', 'b', 'b'}} {
		rec, err := in.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		b.Reset()
		b.CopyFrom(rec)
		got, err := b.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		o, err := out.Decode(got)
		if err != nil {
			t.Fatal(err)
		}
		if string(o.String(out.Field("A"))) != "aa" || string(o.String(out.Field("B"))) != "bbb" || o.Uint16(out.Field("P")) != 42 {
			t.Errorf("from %x: wrote %x", raw, got)
		}
	}
}

// TestAppendCopyLikeCopyFrom: AppendCopy writes the very bytes CopyFrom
// and Append write, straight or through the builder: records with values
// in order (as libunirec writes them) or scattered, templates with or
// without variable-size fields, and one that already has every field; it
// does not allocate.
func TestAppendCopyLikeCopyFrom(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	alf := mustTemplate(t, alfSpec)
	cases := []struct {
		in, extra string
		raws      [][]byte
	}{
		{"string A,string B,uint16 P", "uint8 DOH", [][]byte{
			{0x2a, 0, 3, 0, 2, 0, 0, 0, 3, 0, 'b', 'b', 'b', 'a', 'a'}, // B's value first
			{0x2a, 0, 0, 0, 2, 0, 2, 0, 3, 0, 'a', 'a', 'b', 'b', 'b'},
			{0x2a, 0, 0, 0, 2, 0, 2, 0, 3, 0, 'a', 'a', 'b', 'b', 'b', 'x'}, // a byte past the values
		}},
		{"uint16 P,uint32 Q", "uint8 DOH,double DOH_PROBA", [][]byte{{1, 2, 3, 4, 5, 6}}},
		{"uint16 P,uint32 Q", "", [][]byte{{1, 2, 3, 4, 5, 6}}},
	}
	var alfRaws [][]byte
	b := NewBuilder(alf)
	for range 50 {
		b.Reset()
		b.SetUint(alf.Field("PACKETS"), uint64(rng.IntN(100)))
		b.SetString(alf.Field("TLS_SNI"), strings.Repeat("d", rng.IntN(30)))
		for range rng.IntN(31) {
			b.AppendElem(alf.Field("PPI_PKT_LENGTHS"), uint64(rng.IntN(1500)))
			b.AppendElem(alf.Field("PPI_PKT_TIMES"), rng.Uint64())
		}
		raw, err := b.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		alfRaws = append(alfRaws, raw)
	}
	cases = append(cases, struct {
		in, extra string
		raws      [][]byte
	}{alfSpec, "uint8 DOH,double DOH_PROBA,uint32 MODEL_VERSION", alfRaws})
	for _, tc := range cases {
		in := mustTemplate(t, tc.in)
		out := in
		if tc.extra != "" {
			var err error
			if out, err = in.Extend(tc.extra); err != nil {
				t.Fatal(err)
			}
		}
		staged, straight := NewBuilder(out), NewBuilder(out)
		for _, raw := range tc.raws {
			rec, err := in.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			staged.Reset()
			staged.CopyFrom(rec)
			want, err := staged.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := straight.AppendCopy([]byte("before"), rec)
			if err != nil || string(got[:6]) != "before" || !bytes.Equal(got[6:], want) {
				t.Errorf("%s from %x: AppendCopy %x (%v), CopyFrom %x", tc.in, raw, got, err, want)
			}
		}
	}
	rec, _ := alf.Decode(alfRaws[0])
	out, _ := alf.Extend("uint8 DOH")
	ob := NewBuilder(out)
	buf := make([]byte, 0, 4096)
	if a := testing.AllocsPerRun(100, func() { buf, _ = ob.AppendCopy(buf[:0], rec) }); a != 0 {
		t.Errorf("AppendCopy allocates %v times", a)
	}
}
