package train

import (
	"context"
	"math"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
)

// BoostConfig sets up gradient boosting. Zero fields take LightGBM's
// defaults: 100 trees of up to 31 leaves, learning rate 0.1, at least 20
// rows and a hessian sum of 1e-3 in a leaf, no L2 penalty.
type BoostConfig struct {
	Trees         int
	Leaves        int
	LearningRate  float64
	MinDataInLeaf int
	Lambda        float64
}

func (c BoostConfig) withDefaults() BoostConfig {
	if c.Trees <= 0 {
		c.Trees = 100
	}
	if c.Leaves < 2 {
		c.Leaves = 31
	}
	if c.LearningRate <= 0 {
		c.LearningRate = 0.1
	}
	if c.MinDataInLeaf <= 0 {
		c.MinDataInLeaf = 20
	}
	return c
}

const minHessian = 1e-3

// GradientBoosting trains gradient-boosted trees for the binary log loss,
// as LightGBM does: each tree grown leaf by leaf, always splitting the leaf
// whose best split gains most, from histograms of gradients; the mean's
// log-odds folded into the first tree. The output is log-odds (LightGBM's
// binary objective; the sigmoid gives P(DoH)). Training stops early, with
// ctx's error, when ctx ends.
func GradientBoosting(ctx context.Context, x []features.Vector, y []bool, cfg BoostConfig) (*infer.Forest, error) {
	cfg = cfg.withDefaults()
	d := binData(x, y)
	f := &infer.Forest{NumClass: 1, Objective: "binary sigmoid:1", FeatureNames: features.Names[:]}
	pos := 0
	for _, v := range d.y {
		pos += int(v)
	}
	p := min(max(float64(pos)/float64(d.n), 1e-6), 1-1e-6)
	init := math.Log(p / (1 - p))
	b := &booster{d: d, cfg: cfg, score: make([]float64, d.n), g: make([]float64, d.n), h: make([]float64, d.n), idx: make([]int32, d.n)}
	for i := range b.score {
		b.score[i] = init
	}
	for t := range cfg.Trees {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tree := b.tree()
		if t == 0 {
			for i := range tree.LeafValue {
				tree.LeafValue[i] += init
			}
		}
		f.Trees = append(f.Trees, tree)
	}
	return f, nil
}

type booster struct {
	d        *binned
	cfg      BoostConfig
	score    []float64
	g, h     []float64
	idx      []int32
	histPool []*gradHist
}

// gradHist holds, for every feature and bin, the sums of gradients and
// hessians and the row count.
type gradHist [features.N][maxBins + 1]struct {
	g, h float64
	n    int32
}

// leafState is a leaf being grown: its rows idx[lo:hi], their sums, its
// histogram and its best split.
type leafState struct {
	lo, hi int
	g, h   float64
	hist   *gradHist
	best   gbSplit
	parent int // the node pointing at this leaf, or -1 for the root
	left   bool
}

type gbSplit struct {
	feature, bin int
	gain         float64
	ok           bool
}

func (b *booster) getHist() *gradHist {
	if n := len(b.histPool); n > 0 {
		h := b.histPool[n-1]
		b.histPool = b.histPool[:n-1]
		return h
	}
	return new(gradHist)
}

func (b *booster) tree() infer.Tree {
	for i, s := range b.score {
		p := 1 / (1 + math.Exp(-s))
		y := float64(b.d.y[i])
		b.g[i] = p - y
		b.h[i] = max(p*(1-p), 1e-16)
	}
	for i := range b.idx {
		b.idx[i] = int32(i)
	}
	var t infer.Tree
	root := leafState{lo: 0, hi: b.d.n, parent: -1, hist: b.getHist()}
	for _, r := range b.idx {
		root.g += b.g[r]
		root.h += b.h[r]
	}
	b.buildHist(&root)
	b.findSplit(&root)
	leaves := []leafState{root}
	for len(leaves) < b.cfg.Leaves {
		k := -1
		for i := range leaves {
			if leaves[i].best.ok && (k < 0 || leaves[i].best.gain > leaves[k].best.gain) {
				k = i
			}
		}
		if k < 0 {
			break
		}
		left, right := b.split(&t, &leaves[k], k, len(leaves))
		leaves[k] = left
		leaves = append(leaves, right)
	}
	t.LeafValue = make([]float64, len(leaves))
	t.LeafCount = make([]int, len(leaves))
	for i := range leaves {
		l := &leaves[i]
		v := -l.g / (l.h + b.cfg.Lambda) * b.cfg.LearningRate
		t.LeafValue[i] = v
		t.LeafCount[i] = l.hi - l.lo
		for _, r := range b.idx[l.lo:l.hi] {
			b.score[r] += v
		}
		b.histPool = append(b.histPool, l.hist)
	}
	return t
}

func (b *booster) buildHist(l *leafState) {
	h := l.hist
	for f := range features.N {
		clear(h[f][:len(b.d.cuts[f])+1])
		bins := b.d.bins[f]
		for _, r := range b.idx[l.lo:l.hi] {
			c := &h[f][bins[r]]
			c.g += b.g[r]
			c.h += b.h[r]
			c.n++
		}
	}
}

func (b *booster) leafGain(g, h float64) float64 { return g * g / (h + b.cfg.Lambda) }

func (b *booster) findSplit(l *leafState) {
	l.best = gbSplit{}
	n := int32(l.hi - l.lo)
	minData := int32(b.cfg.MinDataInLeaf)
	if n < 2*minData {
		return
	}
	parent := b.leafGain(l.g, l.h)
	for f := range features.N {
		var gl, hl float64
		var nl int32
		bins := l.hist[f][:len(b.d.cuts[f])+1]
		for bin := 0; bin < len(bins)-1; bin++ {
			gl += bins[bin].g
			hl += bins[bin].h
			nl += bins[bin].n
			if nl < minData || hl < minHessian {
				continue
			}
			nr, hr := n-nl, l.h-hl
			if nr < minData || hr < minHessian {
				break
			}
			gain := b.leafGain(gl, hl) + b.leafGain(l.g-gl, hr) - parent
			if gain > 1e-12 && (!l.best.ok || gain > l.best.gain) {
				l.best = gbSplit{feature: f, bin: bin, gain: gain, ok: true}
			}
		}
	}
}

// split splits leaf number k, as LightGBM numbers them: the left child
// keeps number k, the right child is leaf newLeaf.
func (b *booster) split(t *infer.Tree, l *leafState, k, newLeaf int) (left, right leafState) {
	s := l.best
	bins := b.d.bins[s.feature]
	i, j := l.lo, l.hi-1
	for i <= j {
		if int(bins[b.idx[i]]) <= s.bin {
			i++
		} else {
			b.idx[i], b.idx[j] = b.idx[j], b.idx[i]
			j--
		}
	}
	node := len(t.SplitFeature)
	t.SplitFeature = append(t.SplitFeature, s.feature)
	t.Threshold = append(t.Threshold, b.d.cuts[s.feature][s.bin])
	t.DecisionType = append(t.DecisionType, 0)
	t.SplitGain = append(t.SplitGain, s.gain)
	t.InternalCount = append(t.InternalCount, l.hi-l.lo)
	t.LeftChild = append(t.LeftChild, ^k)
	t.RightChild = append(t.RightChild, ^newLeaf)
	if l.parent >= 0 {
		if l.left {
			t.LeftChild[l.parent] = node
		} else {
			t.RightChild[l.parent] = node
		}
	}
	left = leafState{lo: l.lo, hi: i, parent: node, left: true}
	right = leafState{lo: i, hi: l.hi, parent: node, left: false}
	for _, r := range b.idx[left.lo:left.hi] {
		left.g += b.g[r]
		left.h += b.h[r]
	}
	right.g, right.h = l.g-left.g, l.h-left.h
	// The smaller child's histogram is built; the other's is the parent's
	// minus it.
	small, large := &left, &right
	if right.hi-right.lo < left.hi-left.lo {
		small, large = &right, &left
	}
	small.hist = b.getHist()
	b.buildHist(small)
	large.hist = l.hist
	for f := range features.N {
		for bin := range len(b.d.cuts[f]) + 1 {
			p, c := &large.hist[f][bin], &small.hist[f][bin]
			p.g -= c.g
			p.h -= c.h
			p.n -= c.n
		}
	}
	b.findSplit(&left)
	b.findSplit(&right)
	return left, right
}
