package train

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
)

// Criterion is how a random forest measures a split.
type Criterion uint8

const (
	Gini Criterion = iota
	Entropy
)

func (c Criterion) String() string {
	if c == Entropy {
		return "entropy"
	}
	return "gini"
}

// ForestConfig sets up a random forest. The zero value of each field means
// scikit-learn's default: 100 trees, Gini, √features per split, leaves of
// one sample, no depth limit, bootstrap samples.
type ForestConfig struct {
	Trees          int
	Criterion      Criterion
	MaxFeatures    int
	MinSamplesLeaf int
	MaxDepth       int
	Seed           uint64
}

func (c ForestConfig) withDefaults() ForestConfig {
	if c.Trees <= 0 {
		c.Trees = 100
	}
	if c.MaxFeatures <= 0 {
		c.MaxFeatures = int(math.Sqrt(features.N))
	}
	if c.MinSamplesLeaf <= 0 {
		c.MinSamplesLeaf = 1
	}
	return c
}

// RandomForest grows a random forest classifier of DoH: trees on bootstrap
// samples, each split chosen among a random subset of the features, leaves
// holding the share of DoH among their samples. The forest averages its
// trees, so its output is P(DoH) (LightGBM's average_output, regression
// objective).
//
// Training stops early, with ctx's error, when ctx ends.
func RandomForest(ctx context.Context, x []features.Vector, y []bool, cfg ForestConfig) (*infer.Forest, error) {
	return randomForest(ctx, binData(x, y), cfg)
}

func randomForest(ctx context.Context, d *binned, cfg ForestConfig) (*infer.Forest, error) {
	cfg = cfg.withDefaults()
	f := &infer.Forest{NumClass: 1, Objective: "regression", AverageOutput: true, FeatureNames: features.Names[:],
		Trees: make([]infer.Tree, 0, cfg.Trees)}
	g := newGrower(d, cfg)
	for t := range cfg.Trees {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		g.rng = rand.New(rand.NewPCG(cfg.Seed, uint64(t)))
		f.Trees = append(f.Trees, g.grow())
	}
	return f, nil
}

// grower grows the trees of one forest; it keeps its buffers between trees.
type grower struct {
	d   *binned
	cfg ForestConfig
	rng *rand.Rand

	weight []uint32 // bootstrap multiplicity of each row
	idx    []int32  // rows in bag, partitioned node by node
	order  [features.N]int
	hist   [maxBins + 1][2]uint32
	tree   infer.Tree
}

func newGrower(d *binned, cfg ForestConfig) *grower {
	return &grower{d: d, cfg: cfg, weight: make([]uint32, d.n), idx: make([]int32, 0, d.n)}
}

func (g *grower) grow() infer.Tree {
	clear(g.weight)
	for range g.d.n {
		g.weight[g.rng.IntN(g.d.n)]++
	}
	g.idx = g.idx[:0]
	for r, w := range g.weight {
		if w > 0 {
			g.idx = append(g.idx, int32(r))
		}
	}
	t := &g.tree
	t.SplitFeature, t.Threshold, t.DecisionType = t.SplitFeature[:0], t.Threshold[:0], t.DecisionType[:0]
	t.SplitGain, t.InternalCount, t.LeftChild, t.RightChild = t.SplitGain[:0], t.InternalCount[:0], t.LeftChild[:0], t.RightChild[:0]
	t.LeafValue, t.LeafCount = t.LeafValue[:0], t.LeafCount[:0]
	g.node(0, len(g.idx), 0)
	// The scratch tree is reused; the forest keeps an exact copy, so that
	// training leaves little garbage for the collector, whose work would
	// slow the fast path too.
	return infer.Tree{
		SplitFeature: slices.Clone(t.SplitFeature), Threshold: slices.Clone(t.Threshold),
		DecisionType: slices.Clone(t.DecisionType), SplitGain: slices.Clone(t.SplitGain),
		InternalCount: slices.Clone(t.InternalCount), LeftChild: slices.Clone(t.LeftChild),
		RightChild: slices.Clone(t.RightChild), LeafValue: slices.Clone(t.LeafValue), LeafCount: slices.Clone(t.LeafCount),
	}
}

// split is a candidate split of a node.
type split struct {
	feature int
	bin     int // rows with bins <= bin go left
	gain    float64
}

// node grows the subtree of rows idx[lo:hi] and returns its reference in
// LightGBM's numbering: a node number, or ^leaf.
func (g *grower) node(lo, hi, depth int) int {
	var w [2]uint32
	for _, r := range g.idx[lo:hi] {
		w[g.d.y[r]] += g.weight[r]
	}
	samples := hi - lo
	pure := w[0] == 0 || w[1] == 0
	if pure || samples < 2*g.cfg.MinSamplesLeaf || samples < 2 || g.cfg.MaxDepth > 0 && depth >= g.cfg.MaxDepth {
		return g.leaf(w, samples)
	}
	best, ok := g.bestSplit(lo, hi, w)
	if !ok {
		return g.leaf(w, samples)
	}
	// Partition the rows: left those in bins up to the split's.
	bins := g.d.bins[best.feature]
	i, j := lo, hi-1
	for i <= j {
		if int(bins[g.idx[i]]) <= best.bin {
			i++
		} else {
			g.idx[i], g.idx[j] = g.idx[j], g.idx[i]
			j--
		}
	}
	t := &g.tree
	n := len(t.SplitFeature)
	t.SplitFeature = append(t.SplitFeature, best.feature)
	t.Threshold = append(t.Threshold, g.d.cuts[best.feature][best.bin])
	t.DecisionType = append(t.DecisionType, 0)
	t.SplitGain = append(t.SplitGain, best.gain)
	t.InternalCount = append(t.InternalCount, samples)
	t.LeftChild = append(t.LeftChild, 0)
	t.RightChild = append(t.RightChild, 0)
	left := g.node(lo, i, depth+1)
	right := g.node(i, hi, depth+1)
	t.LeftChild[n], t.RightChild[n] = left, right
	return n
}

func (g *grower) leaf(w [2]uint32, samples int) int {
	t := &g.tree
	t.LeafValue = append(t.LeafValue, float64(w[1])/float64(w[0]+w[1]))
	t.LeafCount = append(t.LeafCount, samples)
	return ^(len(t.LeafValue) - 1)
}

// bestSplit looks at MaxFeatures random features, and more if none of them
// splits the node, as scikit-learn does.
func (g *grower) bestSplit(lo, hi int, total [2]uint32) (split, bool) {
	for i := range g.order {
		g.order[i] = i
	}
	g.rng.Shuffle(len(g.order), func(i, j int) { g.order[i], g.order[j] = g.order[j], g.order[i] })
	parent := g.impurity(total)
	best := split{gain: 0}
	found := false
	for k, f := range g.order {
		if k >= g.cfg.MaxFeatures && found {
			break
		}
		nBins := len(g.d.cuts[f]) + 1
		if nBins < 2 {
			continue
		}
		hist := g.hist[:nBins]
		clear(hist)
		bins := g.d.bins[f]
		for _, r := range g.idx[lo:hi] {
			hist[bins[r]][g.d.y[r]] += g.weight[r]
		}
		if s, ok := g.scan(hist, total, parent, f, lo, hi); ok && (!found || s.gain > best.gain) {
			best, found = s, true
		}
	}
	return best, found
}

// scan finds the best threshold of one feature's histogram.
func (g *grower) scan(hist [][2]uint32, total [2]uint32, parent float64, f, lo, hi int) (split, bool) {
	var left [2]uint32
	n := float64(total[0] + total[1])
	best := split{feature: f, gain: -1}
	minLeaf := uint32(g.cfg.MinSamplesLeaf)
	for b := 0; b < len(hist)-1; b++ {
		left[0] += hist[b][0]
		left[1] += hist[b][1]
		nl := left[0] + left[1]
		nr := total[0] + total[1] - nl
		if nl == 0 {
			continue
		}
		if nr == 0 {
			break
		}
		if nl < minLeaf || nr < minLeaf {
			continue
		}
		right := [2]uint32{total[0] - left[0], total[1] - left[1]}
		gain := parent - (float64(nl)*g.impurity(left)+float64(nr)*g.impurity(right))/n
		if gain > best.gain {
			best.gain, best.bin = gain, b
		}
	}
	return best, best.gain > 1e-12
}

// impurity of a node with the given class weights.
func (g *grower) impurity(w [2]uint32) float64 {
	n := float64(w[0] + w[1])
	p := float64(w[1]) / n
	if g.cfg.Criterion == Entropy {
		e := 0.0
		for _, q := range [2]float64{p, 1 - p} {
			if q > 0 {
				e -= q * math.Log2(q)
			}
		}
		return e
	}
	return 2 * p * (1 - p)
}
