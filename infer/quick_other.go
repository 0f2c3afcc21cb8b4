//go:build !amd64 || purego

package infer

// useQuick is whether ensembles get a quick form: not without assembly,
// where the Go form is slower than walking the batch form.
const useQuick = false

func quickMask(c *quickChunk, nFeatures int, s *quickState) { quickMaskGo(c, nFeatures, s) }

func quickSum(firstLeaf []uint32, leaves []float64, s *quickState) { quickSumGo(firstLeaf, leaves, s) }
