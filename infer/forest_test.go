package infer

import (
	"bufio"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/internal/shareddata"
)

// forestSpec describes a random forest for tests and benchmarks.
type forestSpec struct {
	trees, leaves int
	classes       int    // 1: binary
	objective     string // LightGBM's objective line
	average       bool
	special       bool // missing types, default directions and categorical splits
}

// randomForest grows random trees as LightGBM numbers them: splitting leaf
// k makes a node whose left child is leaf k and whose right child is a new
// leaf. Thresholds come from the values in pool, so that flows go both ways.
func randomForest(rng *rand.Rand, s forestSpec, pool []features.Vector) *Forest {
	f := &Forest{NumClass: s.classes, Objective: s.objective, AverageOutput: s.average, FeatureNames: features.Names[:]}
	for range s.trees * s.classes {
		f.Trees = append(f.Trees, randomTree(rng, s, pool))
	}
	return f
}

func randomTree(rng *rand.Rand, s forestSpec, pool []features.Vector) Tree {
	var t Tree
	type ref struct {
		node int
		left bool
	}
	parents := []ref{{-1, false}} // who points at each leaf
	for len(parents) < s.leaves {
		k := rng.IntN(len(parents))
		n := len(t.SplitFeature)
		feat := rng.IntN(features.N)
		thr := pool[rng.IntN(len(pool))][feat]
		var dt uint8
		if s.special {
			switch r := rng.IntN(10); {
			case r < 2:
				dt = DecisionDefaultLeft
			case r < 4:
				dt = MissingZero | uint8(rng.IntN(2))*DecisionDefaultLeft
			case r < 6:
				dt = MissingNaN | uint8(rng.IntN(2))*DecisionDefaultLeft
			case r < 7:
				// Categorical: a bitset of 1 to 3 words, one or more bits.
				dt = DecisionCategorical | uint8(rng.IntN(3))<<2
				if len(t.CatBoundaries) == 0 {
					t.CatBoundaries = []int{0}
				}
				thr = float64(len(t.CatBoundaries) - 1)
				words := 1 + rng.IntN(3)
				for w := range words {
					var bits uint32
					if w == 0 || rng.IntN(2) == 0 {
						bits = 1 << rng.IntN(32)
						if rng.IntN(2) == 0 {
							bits |= rng.Uint32()
						}
					}
					t.CatThreshold = append(t.CatThreshold, bits)
				}
				t.CatBoundaries = append(t.CatBoundaries, len(t.CatThreshold))
			}
		}
		t.SplitFeature = append(t.SplitFeature, feat)
		t.Threshold = append(t.Threshold, thr)
		t.DecisionType = append(t.DecisionType, dt)
		t.LeftChild = append(t.LeftChild, ^k)
		t.RightChild = append(t.RightChild, ^len(parents))
		if p := parents[k]; p.node >= 0 {
			if p.left {
				t.LeftChild[p.node] = n
			} else {
				t.RightChild[p.node] = n
			}
		}
		parents[k] = ref{n, true}
		parents = append(parents, ref{n, false})
	}
	for range parents {
		t.LeafValue = append(t.LeafValue, rng.NormFloat64()*0.3)
	}
	return t
}

// writeForest writes f as a LightGBM text file in a test directory.
func writeForest(tb testing.TB, f *Forest, name string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	out, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close()
	if err := f.WriteLightGBM(out); err != nil {
		tb.Fatal(err)
	}
	return path
}

// realVectors reads feature vectors of real flows: ALF's D_0 and the golden
// features of the shared trapcaps. None without the shared data.
func realVectors(tb testing.TB) []features.Vector {
	dir := shareddata.Dir()
	if dir == "" {
		return nil
	}
	var out []features.Vector
	read := func(path string, first int) {
		f, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range rows[1:] {
			var v features.Vector
			for i := range features.N {
				if v[i], err = strconv.ParseFloat(r[first+i], 64); err != nil {
					tb.Fatal(err)
				}
			}
			out = append(out, v)
		}
	}
	read(filepath.Join(dir, "alf", "doh_D0.csv"), 1)
	golden, _ := filepath.Glob(filepath.Join(dir, "alf", "golden", "*.csv"))
	for _, g := range golden {
		read(g, 5)
	}
	return out
}

// syntheticVectors are plausible feature vectors when there is no real data.
func syntheticVectors(rng *rand.Rand, n int) []features.Vector {
	out := make([]features.Vector, n)
	for i := range out {
		for j := range features.N {
			out[i][j] = math.Round(math.Exp(rng.NormFloat64()*2+4)) * float64(1-2*rng.IntN(8)/7)
		}
	}
	return out
}

// trickyVectors are random vectors full of what splits are sensitive to:
// NaN, zero, values inside LightGBM's zero band, the thresholds themselves,
// small category numbers, and values beyond any threshold.
func trickyVectors(rng *rand.Rand, n int, f *Forest, pool []features.Vector) []features.Vector {
	out := make([]features.Vector, n)
	for i := range out {
		base := pool[rng.IntN(len(pool))]
		for j := range features.N {
			switch r := rng.IntN(20); {
			case r == 0:
				out[i][j] = math.NaN()
			case r == 1:
				out[i][j] = 0
			case r == 2:
				out[i][j] = (rng.Float64() - 0.5) * 2e-35
			case r < 8:
				t := &f.Trees[rng.IntN(len(f.Trees))]
				if len(t.Threshold) > 0 {
					out[i][j] = t.Threshold[rng.IntN(len(t.Threshold))]
				}
			case r < 10:
				out[i][j] = float64(rng.IntN(100) - 5)
			case r == 10:
				out[i][j] = math.Inf(1 - 2*rng.IntN(2))
			default:
				out[i][j] = base[j]
			}
		}
	}
	return out
}
