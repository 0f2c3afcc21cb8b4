package features

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/alfd/alfd/trap"
)

// flowFromBytes makes any flow from fuzz input: counters, then the three
// per-packet arrays with their own lengths, times in any order.
func flowFromBytes(data []byte) *Flow {
	f := &Flow{}
	next := func(n int) uint64 {
		var b [8]byte
		c := copy(b[:n], data)
		data = data[c:]
		return binary.LittleEndian.Uint64(b[:])
	}
	f.Packets, f.PacketsRev = next(2), next(2)
	f.Bytes, f.BytesRev = next(3), next(3)
	f.TimeFirst, f.TimeLast = trap.Time(next(8)), trap.Time(next(8))
	counts := next(3)
	f.NLengths, f.NDirs, f.NTimes = int(counts&0xff)%(MaxPackets+1), int(counts>>8&0xff)%(MaxPackets+1), int(counts>>16&0xff)%(MaxPackets+1)
	for i := range f.NLengths {
		f.Lengths[i] = uint16(next(2))
	}
	for i := range f.NDirs {
		f.Dirs[i] = int8(next(1))
	}
	base := next(8)
	for i := range f.NTimes {
		// Small steps around a base, forwards, backwards or none.
		f.Times[i] = trap.Time(base + uint64(int64(int16(next(2))))<<20)
	}
	return f
}

func FuzzCompute(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 200))
	seed := []byte{10, 0, 12, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 30, 30, 30}
	for i := range 60 {
		seed = append(seed, byte(i*7), byte(i%3))
	}
	f.Add(seed)
	alf, fixed := NewExtractor(SetALF), NewExtractor(SetFixed)
	f.Fuzz(func(t *testing.T, data []byte) {
		flow := flowFromBytes(data)
		for _, e := range []*Extractor{alf, fixed} {
			var v Vector
			if e.Compute(flow, &v) != Kept {
				continue
			}
			for i, x := range v {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					t.Fatalf("%v: %s = %v for %+v", e.Set(), Names[i], x, flow)
				}
			}
			if v[Autocorr] < -1 || v[Autocorr] > 1 || v[Bursts]+v[Fizzles] > float64(max(flow.NTimes-1, 0)) {
				t.Fatalf("%v: autocorr %v, bursts %v, fizzles %v", e.Set(), v[Autocorr], v[Bursts], v[Fizzles])
			}
		}
	})
}
