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

// flowKey is the order key of a flow's value v as every plain split reads
// it: NaN as 0. Flows' values are zero or of either sign in no order a
// branch predictor learns, so it takes orderKey's steps without branches:
// adding 0 makes -0 +0, and a negative value's bits other than the sign
// are flipped.
func flowKey(v float64) int64 {
	if v != v {
		v = 0
	}
	b := int64(math.Float64bits(v + 0))
	return b ^ (b >> 63 & math.MaxInt64)
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

// fastForm is the batch form of an ensemble: its trees' nodes, internal
// ones first, depth first tree after tree, and their leaves in a region of
// their own, so that the walk can tell that every flow has arrived by one
// bit of their offsets: leafBit is set in every leaf's offset and in no
// other. (Tracking which flows moved cost three of a step's nine
// instructions.)
type fastForm struct {
	nodes   []fnode
	trees   []fastTree
	leafBit uint32
}

// buildFast makes the batch form of an ensemble whose splits are all plain,
// whose output is one group and whose features fit a keyVector; it leaves
// fast.trees nil for any other. The assembly walk relies on what it builds:
// every child offset is a node of the array, every feature offset within a
// keyVector.
func (e *Ensemble) buildFast() {
	if e.special || e.float32s || e.nGroups != 1 || e.nFeatures > len(keyVector{}) {
		return
	}
	nLeaves := len(e.nodes) + len(e.roots) // a binary tree has one leaf more than splits
	internal := uint64(len(e.nodes)) * uint64(nodeSize)
	leaves := uint64(nLeaves+1) * uint64(nodeSize)
	bit := uint64(1)
	for bit < max(internal, leaves) {
		bit <<= 1
	}
	if 2*bit > math.MaxUint32 {
		return
	}
	// Leaves start at the first node boundary at or past the bit and end
	// before twice it.
	firstLeaf := (bit + uint64(nodeSize) - 1) / uint64(nodeSize)
	b := fastBuilder{
		e:        e,
		nodes:    make([]fnode, firstLeaf+uint64(nLeaves)),
		nextLeaf: uint32(firstLeaf),
	}
	trees := make([]fastTree, 0, len(e.roots))
	for _, root := range e.roots {
		at, depth, ok := b.add(root, 0)
		if !ok {
			return
		}
		trees = append(trees, fastTree{root: at, depth: int32(depth)})
	}
	e.fast = fastForm{nodes: b.nodes, trees: trees, leafBit: uint32(bit)}
}

// fastBuilder lays out an ensemble's trees in the batch form.
type fastBuilder struct {
	e                      *Ensemble
	nodes                  []fnode
	nextInternal, nextLeaf uint32 // indices of the next free node of each region
}

// add lays out the subtree at i, internal nodes depth first, and returns
// its byte offset and depth. It refuses more nodes than the ensemble has
// (each is reached once: addLeavesTree checked).
func (b *fastBuilder) add(i int32, depth int) (uint32, int, bool) {
	if i < 0 {
		if int(b.nextLeaf) >= len(b.nodes) {
			return 0, 0, false
		}
		self := b.nextLeaf * nodeSize
		b.nodes[b.nextLeaf] = fnode{key: int64(math.Float64bits(b.e.leaves[^i])), left: self, right: self}
		b.nextLeaf++
		return self, depth, true
	}
	if int(b.nextInternal) >= len(b.e.nodes) {
		return 0, 0, false
	}
	at := b.nextInternal
	b.nextInternal++
	n := b.e.nodes[i]
	left, dl, okl := b.add(n.left, depth+1)
	right, dr, okr := b.add(n.right, depth+1)
	if !okl || !okr {
		return 0, 0, false
	}
	b.nodes[at] = fnode{key: orderKey(n.threshold), left: left, right: right, feature: n.feature * 8}
	return at * nodeSize, max(dl, dr), true
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
func walk8Go(f *fastForm, t fastTree, x *[8]keyVector, out *[8]float64) {
	nodes := f.nodes
	i0, i1, i2, i3 := t.root, t.root, t.root, t.root
	i4, i5, i6, i7 := t.root, t.root, t.root, t.root
	for range t.depth {
		i0 = step(nodes, i0, &x[0])
		i1 = step(nodes, i1, &x[1])
		i2 = step(nodes, i2, &x[2])
		i3 = step(nodes, i3, &x[3])
		i4 = step(nodes, i4, &x[4])
		i5 = step(nodes, i5, &x[5])
		i6 = step(nodes, i6, &x[6])
		i7 = step(nodes, i7, &x[7])
		// Leaves loop to themselves, so flows that arrived early wait;
		// all may arrive short of the tree's depth (leaf-wise trees are
		// uneven).
		if i0&i1&i2&i3&i4&i5&i6&i7&f.leafBit != 0 {
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
func walk1(f *fastForm, t fastTree, x *keyVector) float64 {
	i := t.root
	for range t.depth {
		i = step(f.nodes, i, x)
	}
	return leafValue(f.nodes, i)
}
