//go:build !amd64 || purego

package infer

func walk8(f *fastForm, t fastTree, x *[8]keyVector, out *[8]float64) {
	walk8Go(f, t, x, out)
}
