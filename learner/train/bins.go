package train

import (
	"slices"

	"github.com/alfd/alfd/features"
)

// maxBins is how many bins a feature's values fall into: every distinct
// value its own bin when there are few, else equal-frequency bins.
const maxBins = 255

// binned is a training set with every value replaced by its bin, column by
// column, and the thresholds between bins.
type binned struct {
	n int
	// bins[f][r] is the bin of row r's feature f.
	bins [features.N][]uint8
	// cuts[f][b] is the threshold between bins b and b+1: every training
	// value in bins 0..b is at most it, every other one above.
	cuts [features.N][]float64
	y    []uint8
}

func binData(x []features.Vector, y []bool) *binned {
	d := &binned{n: len(x), y: make([]uint8, len(y))}
	for i, v := range y {
		if v {
			d.y[i] = 1
		}
	}
	col := make([]float64, len(x))
	for f := range features.N {
		for i := range x {
			col[i] = x[i][f]
		}
		d.cuts[f] = cutPoints(col)
		b := make([]uint8, len(x))
		for i := range x {
			b[i] = uint8(binOf(d.cuts[f], x[i][f]))
		}
		d.bins[f] = b
	}
	return d
}

// cutPoints chooses the thresholds between the bins of values. A
// threshold lies halfway between the largest value of one bin and the
// smallest of the next, as scikit-learn places its splits.
func cutPoints(values []float64) []float64 {
	v := slices.Clone(values)
	slices.Sort(v)
	v = slices.Compact(v)
	if len(v) <= 1 {
		return nil
	}
	var cuts []float64
	if len(v) <= maxBins {
		for i := 1; i < len(v); i++ {
			cuts = append(cuts, midpoint(v[i-1], v[i]))
		}
		return cuts
	}
	// Equal-frequency bins over all values (not just distinct ones).
	all := slices.Clone(values)
	slices.Sort(all)
	for b := 1; b < maxBins; b++ {
		hi := all[b*len(all)/maxBins]
		// The cut below the first value >= hi that differs from its
		// predecessor.
		i, _ := slices.BinarySearch(v, hi)
		if i == 0 {
			continue
		}
		c := midpoint(v[i-1], v[i])
		if len(cuts) == 0 || c > cuts[len(cuts)-1] {
			cuts = append(cuts, c)
		}
	}
	return cuts
}

// midpoint is halfway between a < b, or a itself where rounding would put
// it on b, so that x <= midpoint holds exactly for the values up to a.
func midpoint(a, b float64) float64 {
	m := a + (b-a)/2
	if m >= b {
		m = a
	}
	return m
}

// binOf is the number of cuts below x: its bin.
func binOf(cuts []float64, x float64) int {
	i, _ := slices.BinarySearch(cuts, x)
	return i
}
