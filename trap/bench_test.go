package trap

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
)

// benchTrapcap returns a trapcap of ALF-template records: a real one from the
// shared data when it is there, else one written from synthetic records.
func benchTrapcap(b *testing.B) []byte {
	if dir := shareddata.Dir(); dir != "" {
		data, err := os.ReadFile(filepath.Join(dir, "alf", "trapcaps", "data.trapcap.202112021735"))
		if err == nil {
			return data
		}
	}
	tmpl, recs := testRecords(b, 4000)
	path := filepath.Join(b.TempDir(), "bench.trapcap")
	w := openOutput(b, "f:"+path)
	w.SetFormat(UniRecFormat(tmpl))
	for _, r := range recs {
		w.Send(r)
	}
	w.Close()
	data, _ := os.ReadFile(path)
	return data
}

// loopSource serves the same trapcap bytes again and again.
type loopSource struct{ data []byte }

func (s loopSource) next(_, _ context.Context) (io.ReadCloser, string, error) {
	return io.NopCloser(bytes.NewReader(s.data)), "memory", nil
}
func (loopSource) backoff()       {}
func (loopSource) headerLen() int { return fileHeaderLen }
func (loopSource) isSocket() bool { return false }

// BenchmarkDecodeALF reads ALF-template records from a trapcap in memory:
// container framing, message framing, and the record check, then reads the
// fields the DoH features use. One op is one record.
func BenchmarkDecodeALF(b *testing.B) {
	r := newReader(IfcSpec{Kind: 'f', Text: "f:memory", Timeout: Wait}, loopSource{benchTrapcap(b)}, InputConfig{})
	rec, err := r.Next()
	if err != nil {
		b.Fatal(err)
	}
	t := rec.Template()
	packets, bytesF, first := t.Field("PACKETS"), t.Field("BYTES"), t.Field("TIME_FIRST")
	lengths, times := t.Field("PPI_PKT_LENGTHS"), t.Field("PPI_PKT_TIMES")
	var sink uint64
	b.ReportAllocs()
	b.SetBytes(int64(len(rec.Raw())))
	for b.Loop() {
		rec, err := r.Next()
		if err == io.EOF {
			// The end of the file: a new pass starts with its hello.
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		sink += uint64(rec.Uint32(packets)) + rec.Uint64(bytesF) + uint64(rec.Time(first)) +
			uint64(rec.Uint16s(lengths).Len()) + uint64(rec.Times(times).Len())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrecords/s")
	if sink == 0 {
		b.Fatal("nothing read")
	}
}

// BenchmarkUnixSocket sends records through a u: output to a u: input in the
// same process. One op is one record, written and read.
func BenchmarkUnixSocket(b *testing.B) {
	dir := b.TempDir()
	b.Setenv("TRAP_SOCKET_DIR", dir)
	src := newReader(IfcSpec{Kind: 'f', Text: "f:memory", Timeout: Wait}, loopSource{benchTrapcap(b)}, InputConfig{})
	var recs [][]byte
	for len(recs) < 4000 {
		rec, err := src.Next()
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, bytes.Clone(rec.Raw()))
	}
	w := openOutput(b, "u:bench")
	if err := w.SetFormat(src.Format()); err != nil {
		b.Fatal(err)
	}
	in := openInput(b, "u:bench")
	got := make(chan int)
	go func() {
		n := 0
		for {
			if _, err := in.Recv(); err != nil {
				got <- n
				return
			}
			n++
		}
	}()
	for w.Stats().Clients == 0 {
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(recs[0])))
	i := 0
	for b.Loop() {
		if err := w.Send(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	w.Close()
	if n := <-got; n != i {
		b.Fatalf("read %d records of %d", n, i)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrecords/s")
}

// BenchmarkBuildALF writes one ALF-template record with 30 packets of PPI,
// setting the arrays whole (SetArray) and element by element (AppendElem).
func BenchmarkBuildALF(b *testing.B) {
	tmpl := mustTemplate(b, alfSpec)
	bld := NewBuilder(tmpl)
	packets, sni := tmpl.Field("PACKETS"), tmpl.Field("TLS_SNI")
	lengths, dirs, times := tmpl.Field("PPI_PKT_LENGTHS"), tmpl.Field("PPI_PKT_DIRECTIONS"), tmpl.Field("PPI_PKT_TIMES")
	var ppiLen [30]uint16
	var ppiDir [30]int8
	var ppiTime [30]Time
	for k := range 30 {
		ppiLen[k], ppiDir[k], ppiTime[k] = uint16(100+k), 1, Time(k)
	}
	buf := make([]byte, 0, 4096)
	build := func() {
		bld.Reset()
		bld.SetUint(packets, 7)
		bld.SetString(sni, "dns.example")
		SetArray(bld, lengths, ppiLen[:])
		SetArray(bld, dirs, ppiDir[:])
		SetArray(bld, times, ppiTime[:])
		buf, _ = bld.Append(buf[:0])
	}
	b.Run("SetArray", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			build()
		}
	})
	// A record of the template copied into one with three more fields, as
	// alfd's output is built from its input.
	b.Run("CopyFrom", func(b *testing.B) {
		build()
		raw := bytes.Clone(buf)
		rec, err := tmpl.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		wide, err := tmpl.Extend("uint8 DOH,double DOH_PROBA,uint32 MODEL_VERSION")
		if err != nil {
			b.Fatal(err)
		}
		out := NewBuilder(wide)
		b.ReportAllocs()
		for b.Loop() {
			out.Reset()
			out.CopyFrom(rec)
			buf, _ = out.Append(buf[:0])
		}
	})
	b.Run("AppendElem", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bld.Reset()
			bld.SetUint(packets, 7)
			bld.SetString(sni, "dns.example")
			for k := range 30 {
				bld.AppendElem(lengths, uint64(ppiLen[k]))
				bld.AppendElem(dirs, uint64(ppiDir[k]))
				bld.AppendElem(times, uint64(ppiTime[k]))
			}
			buf, _ = bld.Append(buf[:0])
		}
	})
}
