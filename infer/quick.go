package infer

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/alfd/alfd/features"
)

// The quick form scores flows as QuickScorer does (Lucchese et al.,
// "QuickScorer: a fast algorithm to rank documents with additive ensembles
// of regression trees", SIGIR 2015), sixteen flows side by side. A tree's
// leaves are numbered left to right and a flow keeps, per tree, a bitvector
// of the leaves it can no longer reach. Every split whose test a flow fails
// (value above threshold: the flow goes right) adds the leaves of its left
// subtree; the flow's leaf is then the lowest leaf not lost, the one
// QuickScorer proves it reaches. Splits are visited feature by feature in
// ascending threshold order, so a feature's visit ends at the first split
// that all sixteen flows pass. No load waits for another, and nothing
// branches on a flow's path: where walking a tree stalls on each level's
// load and waits for the deepest of its flows, this streams through the
// splits. It needs trees of at most 32 leaves, and AVX-512 to test eight
// flows in one instruction (with AVX2's four it was slower than the walk).
// Sixteen flows a pass, not eight, share each split's loads and cost 4 %
// less on D_0's model, though more splits are visited before all pass.

// quickRows is how many flows the quick form scores side by side: their
// order keys fill two AVX-512 registers, their bitvectors of a tree one.
const quickRows = 16

// qsNode is a split of the quick form.
type qsNode struct {
	key  int64  // the threshold's order key
	kill uint32 // the leaves of the left subtree
	tree uint32 // the byte offset of the tree's bitvectors in a quickState
}

// quickForm is the quick form of an ensemble: its trees in chunks, whose
// bitvectors stay in the first-level cache.
type quickForm struct {
	chunks []quickChunk
	// leaves holds the trees' leaves left to right, a tree's from
	// firstLeaf[tree].
	leaves    []float64
	firstLeaf []uint32
}

// quickChunk is the splits of up to quickChunkTrees consecutive trees.
type quickChunk struct {
	nodes []qsNode // feature by feature, each in ascending key order
	// ends holds, per feature, the byte offset past its last node.
	ends      []uint32
	firstTree int
}

// quickChunkTrees is the most trees in a chunk: their bitvectors take 8 KB.
const quickChunkTrees = 128

// quickState is what scoring a group of flows works on: the flows' keys
// feature by feature, per tree of a chunk the bitvectors of the leaves they
// lost (all zero between chunks: quickSum clears them), and their sums.
type quickState struct {
	keys [len(keyVector{})][quickRows]int64
	lost [quickChunkTrees][quickRows]uint32
	sums [quickRows]float64
}

const (
	qsNodeSize  = uint32(unsafe.Sizeof(qsNode{}))
	qsLostBytes = uint32(unsafe.Sizeof([quickRows]uint32{}))
)

// buildQuick gives the ensemble its quick form where it pays.
func (e *Ensemble) buildQuick() {
	if useQuick {
		e.quick = e.newQuickForm()
	}
}

// newQuickForm makes the quick form of an ensemble that has a batch form,
// trees of at most 32 leaves and no factors on them (gradient boosting
// without DART); for any other, a form without chunks.
func (e *Ensemble) newQuickForm() quickForm {
	if e.fast.trees == nil || e.coef != nil {
		return quickForm{}
	}
	q := quickForm{firstLeaf: make([]uint32, 0, len(e.roots))}
	for first := 0; first < len(e.roots); first += quickChunkTrees {
		var splits []qsSplit
		for t := first; t < min(first+quickChunkTrees, len(e.roots)); t++ {
			q.firstLeaf = append(q.firstLeaf, uint32(len(q.leaves)))
			var ok bool
			if splits, ok = q.addTree(e, splits, e.roots[t], uint32(t-first)*qsLostBytes); !ok {
				return quickForm{}
			}
		}
		q.chunks = append(q.chunks, newQuickChunk(splits, e.nFeatures, first))
	}
	return q
}

// newQuickChunk orders a chunk's splits feature by feature, each feature's
// by threshold, and pads each feature's to a multiple of quickUnroll.
func newQuickChunk(splits []qsSplit, nFeatures, firstTree int) quickChunk {
	// Stable, so that the order is the same from build to build.
	slices.SortStableFunc(splits, func(a, b qsSplit) int {
		return cmp.Or(cmp.Compare(a.feature, b.feature), cmp.Compare(a.key, b.key))
	})
	c := quickChunk{ends: make([]uint32, nFeatures), firstTree: firstTree}
	for f := range uint32(nFeatures) {
		start := len(c.nodes)
		for len(splits) > 0 && splits[0].feature == f {
			c.nodes = append(c.nodes, splits[0].qsNode)
			splits = splits[1:]
		}
		for (len(c.nodes)-start)%quickUnroll != 0 {
			c.nodes = append(c.nodes, noSplit)
		}
		c.ends[f] = uint32(len(c.nodes)) * qsNodeSize
	}
	return c
}

// quickUnroll is how many splits quickMask tests before it checks whether
// the flows pass every later split of the feature.
const quickUnroll = 2

// noSplit pads a feature's splits: no key is above its threshold, and it
// would lose no leaf.
var noSplit = qsNode{key: math.MaxInt64}

// qsSplit is a split being laid out, with its feature.
type qsSplit struct {
	qsNode
	feature uint32
}

// addTree appends the splits of the tree at root to splits and its leaves
// to q.leaves, left to right. It refuses a tree of more than 32 leaves.
func (q *quickForm) addTree(e *Ensemble, splits []qsSplit, root int32, tree uint32) ([]qsSplit, bool) {
	first := len(q.leaves)
	var add func(i int32) bool
	add = func(i int32) bool {
		if i < 0 {
			if len(q.leaves)-first == 32 {
				return false
			}
			q.leaves = append(q.leaves, e.leaves[^i])
			return true
		}
		n := e.nodes[i]
		lo := len(q.leaves) - first
		if !add(n.left) {
			return false
		}
		// Bits lo to hi-1 are the leaves of the left subtree.
		hi := len(q.leaves) - first
		kill := (uint32(1)<<(hi-lo) - 1) << lo
		splits = append(splits, qsSplit{qsNode{key: orderKey(n.threshold), kill: kill, tree: tree}, n.feature})
		return add(n.right)
	}
	return splits, add(root)
}

// probaQuick is probaBatch with the quick form, quickRows flows at a time.
func (e *Ensemble) probaQuick(xs []features.Vector, out []Scores, member int) {
	var s quickState
	q := &e.quick
	for start := 0; start < len(xs); start += quickRows {
		group := xs[start:min(start+quickRows, len(xs))]
		for r := range quickRows {
			x := &group[min(r, len(group)-1)] // a short group repeats its last flow
			for f, v := range x[:e.nFeatures] {
				s.keys[f][r] = flowKey(v)
			}
			s.sums[r] = e.base
		}
		for _, c := range q.chunks {
			quickMask(&c, e.nFeatures, &s)
			quickSum(q.firstLeaf[c.firstTree:min(c.firstTree+quickChunkTrees, len(q.firstLeaf))], q.leaves, &s)
		}
		for r := range group {
			raw := [MaxGroups]float64{s.sums[r]}
			out[start+r].Members[member] = e.probaFromRaw(&raw)
		}
	}
}

// quickSumGo adds to each flow's sum the leaf of each tree whose first
// leaves are firstLeaf, and clears the trees' bitvectors. quickSum is it,
// in assembly where there is some.
func quickSumGo(firstLeaf []uint32, leaves []float64, s *quickState) {
	for t, first := range firstLeaf {
		for r := range quickRows {
			s.sums[r] += leaves[first+uint32(bits.TrailingZeros32(^s.lost[t][r]))]
		}
		s.lost[t] = [quickRows]uint32{}
	}
}

// quickMaskGo adds, for each flow of s, the leaves lost by every split of
// c it fails. quickMask is it, in assembly where there is some.
func quickMaskGo(c *quickChunk, nFeatures int, s *quickState) {
	start := 0
	for f := range nFeatures {
		end := int(c.ends[f] / qsNodeSize)
		x := &s.keys[f]
		for _, n := range c.nodes[start:end] {
			lost := &s.lost[n.tree/qsLostBytes]
			failed := 0
			for r := range quickRows {
				if x[r] > n.key {
					lost[r] |= n.kill
					failed++
				}
			}
			if failed == 0 {
				break // the later splits have higher thresholds
			}
		}
		start = end
	}
}
