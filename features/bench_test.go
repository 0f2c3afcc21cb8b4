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
			benchmarkFlows(b, set, []Flow{*benchFlow()})
		})
	}
	// The flows ALF kept from a CESNET trapcap, in turn: real sizes and
	// timing, so sorting and branches cost what they cost on a real link.
	b.Run("alf-cesnet", func(b *testing.B) {
		benchmarkFlows(b, SetALF, keptFlows(b, "data.trapcap.202112031435"))
	})
	// Those of them with 30 packets: real timing sorts slower than the
	// made-up flow's ordered delays.
	b.Run("alf-cesnet-30", func(b *testing.B) {
		var full []Flow
		for _, f := range keptFlows(b, "data.trapcap.202112031435") {
			if f.NTimes == MaxPackets {
				full = append(full, f)
			}
		}
		benchmarkFlows(b, SetALF, full)
	})
}

func benchmarkFlows(b *testing.B, set Set, flows []Flow) {
	e := NewExtractor(set)
	var v Vector
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Compute(&flows[i], &v)
		if i++; i == len(flows) {
			i = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mflows/s")
}

// keptFlows is the flows of a shared trapcap that ALF's filters keep.
func keptFlows(b *testing.B, name string) []Flow {
	var kept []Flow
	for _, f := range trapcapFlows(b, name) {
		if Filter(f.Packets, f.PacketsRev) == Kept {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 {
		b.Fatalf("%s: no flow kept", name)
	}
	return kept
}
