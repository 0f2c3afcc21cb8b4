package classify

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/internal/shareddata"
	"github.com/alfd/alfd/synth"
	"github.com/alfd/alfd/trap"
)

// BenchmarkPipeline runs flows from a trapcap held in memory through
// features, classification, the dry run's labels and the UniRec output
// (to a blackhole), on one core: the goal is a million flows/s.
// records/s counts every record read; flows/s the flows classified (the
// rest have too few packets for features). ALF's single model is three
// forests of 100 full-depth trees; gbdt is alfd's gradient boosting.
func BenchmarkPipeline(b *testing.B) {
	dir := shareddata.Path(b, "alf", "trapcaps")
	in := openInput(b, "f:"+filepath.Join(dir, "data.trapcap.202112021735"))
	// The records back to back in one buffer, as TRAP's containers bring
	// them.
	var tmpl *trap.Template
	var all []byte
	var ends []int
	for {
		rec, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		tmpl = rec.Template()
		all = append(all, rec.Raw()...)
		ends = append(ends, len(all))
	}
	recs := make([][]byte, len(ends))
	start := 0
	for i, end := range ends {
		recs[i], start = all[start:end:end], end
	}
	// The records once per core, classified side by side, as the meters of
	// a fanout group are: how the pipeline scales.
	b.Run("gbdt-parallel", func(b *testing.B) {
		var slot infer.Slot
		slot.Store(d0Model(b, "gbdt"))
		p := New(Config{Set: features.SetALF, Slot: &slot, Output: TrapOutput{W: openOutput(b, "b:")}, Oracle: synth.Blacklist()})
		sources := make([]Source, runtime.GOMAXPROCS(0))
		b.ResetTimer()
		for range b.N {
			for i := range sources {
				sources[i] = &sliceSource{tmpl: tmpl, recs: recs}
			}
			if err := p.RunAll(context.Background(), sources); err != nil {
				b.Fatal(err)
			}
		}
		secs := b.Elapsed().Seconds()
		st := p.Stats()
		b.ReportMetric(float64(st.Records.Load())/secs, "records/s")
		b.ReportMetric(float64(st.Classified.Load())/secs, "flows/s")
		b.ReportMetric(float64(len(sources)), "sources")
	})
	for _, kind := range []string{"gbdt", "single"} {
		b.Run(kind, func(b *testing.B) {
			var slot infer.Slot
			slot.Store(d0Model(b, kind))
			bench := newBenchPipeline(b, &slot, nil, tmpl, recs)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				bench.runOnce(b)
			}
			secs := b.Elapsed().Seconds()
			st := bench.p.Stats()
			b.ReportMetric(float64(st.Records.Load())/secs, "records/s")
			b.ReportMetric(float64(st.Classified.Load())/secs, "flows/s")
			b.ReportMetric(secs*1e9/float64(st.Records.Load()), "ns/record")
		})
	}
}
