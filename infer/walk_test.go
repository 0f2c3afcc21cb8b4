package infer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/alfd/alfd/features"
)

// TestWalk8 checks walk8 (assembly where there is some) against walk8Go and
// walk1, flow by flow and tree by tree, on trees of many shapes, with keys
// equal to the thresholds and at the ends of their range.
func TestWalk8(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pool := syntheticVectors(rng, 512)
	for _, leaves := range []int{1, 2, 3, 32, 300} {
		forest := randomForest(rng, forestSpec{trees: 20, leaves: leaves, classes: 1, objective: "binary sigmoid:1"}, pool)
		m, err := Load(writeForest(t, forest, "walk.txt"), features.SetALF)
		if err != nil {
			t.Fatal(err)
		}
		e := m.Members[0]
		if e.fast.trees == nil {
			t.Fatalf("%d leaves: no batch form", leaves)
		}
		var rows [8]keyVector
		for range 200 {
			for r := range rows {
				for f, v := range edgyFlow(rng, pool, false) {
					rows[r][f] = orderKey(v)
				}
			}
			for i, tree := range e.fast.trees {
				var got, want [8]float64
				walk8(&e.fast, tree, &rows, &got)
				walk8Go(&e.fast, tree, &rows, &want)
				for r := range rows {
					one := walk1(&e.fast, tree, &rows[r])
					if math.Float64bits(got[r]) != math.Float64bits(want[r]) || math.Float64bits(one) != math.Float64bits(want[r]) {
						t.Fatalf("%d leaves, tree %d, flow %d: walk8 %v, walk8Go %v, walk1 %v", leaves, i, r, got[r], want[r], one)
					}
				}
			}
		}
	}
}

// edgyFlow is a flow of pool with some of its values made infinite, of
// either sign, or zero, and with nan some NaN: where keys and splits are
// easiest to get wrong.
func edgyFlow(rng *rand.Rand, pool []features.Vector, nan bool) features.Vector {
	x := pool[rng.IntN(len(pool))]
	for f := range x {
		switch rng.IntN(8) {
		case 0:
			x[f] = math.Inf(1 - 2*rng.IntN(2))
		case 1:
			x[f] = 0
		case 2:
			if nan {
				x[f] = math.NaN()
			}
		}
	}
	return x
}
