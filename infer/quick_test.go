package infer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/alfd/alfd/features"
)

// TestQuickForm checks the quick form against the batch form's walk, row by
// row and bit for bit, on forests of many shapes: one-leaf trees, the most
// leaves it takes (32), more trees than a chunk holds, and groups cut short;
// keys equal to the thresholds and at the ends of their range. quickMask
// and quickSum (assembly where there is some) are held to quickMaskGo and
// quickSumGo on the way.
func TestQuickForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pool := syntheticVectors(rng, 512)
	for _, shape := range []struct{ trees, leaves int }{{20, 1}, {20, 2}, {20, 3}, {300, 32}, {5, 33}} {
		forest := randomForest(rng, forestSpec{trees: shape.trees, leaves: shape.leaves, classes: 1, objective: "binary sigmoid:1"}, pool)
		m, err := Load(writeForest(t, forest, "quick.txt"), features.SetALF)
		if err != nil {
			t.Fatal(err)
		}
		e := m.Members[0]
		// Built even where it does not pay, to hold quickMaskGo to the walk.
		e.quick = e.newQuickForm()
		if shape.leaves > 32 {
			if e.quick.chunks != nil {
				t.Fatalf("%d leaves: a quick form", shape.leaves)
			}
			continue
		}
		if e.quick.chunks == nil {
			t.Fatalf("%d leaves: no quick form", shape.leaves)
		}
		if want := (shape.trees + quickChunkTrees - 1) / quickChunkTrees; len(e.quick.chunks) != want {
			t.Fatalf("%d trees in %d chunks, want %d", shape.trees, len(e.quick.chunks), want)
		}
		var xs [19]features.Vector
		var s quickState
		for range 50 {
			for r := range xs {
				xs[r] = edgyFlow(rng, pool, true)
			}
			n := 1 + rng.IntN(len(xs))
			var got, want [len(xs)]Scores
			e.probaQuick(xs[:n], got[:n], 0)
			quick := e.quick
			e.quick = quickForm{}
			e.probaBatch(xs[:n], want[:n], 0)
			e.quick = quick
			for r := range n {
				if g, w := got[r].Members[0], want[r].Members[0]; math.Float64bits(g) != math.Float64bits(w) {
					t.Fatalf("%dx%d, flow %d of %d: quick form %v, walk %v", shape.trees, shape.leaves, r, n, g, w)
				}
			}
			// A group again, chunk by chunk, against the Go functions.
			for r := range quickRows {
				for f, v := range xs[r] {
					s.keys[f][r] = orderKey(v)
				}
			}
			for _, c := range e.quick.chunks {
				firstLeaf := e.quick.firstLeaf[c.firstTree:min(c.firstTree+quickChunkTrees, len(e.roots))]
				asm, ref := s, s
				quickMask(&c, e.nFeatures, &asm)
				quickMaskGo(&c, e.nFeatures, &ref)
				if asm.lost != ref.lost {
					t.Fatalf("%dx%d: quickMask and quickMaskGo lose different leaves", shape.trees, shape.leaves)
				}
				quickSum(firstLeaf, e.quick.leaves, &asm)
				quickSumGo(firstLeaf, e.quick.leaves, &ref)
				if asm.sums != ref.sums || asm.lost != ref.lost || asm.lost != s.lost {
					t.Fatalf("%dx%d: quickSum and quickSumGo differ: sums %v and %v", shape.trees, shape.leaves, asm.sums, ref.sums)
				}
			}
		}
	}
}

// TestKeysKeepOrder checks that orderKey orders thresholds as the floats
// order, and that flowKey is orderKey of a flow's value as plain splits
// read it (NaN as 0), at the values where the bits play tricks: zeros of
// both signs, infinities, the smallest and largest finite values.
func TestKeysKeepOrder(t *testing.T) {
	values := []float64{math.Inf(-1), -math.MaxFloat64, -1.5, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0,
		math.SmallestNonzeroFloat64, 1, 1.5, math.MaxFloat64, math.Inf(1)}
	for i, a := range values {
		for _, b := range values[i:] {
			if (orderKey(a) <= orderKey(b)) != (a <= b) || (orderKey(a) == orderKey(b)) != (a == b) {
				t.Errorf("orderKey(%v) = %d, orderKey(%v) = %d", a, orderKey(a), b, orderKey(b))
			}
		}
		if flowKey(a) != orderKey(a) {
			t.Errorf("flowKey(%v) = %d, orderKey %d", a, flowKey(a), orderKey(a))
		}
	}
	if flowKey(math.NaN()) != orderKey(0) {
		t.Errorf("flowKey(NaN) = %d, want orderKey(0)", flowKey(math.NaN()))
	}
}
