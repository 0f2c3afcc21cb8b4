package infer

import (
	"math"
)

// fnode is a node of the batch form: 16 bytes, four to a cache line. Its
// children are offsets from it; a leaf is a node whose children are itself,
// with the bits of its value in key, so that every walk of a tree takes the
// same number of steps and needs no test for having arrived. The threshold
// is an order key (see orderKey): comparing integers lets the compiler pick
// the child with a conditional move instead of a branch.
type fnode struct {
	key int64
	// meta packs the feature (bits 0-15) and the offsets of the left
	// (16-31) and right (32-47) children, loaded as one word.
	meta uint64
}

func packMeta(feature uint16, left, right int16) uint64 {
	return uint64(feature) | uint64(uint16(left))<<16 | uint64(uint16(right))<<32
}

// orderKey maps a float64 to an int64 whose signed order is the float's
// order: -0 and +0 share a key, and NaN (a threshold no value passes) is
// below every value.
func orderKey(x float64) int64 {
	switch {
	case x != x:
		return math.MinInt64
	case x == 0:
		return 0
	}
	b := int64(math.Float64bits(x))
	if b < 0 {
		b ^= math.MaxInt64
	}
	return b
}

// keyVector holds a flow's features as order keys, padded to a power of two
// so that a masked index needs no bounds check.
type keyVector [32]int64

const featureMask = len(keyVector{}) - 1

// fastTree is where a tree starts in the batch form and how deep it is.
type fastTree struct {
	root  int32
	depth int32
}

// buildFast makes the batch form of an ensemble whose splits are all plain
// and whose output is one group; it leaves fastTrees nil for any other.
func (e *Ensemble) buildFast() {
	if e.special || e.float32s || e.nGroups != 1 || e.nFeatures > math.MaxUint16 {
		return
	}
	var nodes []fnode
	var trees []fastTree
	for _, root := range e.roots {
		start := int32(len(nodes))
		depth, ok := e.appendFast(&nodes, root, 0)
		if !ok {
			return
		}
		trees = append(trees, fastTree{root: start, depth: int32(depth)})
	}
	e.fastNodes, e.fastTrees = nodes, trees
}

// appendFast lays out the subtree at i depth first and returns its depth.
func (e *Ensemble) appendFast(nodes *[]fnode, i int32, depth int) (int, bool) {
	at := len(*nodes)
	if i < 0 {
		*nodes = append(*nodes, fnode{key: int64(math.Float64bits(e.leaves[^i]))})
		return depth, true
	}
	n := e.nodes[i]
	*nodes = append(*nodes, fnode{key: orderKey(n.threshold)})
	dl, okl := e.appendFast(nodes, n.left, depth+1)
	right := len(*nodes)
	dr, okr := e.appendFast(nodes, n.right, depth+1)
	if !okl || !okr || right-at > math.MaxInt16 {
		return 0, false
	}
	(*nodes)[at].meta = packMeta(uint16(n.feature), 1, int16(right-at))
	return max(dl, dr), true
}

// step moves from node i one level down for the flow x: to the left child
// when x's feature is at most the threshold. It is arithmetic, without a
// branch the processor could mispredict.
func step(nodes []fnode, i int32, x *keyVector) int32 {
	n := &nodes[i]
	meta := n.meta
	left, right := int32(int16(meta>>16)), int32(int16(meta>>32))
	return i + right + b2i(x[meta&uint64(featureMask)] <= n.key)*(left-right)
}

// b2i is 1 for true; the compiler makes it a SETcc.
func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// walk8 takes eight consecutive flows through one tree side by side, so
// that their independent chains of loads overlap; the flows share one base
// pointer, which leaves registers for all eight positions.
func walk8(nodes []fnode, t fastTree, x *[8]keyVector, out *[8]float64) {
	i0, i1, i2, i3 := t.root, t.root, t.root, t.root
	i4, i5, i6, i7 := t.root, t.root, t.root, t.root
	for range t.depth {
		j0 := step(nodes, i0, &x[0])
		j1 := step(nodes, i1, &x[1])
		j2 := step(nodes, i2, &x[2])
		j3 := step(nodes, i3, &x[3])
		j4 := step(nodes, i4, &x[4])
		j5 := step(nodes, i5, &x[5])
		j6 := step(nodes, i6, &x[6])
		j7 := step(nodes, i7, &x[7])
		// Leaves loop to themselves: when no flow moved, all are at
		// leaves, short of the tree's depth (leaf-wise trees are uneven).
		if (j0^i0)|(j1^i1)|(j2^i2)|(j3^i3)|(j4^i4)|(j5^i5)|(j6^i6)|(j7^i7) == 0 {
			break
		}
		i0, i1, i2, i3, i4, i5, i6, i7 = j0, j1, j2, j3, j4, j5, j6, j7
	}
	out[0], out[1], out[2], out[3] = leafValue(&nodes[i0]), leafValue(&nodes[i1]), leafValue(&nodes[i2]), leafValue(&nodes[i3])
	out[4], out[5], out[6], out[7] = leafValue(&nodes[i4]), leafValue(&nodes[i5]), leafValue(&nodes[i6]), leafValue(&nodes[i7])
}

func leafValue(n *fnode) float64 { return math.Float64frombits(uint64(n.key)) }

// walk1 takes one flow through one tree in the batch form.
func walk1(nodes []fnode, t fastTree, x *keyVector) float64 {
	i := t.root
	for range t.depth {
		i = step(nodes, i, x)
	}
	return leafValue(&nodes[i])
}
