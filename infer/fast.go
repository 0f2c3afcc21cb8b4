package infer

import (
	"math"
	"unsafe"
)

// fnode is a node of the batch form: 24 bytes, each field a whole word, so
// that a step needs no unpacking (packing into 16 bytes cost more in shifts
// than it saved in cache). Its children are byte offsets from the first node
// and its feature a byte offset into a keyVector, which the assembly walk
// uses as they are. A leaf is a node whose children are itself, with the
// bits of its value in key, so that every walk of a tree takes the same
// number of steps and needs no test for having arrived. The threshold is an
// order key (see orderKey): comparing integers lets the walk pick the child
// with a conditional move instead of a branch.
type fnode struct {
	key         int64
	left, right uint32
	feature     uint32
}

const nodeSize = uint32(unsafe.Sizeof(fnode{}))

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

// fastTree is where a tree starts in the batch form (a byte offset) and how
// deep it is.
type fastTree struct {
	root  uint32
	depth int32
}

// buildFast makes the batch form of an ensemble whose splits are all plain,
// whose output is one group and whose features fit a keyVector; it leaves
// fastTrees nil for any other. The assembly walk relies on what it builds:
// every child offset is a node of the array, every feature offset within a
// keyVector.
func (e *Ensemble) buildFast() {
	if e.special || e.float32s || e.nGroups != 1 || e.nFeatures > len(keyVector{}) {
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
		trees = append(trees, fastTree{root: uint32(start) * nodeSize, depth: int32(depth)})
	}
	e.fastNodes, e.fastTrees = nodes, trees
}

// appendFast lays out the subtree at i depth first and returns its depth.
func (e *Ensemble) appendFast(nodes *[]fnode, i int32, depth int) (int, bool) {
	at := len(*nodes)
	if i < 0 {
		self := uint32(at) * nodeSize
		*nodes = append(*nodes, fnode{key: int64(math.Float64bits(e.leaves[^i])), left: self, right: self})
		return depth, true
	}
	n := e.nodes[i]
	*nodes = append(*nodes, fnode{key: orderKey(n.threshold), feature: n.feature * 8})
	dl, okl := e.appendFast(nodes, n.left, depth+1)
	right := len(*nodes)
	dr, okr := e.appendFast(nodes, n.right, depth+1)
	if !okl || !okr || uint64(len(*nodes))*uint64(nodeSize) > math.MaxUint32 {
		return 0, false
	}
	(*nodes)[at].left, (*nodes)[at].right = uint32(at+1)*nodeSize, uint32(right)*nodeSize
	return max(dl, dr), true
}

// step moves from the node at byte offset at one level down for the flow
// x: to the left child when x's feature is at most the threshold. It is
// arithmetic, without a branch the processor could mispredict.
func step(nodes []fnode, at uint32, x *keyVector) uint32 {
	n := &nodes[at/nodeSize]
	return n.right + b2i(x[n.feature/8&uint32(featureMask)] <= n.key)*(n.left-n.right)
}

// b2i is 1 for true; the compiler makes it a SETcc.
func b2i(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// walk8Go takes eight consecutive flows through one tree side by side, so
// that their independent chains of loads overlap. walk8 is it, in assembly
// where there is some.
func walk8Go(nodes []fnode, t fastTree, x *[8]keyVector, out *[8]float64) {
	i0, i1, i2, i3 := t.root, t.root, t.root, t.root
	i4, i5, i6, i7 := t.root, t.root, t.root, t.root
	for range t.depth {
		// Leaves loop to themselves: when no flow moved, all are at
		// leaves, short of the tree's depth (leaf-wise trees are uneven).
		// Each flow's move is noted as it is made, so that only eight
		// positions stay live.
		j := step(nodes, i0, &x[0])
		moved := j ^ i0
		i0 = j
		j = step(nodes, i1, &x[1])
		moved |= j ^ i1
		i1 = j
		j = step(nodes, i2, &x[2])
		moved |= j ^ i2
		i2 = j
		j = step(nodes, i3, &x[3])
		moved |= j ^ i3
		i3 = j
		j = step(nodes, i4, &x[4])
		moved |= j ^ i4
		i4 = j
		j = step(nodes, i5, &x[5])
		moved |= j ^ i5
		i5 = j
		j = step(nodes, i6, &x[6])
		moved |= j ^ i6
		i6 = j
		j = step(nodes, i7, &x[7])
		moved |= j ^ i7
		i7 = j
		if moved == 0 {
			break
		}
	}
	out[0], out[1], out[2], out[3] = leafValue(nodes, i0), leafValue(nodes, i1), leafValue(nodes, i2), leafValue(nodes, i3)
	out[4], out[5], out[6], out[7] = leafValue(nodes, i4), leafValue(nodes, i5), leafValue(nodes, i6), leafValue(nodes, i7)
}

// leafValue is the value of the leaf at byte offset at.
func leafValue(nodes []fnode, at uint32) float64 {
	return math.Float64frombits(uint64(nodes[at/nodeSize].key))
}

// walk1 takes one flow through one tree in the batch form.
func walk1(nodes []fnode, t fastTree, x *keyVector) float64 {
	i := t.root
	for range t.depth {
		i = step(nodes, i, x)
	}
	return leafValue(nodes, i)
}
