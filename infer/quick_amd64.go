//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

// useQuick is whether ensembles get a quick form: where the processor has
// the AVX-512 that quick_amd64.s needs. (quickMaskGo, and the same in AVX2
// four flows at a time, are slower than walking the batch form.)
var useQuick = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512CD

// quickMask is quickMaskGo in assembly: the sixteen flows' tests of a split
// in two instructions, their bitvectors updated in three.
func quickMask(c *quickChunk, nFeatures int, s *quickState) {
	if len(c.nodes) == 0 {
		return
	}
	quickMaskAVX512(&c.nodes[0], &c.ends[0], nFeatures, &s.keys, &s.lost)
}

// quickSum is quickSumGo in assembly.
func quickSum(firstLeaf []uint32, leaves []float64, s *quickState) {
	quickSumAVX512(&s.lost, &firstLeaf[0], len(firstLeaf), &leaves[0], &s.sums)
}

//go:noescape
func quickMaskAVX512(nodes *qsNode, ends *uint32, nFeatures int, keys *[len(keyVector{})][quickRows]int64, lost *[quickChunkTrees][quickRows]uint32)

//go:noescape
func quickSumAVX512(lost *[quickChunkTrees][quickRows]uint32, firstLeaf *uint32, nTrees int, leaves *float64, sums *[quickRows]float64)
