package features

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortInputs are the kinds of values a flow's delays and lengths take:
// any order, many ties, already sorted, reversed.
var sortInputs = map[string]func(r *rand.Rand, a []float64){
	"random": func(r *rand.Rand, a []float64) {
		for i := range a {
			a[i] = r.NormFloat64() * 1e3
		}
	},
	"ties": func(r *rand.Rand, a []float64) {
		for i := range a {
			a[i] = float64(r.IntN(4))
		}
	},
	"sorted": func(r *rand.Rand, a []float64) {
		x := 0.0
		for i := range a {
			x += float64(r.IntN(3))
			a[i] = x
		}
	},
	"reversed": func(r *rand.Rand, a []float64) {
		x := 0.0
		for i := range a {
			x -= float64(r.IntN(3))
			a[i] = x
		}
	},
}

// TestSortSmall holds sortSmall, whichever way this processor sorts, to
// slices.Sort for every length it is given.
func TestSortSmall(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for name, fill := range sortInputs {
		for n := range sortCap + 1 {
			for range 200 {
				var a [sortCap]float64
				fill(r, a[:n])
				want := slices.Clone(a[:n])
				slices.Sort(want)
				sortSmall(&a, n)
				if !slices.Equal(a[:n], want) {
					t.Fatalf("%s, %d values: sorted to %v, want %v", name, n, a[:n], want)
				}
			}
		}
	}
}

func BenchmarkSortSmall(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{8, 15, 29} {
		const inputs = 1024
		in := make([][sortCap]float64, inputs)
		for i := range in {
			sortInputs["random"](r, in[i][:n])
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var a [sortCap]float64
			i := 0
			for b.Loop() {
				a = in[i%inputs]
				sortSmall(&a, n)
				i++
			}
		})
	}
}
