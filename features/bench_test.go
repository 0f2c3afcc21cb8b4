package features

import (
	"testing"

	"github.com/alfd/alfd/trap"
)

// benchFlow is a 30-packet flow with DoH-like sizes and timing.
func benchFlow() *Flow {
	f := &Flow{Packets: 40, PacketsRev: 35, Bytes: 6000, BytesRev: 21000, NLengths: 30, NDirs: 30, NTimes: 30}
	t0 := trap.TimeFromUnix(1638540027, 0)
	f.TimeFirst = t0
	for i := range 30 {
		f.Lengths[i] = uint16(90 + (i*37)%400)
		f.Dirs[i] = int8(1 - 2*(i%2))
		f.Times[i] = trap.TimeFromUnix(1638540027, int64(i*i)*1e6+int64(i%7)*1e5)
	}
	f.TimeLast = f.Times[29]
	return f
}

// BenchmarkCompute is one 30-packet flow's 24 features.
func BenchmarkCompute(b *testing.B) {
	for _, set := range []Set{SetALF, SetFixed} {
		b.Run(set.String(), func(b *testing.B) {
			f := benchFlow()
			e := NewExtractor(set)
			var v Vector
			b.ReportAllocs()
			for b.Loop() {
				e.Compute(f, &v)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mflows/s")
		})
	}
}
