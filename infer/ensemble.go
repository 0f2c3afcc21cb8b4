package infer

import (
	"math"
)

// Node kinds. kindPlain is LightGBM's numerical split without a missing
// type: NaN reads as 0, then value <= threshold goes left.
const (
	kindPlain uint8 = iota
	kindMissingZero
	kindMissingNaN
	kindCatOneHot // threshold is the one category going left
	kindCatSmall  // threshold holds a 32-bit set of categories going left
	kindCatBitset // threshold indexes catBounds
	kindXGBoost   // XGBoost: float32(value) < float32(threshold); NaN goes the default way
)

// node is one split of the compiled form: 24 bytes, the trees of an
// ensemble back to back. A child >= 0 is a node, < 0 is ^leaf.
type node struct {
	threshold   float64
	feature     uint32
	kind        uint8
	defaultLeft bool
	left, right int32
}

// outputKind is how raw scores become a probability of DoH.
type outputKind uint8

const (
	outProbability outputKind = iota // the raw score is the probability (averaged forests)
	outSigmoid                       // binary: 1/(1+exp(-raw))
	outSoftmax                       // multiclass: softmax, then the class-1 share
)

// Ensemble is a tree ensemble compiled for prediction: nodes in one array,
// leaves in another, every tree's path taken without calls or interface
// dispatch. It is immutable once built.
type Ensemble struct {
	nodes     []node
	leaves    []float64
	roots     []int32 // per tree: a node, or ^leaf for a one-leaf tree
	catBounds []uint32
	catBits   []uint32

	nFeatures int
	nGroups   int       // raw outputs: 1, or the number of classes
	coef      []float64 // per tree: the factor of its leaf (averaging, DART weights); nil: 1
	base      float64   // the raw score before any tree (XGBoost's base margin)
	float32s  bool      // XGBoost sums and transforms in float32
	output    outputKind
	special   bool // some split needs the raw value (missing types, categories, XGBoost)
	name      string

	// The batch form (fast.go), for ensembles of plain splits only, and
	// the quick form (quick.go) for those of them whose trees are small.
	fast  fastForm
	quick quickForm
}

// NFeatures is how many features the ensemble reads.
func (e *Ensemble) NFeatures() int { return e.nFeatures }

// NTrees is the number of trees.
func (e *Ensemble) NTrees() int { return len(e.roots) }

// NLeaves is the number of leaves of all its trees.
func (e *Ensemble) NLeaves() int { return len(e.leaves) }

// Splits counts the splits on each feature, splits[i] feature i's: how
// often the trees look at it (LightGBM's "split" feature importance).
func (e *Ensemble) Splits() []int {
	splits := make([]int, e.nFeatures)
	for _, n := range e.nodes {
		if int(n.feature) < len(splits) {
			splits[n.feature]++
		}
	}
	return splits
}

// Depth is the most splits on a path from a root to a leaf.
func (e *Ensemble) Depth() int {
	type visit struct{ node, depth int32 }
	var deepest int32
	stack := make([]visit, 0, 64)
	for _, root := range e.roots {
		for stack = append(stack[:0], visit{root, 0}); len(stack) > 0; {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if v.node < 0 { // a leaf
				deepest = max(deepest, v.depth)
				continue
			}
			n := &e.nodes[v.node]
			stack = append(stack, visit{n.left, v.depth + 1}, visit{n.right, v.depth + 1})
		}
	}
	return int(deepest)
}

// NClasses is the number of classes of its output (2 for binary models).
func (e *Ensemble) NClasses() int { return max(e.nGroups, 2) }

// Name says what kind of model it is ("lightgbm.gbdt", "xgboost.gbtree", ...).
func (e *Ensemble) Name() string { return e.name }

// MaxGroups is the most classes an ensemble may have.
const MaxGroups = 16

// Raw computes the raw scores of x into raw[:nGroups]: the tree sums before
// any transformation, exactly as leaves sums them.
func (e *Ensemble) Raw(x []float64, raw *[MaxGroups]float64) {
	var clean [MaxFeatures]float64
	cx := e.cleanInput(x, &clean)
	if e.float32s {
		e.raw32(x, cx, raw)
		return
	}
	g := e.nGroups
	for k := range g {
		raw[k] = e.base
	}
	for t, root := range e.roots {
		coef := 1.0
		if e.coef != nil {
			coef = e.coef[t]
		}
		// The same expression as leaves' sum, so that the compiler treats
		// both alike.
		raw[t%g] += e.leaf(root, x, cx) * coef
	}
}

// raw32 sums as XGBoost does, in float32.
func (e *Ensemble) raw32(x, cx []float64, raw *[MaxGroups]float64) {
	g := e.nGroups
	var sum [MaxGroups]float32
	for k := range g {
		sum[k] = float32(e.base)
	}
	for t, root := range e.roots {
		v := float32(e.leaf(root, x, cx))
		if e.coef != nil {
			v = float32(v * float32(e.coef[t]))
		}
		sum[t%g] += v
	}
	for k := range g {
		raw[k] = float64(sum[k])
	}
}

// MaxFeatures is the most features an ensemble may read.
const MaxFeatures = 64

// cleanInput returns x with NaN read as 0, which is what every plain split
// sees; splits of other kinds read x itself.
func (e *Ensemble) cleanInput(x []float64, clean *[MaxFeatures]float64) []float64 {
	n := min(len(x), MaxFeatures)
	for i := range n {
		v := x[i]
		if v != v {
			v = 0
		}
		clean[i] = v
	}
	return clean[:n]
}

// leaf walks one tree from root to its leaf value.
func (e *Ensemble) leaf(root int32, x, cx []float64) float64 {
	i := root
	if !e.special {
		for i >= 0 {
			n := &e.nodes[i]
			if cx[n.feature] <= n.threshold {
				i = n.left
			} else {
				i = n.right
			}
		}
		return e.leaves[^i]
	}
	for i >= 0 {
		n := &e.nodes[i]
		var left bool
		if n.kind == kindPlain {
			left = cx[n.feature] <= n.threshold
		} else {
			left = e.decide(n, x[n.feature])
		}
		if left {
			i = n.left
		} else {
			i = n.right
		}
	}
	return e.leaves[^i]
}

// zeroThreshold is LightGBM's and leaves' band around 0 that counts as zero.
const zeroThreshold = 1e-35

// decide is leaves' decision for the splits that are not plain, written as
// leaves writes it (the float-to-int conversions included), so that every
// input, NaN and out-of-range values too, goes the same way.
func (e *Ensemble) decide(n *node, v float64) bool {
	switch n.kind {
	case kindMissingZero:
		if math.IsNaN(v) {
			v = 0
		}
		if v > -zeroThreshold && v <= zeroThreshold {
			return n.defaultLeft
		}
		return v <= n.threshold
	case kindMissingNaN:
		if math.IsNaN(v) {
			return n.defaultLeft
		}
		return v <= n.threshold
	case kindXGBoost:
		if math.IsNaN(v) {
			return n.defaultLeft
		}
		return float32(v) < float32(n.threshold)
	}
	// Categorical, as leaves' categoricalDecision.
	iv := int32(v)
	if iv < 0 {
		return false
	} else if math.IsNaN(v) {
		iv = 0
	}
	switch n.kind {
	case kindCatOneHot:
		return int32(n.threshold) == iv
	case kindCatSmall:
		return uint32(iv) < 32 && uint32(n.threshold)>>uint32(iv)&1 != 0
	}
	idx := uint32(n.threshold)
	start, end := e.catBounds[idx], e.catBounds[idx+1]
	word := uint32(iv) / 32
	if word >= end-start {
		return false
	}
	return e.catBits[start+word]>>(uint32(iv)%32)&1 != 0
}

// Proba is the probability of class 1 (DoH) for x.
func (e *Ensemble) Proba(x []float64) float64 {
	var raw [MaxGroups]float64
	e.Raw(x, &raw)
	return e.probaFromRaw(&raw)
}

func (e *Ensemble) probaFromRaw(raw *[MaxGroups]float64) float64 {
	switch e.output {
	case outSigmoid:
		if e.float32s {
			return float64(float32(1) / (float32(1) + float32(math.Exp(float64(-float32(raw[0]))))))
		}
		return 1.0 / (1.0 + math.Exp(-raw[0]))
	case outSoftmax:
		return softmaxShare(raw[:e.nGroups], 1)
	}
	return raw[0]
}

// softmaxShare is class k's share of the softmax of raw, computed as leaves
// computes it.
func softmaxShare(raw []float64, k int) float64 {
	var exps [MaxGroups]float64
	sum := 0.0
	for i, v := range raw {
		exps[i] = math.Exp(v)
		sum += exps[i]
	}
	if sum == 0 {
		return exps[k]
	}
	return exps[k] * (1.0 / sum)
}
