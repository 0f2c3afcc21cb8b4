//go:build amd64 && !purego

package infer

// walk8 is walk8Go in assembly (walk_amd64.s): eight instructions and four
// loads a flow and level, and ten instructions more a level to see whether
// all have arrived, where the compiler's bounds checks and spills made about
// twenty a flow. It trusts what buildFast built: every offset within the
// nodes and the keyVector.
func walk8(f *fastForm, t fastTree, x *[8]keyVector, out *[8]float64) {
	walk8asm(&f.nodes[0], t.root, t.depth, f.leafBit, x, out)
}

//go:noescape
func walk8asm(nodes *fnode, root uint32, depth int32, leafBit uint32, x *[8]keyVector, out *[8]float64)
