//go:build amd64 && !purego

package features

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortingNetworks checks each network by the 0-1 principle: a network
// that sorts every input of zeros and ones sorts every input. sort8's and
// sort16's inputs are all tried; sort32's are too many, so random ones of
// every density are.
func TestSortingNetworks(t *testing.T) {
	if !sortNetworks {
		t.Skip("this processor has no AVX2; sortSmall sorts by insertion")
	}
	check := func(name string, sort func(*[sortCap]float64), width int, ones uint32) {
		t.Helper()
		var a [sortCap]float64
		for i := range width {
			a[i] = float64(ones >> i & 1)
		}
		sort(&a)
		zeros := width - bits.OnesCount32(ones)
		for i := range width {
			if want := float64(min(1, max(0, i-zeros+1))); a[i] != want {
				t.Fatalf("%s(%0*b) = %v", name, width, ones, a[:width])
			}
		}
	}
	for ones := range uint32(1 << 8) {
		check("sort8", sort8, 8, ones)
	}
	for ones := range uint32(1 << 16) {
		check("sort16", sort16, 16, ones)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1 << 16 {
		// A random density, so that inputs of few ones and of many ones
		// are as common as balanced ones.
		ones := r.Uint32() & r.Uint32()
		if r.IntN(2) == 0 {
			ones = r.Uint32() | r.Uint32()
		}
		check("sort32", sort32, 32, ones)
	}
	// The networks keep the values themselves, not just their order.
	var a [sortCap]float64
	for i := range a {
		a[i] = float64(r.IntN(1000))
	}
	want := slices.Clone(a[:])
	slices.Sort(want)
	sort32(&a)
	if !slices.Equal(a[:], want) {
		t.Fatalf("sort32 gave %v, want %v", a, want)
	}
}
