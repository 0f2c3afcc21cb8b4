//go:build amd64 && !purego

package infer

// walk8 is walk8Go in assembly (walk_amd64.s): nine instructions a flow and
// level, where the compiler's bounds checks and spills made about twenty.
// It trusts what buildFast built: every offset within nodes and keyVector.
func walk8(nodes []fnode, t fastTree, x *[8]keyVector, out *[8]float64) {
	walk8asm(&nodes[0], t.root, t.depth, x, out)
}

//go:noescape
func walk8asm(nodes *fnode, root uint32, depth int32, x *[8]keyVector, out *[8]float64)
