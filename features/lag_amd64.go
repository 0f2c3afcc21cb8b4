//go:build amd64 && !purego

package features

import "golang.org/x/sys/cpu"

// lagAVX2 is whether lagProductsAVX2 runs here.
var lagAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// lagPad is the lengths as lagProductsAVX2 reads them: 32 values and the 9
// after them for the longest lag, zeros past the flow's, rounded to a
// whole register.
const lagPad = 44

// lagProducts sets products[lag] to the sum of x[k]*x[k+lag] for lag 1..9,
// at most 32 lengths. In AVX2 each lag is eight multiply-adds of four
// products; the products and their sums are whole numbers below 2^53,
// exact in float64 in any order.
func lagProducts(x []uint16, products *[10]int64) {
	if !lagAVX2 {
		lagProductsGo(x, products)
		return
	}
	var xp [lagPad]float64
	for i, v := range x {
		xp[i] = float64(v)
	}
	lagProductsAVX2(&xp, products)
}

//go:noescape
func lagProductsAVX2(xp *[lagPad]float64, products *[10]int64)
