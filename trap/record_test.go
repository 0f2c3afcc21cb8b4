package trap

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// idleRecord is record 0 of data/trap/u_idle.bin, as TRAP.md §4.6 shows it.
const idleRecordHex = "0000000000000000" + "0a000001ffffffff" + "06819583fb22aa61" + "e803" +
	"00000900" + "09000400" + "612e6578616d706c65" + "05029605"

func TestDecodeProducerRecord(t *testing.T) {
	tmpl := mustTemplate(t, "ipaddr SRC_IP,uint16 SRC_PORT,time TIME_FIRST,string TLS_SNI,uint16* PPI_PKT_LENGTHS")
	raw, _ := hex.DecodeString(idleRecordHex)
	if len(raw) != 47 {
		t.Fatalf("test record is %d bytes, want 47", len(raw))
	}
	rec, err := tmpl.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.IP(tmpl.Field("SRC_IP")); got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("SRC_IP = %v", got)
	}
	if got := rec.Uint16(tmpl.Field("SRC_PORT")); got != 1000 {
		t.Errorf("SRC_PORT = %d", got)
	}
	tf := rec.Time(tmpl.Field("TIME_FIRST"))
	if tf.Sec() != 1638540027 || tf.Msec() != 514 {
		t.Errorf("TIME_FIRST = %d s %d ms, want 1638540027 s 514 ms", tf.Sec(), tf.Msec())
	}
	if got := string(rec.String(tmpl.Field("TLS_SNI"))); got != "a.example" {
		t.Errorf("TLS_SNI = %q", got)
	}
	lengths := rec.Uint16s(tmpl.Field("PPI_PKT_LENGTHS"))
	if lengths.Len() != 2 || lengths.At(0) != 517 || lengths.At(1) != 1430 {
		t.Errorf("PPI_PKT_LENGTHS = %v", lengths)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	tmpl := mustTemplate(t, "ipaddr SRC_IP,uint16 SRC_PORT,time TIME_FIRST,string TLS_SNI,uint16* PPI_PKT_LENGTHS")
	good, _ := hex.DecodeString(idleRecordHex)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		rec  []byte
		want string
	}{
		{"shorter than the fixed part", good[:33], "shorter than the template's fixed part of 34"},
		{"string beyond the record", mutate(func(b []byte) []byte { b[28] = 14; return b }), "field TLS_SNI: data at 0+14 bytes beyond"},
		{"array offset beyond the record", mutate(func(b []byte) []byte { b[30] = 12; return b }), "field PPI_PKT_LENGTHS: data at 12+4"},
		{"odd uint16 array", mutate(func(b []byte) []byte { b[32] = 3; return b }), "3 bytes is not a whole number of 2-byte elements"},
		{"cut off", good[:45], "beyond the record's variable part of 11"},
	} {
		_, err := tmpl.Decode(tc.rec)
		if !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrBadRecord with %q", tc.name, err, tc.want)
		}
	}
}

func TestTimeConversions(t *testing.T) {
	// TIME_FIRST of the first record in TRAP.md §4.5, as ipfixprobe wrote it.
	tf := Time(0x61aa22fb83d0bfa0)
	if tf.Sec() != 1638540027 || tf.Nsec() != 514904000 {
		t.Errorf("got %d s %d ns, want 1638540027 s 514904000 ns", tf.Sec(), tf.Nsec())
	}
	if got := tf.String(); got != "2021-12-03T14:00:27.514904000Z" {
		t.Errorf("String() = %s", got)
	}
	if tf.UnixMilli() != 1638540027514 {
		t.Errorf("UnixMilli() = %d", tf.UnixMilli())
	}
	// ipfixprobe made it from a struct timeval.
	if got := TimeFromUnixMicro(1638540027514904); got != tf {
		t.Errorf("TimeFromUnixMicro: %#x, ipfixprobe wrote %#x", uint64(got), uint64(tf))
	}
	if got := TimeFromUnixMicro(-1); got.Sec() != 0xffffffff || got.Nsec() != 999999000 {
		t.Errorf("a microsecond before the epoch: %d s %d ns", got.Sec(), got.Nsec())
	}
	// libunirec's multiplier 0x44B82FA0A is 2^64/1e9 rounded up, and it
	// rounds up again when converting back, so a few percent of times read
	// back one nanosecond late; never more.
	rng := rand.New(rand.NewPCG(1, 2))
	late := 0
	for range 100000 {
		sec, nsec := rng.Int64N(1<<32), rng.Int64N(1e9)
		got := TimeFromUnix(sec, nsec)
		if int64(got.Sec()) != sec || int64(got.Nsec())-nsec > 1 || int64(got.Nsec()) < nsec {
			t.Fatalf("TimeFromUnix(%d, %d) reads back as %d s %d ns", sec, nsec, got.Sec(), got.Nsec())
		}
		if int64(got.Nsec()) != nsec {
			late++
		}
		if got.UnixMilli() != int64(got.Sec())*1000+int64(got.Msec()) {
			t.Fatalf("UnixMilli of %d s %d ns is %d", sec, nsec, got.UnixMilli())
		}
	}
	if late > 10000 {
		t.Errorf("%d of 100000 times read back late", late)
	}
	if got := TimeFromUnix(10, -1); got.Sec() != 9 || got.Nsec() != 999999999 {
		t.Errorf("negative nanoseconds: %d s %d ns", got.Sec(), got.Nsec())
	}
}

func TestIPForms(t *testing.T) {
	for _, s := range []string{"142.251.37.110", "0.0.0.0", "2001:db8::1", "::", "::ffff:1.2.3.4"} {
		a := netip.MustParseAddr(s)
		var b [16]byte
		putIP(b[:], a)
		if got := ipAt(b[:]); got != a {
			t.Errorf("%s round-trips as %s (bytes %x)", s, got, b)
		}
	}
	var b [16]byte
	putIP(b[:], netip.MustParseAddr("142.251.37.110"))
	if hex.EncodeToString(b[:]) != "00000000000000008efb256effffffff" {
		t.Errorf("IPv4 form is %x", b)
	}
}

func TestWholeElements(t *testing.T) {
	for _, es := range []int{1, 2, 4, 6, 8, 16} {
		for n := range 100 {
			if got, want := wholeElements(n, es), n%es == 0; got != want {
				t.Errorf("wholeElements(%d, %d) = %v, want %v", n, es, got, want)
			}
		}
	}
}

// TestArrayCopyTo checks that the arrays' CopyTo gives what At gives, as
// many elements as both sides hold, in one move and element by element (as
// on a big-endian machine), without allocating.
func TestArrayCopyTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	raw := make([]byte, 8*40)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	defer func(was bool) { nativeLE = was }(nativeLE)
	for _, native := range []bool{true, false} {
		nativeLE = native
		for _, n := range []int{0, 1, 7, 30, 40} {
			for _, room := range []int{0, 3, 30} {
				u16, i8, times := Uint16s(raw[:2*n]), Int8s(raw[:n]), Times(raw[:8*n])
				var d16 [30]uint16
				var d8 [30]int8
				var dt [30]Time
				want := min(n, room)
				if got := u16.CopyTo(d16[:room]); got != want {
					t.Fatalf("native %v, %d elements into %d: Uint16s copied %d", native, n, room, got)
				}
				if got := i8.CopyTo(d8[:room]); got != want {
					t.Fatalf("native %v, %d elements into %d: Int8s copied %d", native, n, room, got)
				}
				if got := times.CopyTo(dt[:room]); got != want {
					t.Fatalf("native %v, %d elements into %d: Times copied %d", native, n, room, got)
				}
				for i := range 30 {
					var w16 uint16
					var w8 int8
					var wt Time
					if i < want {
						w16, w8, wt = u16.At(i), i8.At(i), times.At(i)
					}
					if d16[i] != w16 || d8[i] != w8 || dt[i] != wt {
						t.Fatalf("native %v, %d elements into %d, element %d: got %d %d %d, want %d %d %d",
							native, n, room, i, d16[i], d8[i], dt[i], w16, w8, wt)
					}
				}
			}
		}
	}
	var d16 [30]uint16
	if a := testing.AllocsPerRun(100, func() { Uint16s(raw[:60]).CopyTo(d16[:]) }); a != 0 {
		t.Errorf("CopyTo allocates %v times", a)
	}
}

// TestSkipped: Skipped finds a StreamError however wrapped, nothing else,
// and allocates nothing, as readers ask it of every record.
func TestSkipped(t *testing.T) {
	se := &StreamError{Ifc: "f:x", Stream: "x", Err: ErrBadRecord}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false}, {io.EOF, false}, {ErrBadRecord, false}, {se, true}, {fmt.Errorf("reading: %w", se), true},
	} {
		if got := Skipped(tc.err); got != tc.want {
			t.Errorf("Skipped(%v) = %v", tc.err, got)
		}
	}
	var err error = io.EOF
	if a := testing.AllocsPerRun(100, func() { Skipped(err) }); a != 0 {
		t.Errorf("Skipped allocates %v times", a)
	}
}
