package trap

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
)

// alfTrapcaps are the real trapcaps and their record counts (data/README.md).
var alfTrapcaps = []struct {
	name    string
	records int
}{
	{"data.trapcap.202112021705", 2076},
	{"data.trapcap.202112021735", 4129},
	{"data.trapcap.202112031435", 1512},
	{"data.trapcap.202112031450", 1688},
	{"data.trapcap.202112071115", 745},
}

func openInput(tb testing.TB, spec string) *Reader {
	tb.Helper()
	s, err := ParseIfcSpec(spec)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := OpenInput(s, InputConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// readAll reads records until the end of the stream, copying each, and
// collects the errors of what was skipped.
func readAll(tb testing.TB, r *Reader) (recs [][]byte, skipped []error) {
	tb.Helper()
	for {
		rec, err := r.Next()
		switch {
		case err == nil:
			recs = append(recs, bytes.Clone(rec.Raw()))
		case errors.Is(err, io.EOF):
			return recs, skipped
		case errors.As(err, new(*StreamError)):
			skipped = append(skipped, err)
		default:
			tb.Fatalf("reading %s: %v", r.Name(), err)
		}
	}
}

type flowKey struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
}

func TestReadALFTrapcaps(t *testing.T) {
	dir := shareddata.Path(t, "alf", "trapcaps")
	for _, tc := range alfTrapcaps {
		t.Run(tc.name, func(t *testing.T) {
			r := openInput(t, "f:"+filepath.Join(dir, tc.name))
			tmpl := (*Template)(nil)
			var keys []flowKey
			containerEnds := 0
			for {
				rec, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if !r.Buffered() {
					containerEnds++
				}
				if tmpl == nil {
					tmpl = rec.Template()
					if tmpl.Spec() != alfSpec {
						t.Fatalf("template %s", tmpl.Spec())
					}
				}
				keys = append(keys, flowKey{
					rec.IP(tmpl.Field("SRC_IP")), rec.IP(tmpl.Field("DST_IP")),
					rec.Uint16(tmpl.Field("SRC_PORT")), rec.Uint16(tmpl.Field("DST_PORT")),
				})
			}
			if len(keys) != tc.records {
				t.Errorf("%d records, want %d", len(keys), tc.records)
			}
			st := r.Stats()
			if st.Messages != uint64(tc.records) || st.Skipped != 0 || st.BadRecords != 0 || st.Streams != 1 {
				t.Errorf("stats %+v", st)
			}
			if uint64(containerEnds) != st.Containers || st.Containers < 2 {
				t.Errorf("Buffered was false after %d records; %d containers", containerEnds, st.Containers)
			}
			checkGolden(t, shareddata.Path(t, "alf", "golden", tc.name+".features.csv"), keys)
		})
	}
}

// checkGolden compares the flow keys of the records that ALF's golden
// features name by row.
func checkGolden(t *testing.T, path string, keys []flowKey) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0][:5], ","); got != "row,SRC_IP,DST_IP,SRC_PORT,DST_PORT" {
		t.Fatalf("golden header %s", got)
	}
	for _, row := range rows[1:] {
		i, err := strconv.Atoi(row[0])
		if err != nil || i >= len(keys) {
			t.Fatalf("golden row %v: no such record", row[:5])
		}
		k := keys[i]
		got := []string{k.src.String(), k.dst.String(), strconv.Itoa(int(k.srcPort)), strconv.Itoa(int(k.dstPort))}
		if strings.Join(got, ",") != strings.Join(row[1:5], ",") {
			t.Errorf("record %d is %v, golden says %v", i, got, row[1:5])
		}
	}
	if len(rows) < 100 {
		t.Errorf("only %d golden rows", len(rows)-1)
	}
}

func TestFirstALFRecord(t *testing.T) {
	r := openInput(t, "f:"+shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112071115"))
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	tm := rec.Template()
	if r.Offset() != 692+4+2 {
		t.Errorf("first record at byte %d, want 698", r.Offset())
	}
	// The values TRAP.md §4.5 reads from this record.
	for name, want := range map[string]string{
		"DST_IP":              "142.251.37.110",
		"SRC_IP":              "147.175.74.3",
		"BYTES":               "883",
		"BYTES_REV":           "8117",
		"LINK_BIT_FIELD":      "64",
		"TIME_FIRST":          "2021-12-03T14:00:27.514904000Z",
		"PACKETS":             "7",
		"PACKETS_REV":         "9",
		"DST_PORT":            "443",
		"SRC_PORT":            "65021",
		"PROTOCOL":            "6",
		"TCP_FLAGS":           "27",
		"PPI_PKT_DIRECTIONS":  "[1,-1,-1,-1,-1,-1,1,-1]",
		"PPI_PKT_FLAGS":       "[24,16,16,16,16,24,24,24]",
		"TLS_SNI":             "suggestqueries-clients6.youtube.com",
		"PPI_PKT_LENGTHS":     "[517,1430,1430,1430,1430,1075,74,950]",
		"DBI_BRST_BYTES":      "[]",
		"DBI_BRST_TIME_START": "[]",
	} {
		if got := string(rec.AppendValue(nil, tm.Field(name))); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if n := rec.Times(tm.Field("PPI_PKT_TIMES")).Len(); n != 8 {
		t.Errorf("%d PPI_PKT_TIMES, want 8", n)
	}
	if n := len(rec.Var(tm.Field("D_PHISTS_SIZES"))); n != 32 {
		t.Errorf("D_PHISTS_SIZES has %d bytes, want 32", n)
	}
	if len(rec.Raw()) != 642 {
		t.Errorf("record of %d bytes, want 642", len(rec.Raw()))
	}
}

func TestReadGlobAndEmptyFiles(t *testing.T) {
	src := shareddata.Path(t, "alf", "trapcaps")
	dir := t.TempDir()
	// A glob over links to two real files with an empty file between them
	// (ALF's data set had one): read in name order, empty file no error.
	for name, target := range map[string]string{
		"a.trapcap": filepath.Join(src, "data.trapcap.202112071115"),
		"c.trapcap": filepath.Join(src, "data.trapcap.202112031435"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "b.trapcap"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := openInput(t, "f:"+filepath.Join(dir, "*.trapcap"))
	recs, skipped := readAll(t, r)
	if len(recs) != 745+1512 || len(skipped) != 0 {
		t.Errorf("%d records and %v, want %d and no errors", len(recs), skipped, 745+1512)
	}
	if st := r.Stats(); st.Streams != 3 || st.FormatChanges != 0 {
		t.Errorf("stats %+v, want 3 streams and no format change", st)
	}
	// Reading on after the end stays at the end.
	if _, err := r.Recv(); err != io.EOF {
		t.Errorf("Recv after the end: %v", err)
	}
	if _, err := OpenInput(IfcSpec{Kind: 'f', Args: []string{filepath.Join(dir, "*.none")}}, InputConfig{}); err == nil || !strings.Contains(err.Error(), "no file matches") {
		t.Errorf("a glob without matches: %v", err)
	}
	if _, err := OpenInput(IfcSpec{Kind: 'f', Args: []string{filepath.Join(dir, "missing")}}, InputConfig{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// writeTestFile writes data to a fresh file and returns its f: interface.
func writeTestFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test.trapcap")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return "f:" + p
}

func TestReadBrokenFiles(t *testing.T) {
	orig, err := os.ReadFile(shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112071115"))
	if err != nil {
		t.Fatal(err)
	}
	const firstContainer, secondContainer = 692, 692 + 4 + 99799
	for _, tc := range []struct {
		name    string
		data    []byte
		records int
		offset  int64
		want    string
	}{
		{"cut inside the second container", orig[:secondContainer+5000], 192, secondContainer + 4, "stream ends inside a container"},
		{"cut inside a container header", orig[:secondContainer+2], 192, secondContainer, "stream ends inside a container header"},
		{"cut inside the hello", orig[:100], 0, 8, "stream ends inside a hello"},
		{"container longer than libtrap's buffer", patch(orig, firstContainer, 0, 1, 0x86, 0xa1), 0, firstContainer, "container of 100001 bytes is longer than libtrap's 100000-byte buffer"},
		{"unknown type in the hello", patch(orig, 8, 'x', 'x', 'x', 'x', 'x', 'x'), 0, 0, `unknown UniRec type "xxxxxx"`},
		{"spec length beyond the limit", patch(orig, 4, 0, 1, 0, 1), 0, 0, "specifier of 65537 bytes"},
		{"message overruns its container", patch(orig, firstContainer, 0, 0, 0, 100), 0, firstContainer + 4, "message of 642 bytes overruns its container of 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := openInput(t, writeTestFile(t, tc.data))
			recs, skipped := readAll(t, r)
			if len(recs) != tc.records {
				t.Errorf("%d records before the error, want %d", len(recs), tc.records)
			}
			// What follows a broken container may be broken too: the
			// first error is the one to check.
			if len(skipped) == 0 {
				t.Fatal("no error")
			}
			var se *StreamError
			errors.As(skipped[0], &se)
			if se.Offset != tc.offset || !strings.Contains(se.Error(), tc.want) || !strings.Contains(se.Error(), "test.trapcap") {
				t.Errorf("error %q at %d, want %q at %d naming the file", se, se.Offset, tc.want, tc.offset)
			}
		})
	}
}

// patch returns a copy of b with bytes at off replaced.
func patch(b []byte, off int, with ...byte) []byte {
	c := bytes.Clone(b)
	copy(c[off:], with)
	return c
}

func TestReadRecordShorterThanTemplate(t *testing.T) {
	tmpl := mustTemplate(t, "uint32 A,uint16* L")
	good := NewBuilder(tmpl)
	good.SetUint(tmpl.Field("A"), 7)
	rec, _ := good.Append(nil)
	// Three messages: good, 3 bytes (shorter than the fixed part of 8),
	// good again.
	var payload []byte
	for _, m := range [][]byte{rec, {1, 2, 3}, rec} {
		payload = be.AppendUint16(payload, uint16(len(m)))
		payload = append(payload, m...)
	}
	file := appendHello(nil, UniRecFormat(tmpl))
	file = be.AppendUint32(file, uint32(len(payload)))
	file = append(file, payload...)
	r := openInput(t, writeTestFile(t, file))
	recs, skipped := readAll(t, r)
	if len(recs) != 2 || len(skipped) != 1 {
		t.Fatalf("%d records, errors %v", len(recs), skipped)
	}
	var se *StreamError
	if !errors.As(skipped[0], &se) || !errors.Is(se, ErrBadRecord) || se.Offset != int64(len(file)-len(payload)+2+len(rec)+2) {
		t.Errorf("error %v at %d", skipped[0], se.Offset)
	}
	if r.Stats().BadRecords != 1 {
		t.Errorf("BadRecords = %d", r.Stats().BadRecords)
	}
}

func TestFileOutputReproducesLibtrapFiles(t *testing.T) {
	// Records read from a trapcap that libtrap wrote and written again give
	// the same bytes: same hello, same container boundaries.
	for _, tc := range alfTrapcaps {
		src := shareddata.Path(t, "alf", "trapcaps", tc.name)
		in := openInput(t, "f:"+src)
		out := filepath.Join(t.TempDir(), "copy.trapcap")
		w := openOutput(t, "f:"+out)
		for {
			msg, err := in.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := w.SetFormat(in.Format()); err != nil {
				t.Fatal(err)
			}
			if err := w.Send(msg); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(src)
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: rewritten file differs (%d bytes, original %d)", tc.name, len(got), len(want))
		}
	}
}

func openOutput(tb testing.TB, spec string) *Writer {
	tb.Helper()
	s, err := ParseIfcSpec(spec)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := OpenOutput(s)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	return w
}
