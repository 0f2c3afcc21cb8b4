//go:build amd64 && !purego

package features

import (
	"math"

	"golang.org/x/sys/cpu"
)

// sortNetworks is whether the processor runs sort8, sort16 and sort32.
var sortNetworks = cpu.X86.HasAVX2

// sortSmall sorts a[:n] ascending; it may overwrite a[n:]. The values must
// not be NaN or -0 (see sort_amd64.s). A flow's delays and lengths come in
// an order that makes insertion sort mispredict about once a value; a
// sorting network in AVX2 registers takes no branch.
func sortSmall(a *[sortCap]float64, n int) {
	if !sortNetworks || n < 4 {
		insertionSort(a[:n])
		return
	}
	switch {
	case n <= 8:
		fillInf(a[n:8])
		sort8(a)
	case n <= 16:
		fillInf(a[n:16])
		sort16(a)
	default:
		fillInf(a[n:])
		sort32(a)
	}
}

// fillInf pads a network's input: the padding sorts after every value.
func fillInf(a []float64) {
	for i := range a {
		a[i] = math.Inf(1)
	}
}

// The networks sort the first 8, 16 or 32 values of a (sort_amd64.s).
//
//go:noescape
func sort8(a *[sortCap]float64)

//go:noescape
func sort16(a *[sortCap]float64)

//go:noescape
func sort32(a *[sortCap]float64)
