package infer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Decision type bits of a LightGBM split, as its text format stores them.
const (
	DecisionCategorical = 1 << 0
	DecisionDefaultLeft = 1 << 1
	MissingZero         = 1 << 2 // missing type 1: zero means missing
	MissingNaN          = 2 << 2 // missing type 2: NaN means missing
)

// Tree is one decision tree as LightGBM's text format holds it: internal
// nodes numbered from the root (0), children as node numbers or, when
// negative, ^leaf numbers.
type Tree struct {
	SplitFeature []int
	Threshold    []float64 // for a categorical split, its index into CatBoundaries
	DecisionType []uint8
	LeftChild    []int
	RightChild   []int
	LeafValue    []float64
	// LeafCount and InternalCount are the training rows in each leaf and
	// node (LightGBM's tools show them; prediction ignores them).
	LeafCount     []int
	InternalCount []int
	// SplitGain is the gain of each split (LightGBM's feature importance).
	SplitGain []float64
	// Categorical splits: bitsets of categories going left.
	CatBoundaries []int
	CatThreshold  []uint32
}

// Forest is a tree ensemble in LightGBM's terms.
type Forest struct {
	Trees []Tree
	// NumClass is 1 for binary and regression models; with more, tree i
	// belongs to class i % NumClass.
	NumClass int
	// Objective as LightGBM writes it: "binary sigmoid:1",
	// "multiclass num_class:3", "regression".
	Objective string
	// AverageOutput: the prediction is the mean of the trees, not the sum
	// (LightGBM's random forest).
	AverageOutput bool
	FeatureNames  []string
}

// WriteLightGBM writes f in LightGBM's text format, version v3, with exact
// tree_sizes, so that both LightGBM and leaves load it.
func (f *Forest) WriteLightGBM(w io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	blocks := make([]string, len(f.Trees))
	sizes := make([]string, len(f.Trees))
	for i := range f.Trees {
		blocks[i] = "Tree=" + strconv.Itoa(i) + "\n" + f.Trees[i].text() + "\n"
		sizes[i] = strconv.Itoa(len(blocks[i]))
	}
	infos := make([]string, len(f.FeatureNames))
	for i := range infos {
		infos[i] = "none"
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "tree\nversion=v3\nnum_class=%d\nnum_tree_per_iteration=%d\nlabel_index=0\nmax_feature_idx=%d\nobjective=%s\n",
		f.NumClass, f.NumClass, len(f.FeatureNames)-1, f.Objective)
	if f.AverageOutput {
		bw.WriteString("average_output\n")
	}
	fmt.Fprintf(bw, "feature_names=%s\nfeature_infos=%s\ntree_sizes=%s\n\n",
		strings.Join(f.FeatureNames, " "), strings.Join(infos, " "), strings.Join(sizes, " "))
	for _, b := range blocks {
		bw.WriteString(b)
	}
	bw.WriteString("end of trees\n\nfeature_importances:\n\nparameters:\nend of parameters\n\npandas_categorical:null\n")
	return bw.Flush()
}

func (f *Forest) check() error {
	switch {
	case len(f.Trees) == 0:
		return errors.New("forest without trees")
	case f.NumClass < 1 || len(f.Trees)%f.NumClass != 0:
		return fmt.Errorf("%d trees do not split into %d classes", len(f.Trees), f.NumClass)
	case len(f.FeatureNames) == 0:
		return errors.New("forest without feature names")
	}
	for i := range f.Trees {
		if err := f.Trees[i].check(len(f.FeatureNames)); err != nil {
			return fmt.Errorf("tree %d: %w", i, err)
		}
	}
	return nil
}

func (t *Tree) check(nFeatures int) error {
	n := len(t.SplitFeature)
	if len(t.LeafValue) != n+1 {
		return fmt.Errorf("%d splits but %d leaves", n, len(t.LeafValue))
	}
	if len(t.Threshold) != n || len(t.DecisionType) != n || len(t.LeftChild) != n || len(t.RightChild) != n {
		return errors.New("split arrays of different lengths")
	}
	for i := range n {
		if t.SplitFeature[i] < 0 || t.SplitFeature[i] >= nFeatures {
			return fmt.Errorf("split %d on feature %d of %d", i, t.SplitFeature[i], nFeatures)
		}
		for _, c := range []int{t.LeftChild[i], t.RightChild[i]} {
			if c >= n || c < 0 && ^c > n {
				return fmt.Errorf("split %d has child %d out of range", i, c)
			}
		}
	}
	return nil
}

// text is the tree as LightGBM's Tree::ToString writes it.
func (t *Tree) text() string {
	n := len(t.SplitFeature)
	var b strings.Builder
	fmt.Fprintf(&b, "num_leaves=%d\nnum_cat=%d\n", n+1, max(len(t.CatBoundaries)-1, 0))
	if n > 0 {
		b.WriteString("split_feature=" + joinInts(t.SplitFeature) + "\n")
		b.WriteString("split_gain=" + joinFloats(orZeros(t.SplitGain, n)) + "\n")
		b.WriteString("threshold=" + joinFloats(t.Threshold) + "\n")
		dt := make([]int, n)
		for i, d := range t.DecisionType {
			dt[i] = int(d)
		}
		b.WriteString("decision_type=" + joinInts(dt) + "\n")
		b.WriteString("left_child=" + joinInts(t.LeftChild) + "\n")
		b.WriteString("right_child=" + joinInts(t.RightChild) + "\n")
	}
	b.WriteString("leaf_value=" + joinFloats(t.LeafValue) + "\n")
	b.WriteString("leaf_weight=" + joinFloats(make([]float64, n+1)) + "\n")
	b.WriteString("leaf_count=" + joinInts(orZerosInt(t.LeafCount, n+1)) + "\n")
	if n > 0 {
		b.WriteString("internal_value=" + joinFloats(make([]float64, n)) + "\n")
		b.WriteString("internal_weight=" + joinFloats(make([]float64, n)) + "\n")
		b.WriteString("internal_count=" + joinInts(orZerosInt(t.InternalCount, n)) + "\n")
	}
	if len(t.CatBoundaries) > 1 {
		b.WriteString("cat_boundaries=" + joinInts(t.CatBoundaries) + "\n")
		th := make([]int, len(t.CatThreshold))
		for i, v := range t.CatThreshold {
			th[i] = int(v)
		}
		b.WriteString("cat_threshold=" + joinInts(th) + "\n")
	}
	b.WriteString("is_linear=0\nshrinkage=1\n\n")
	return b.String()
}

func orZeros(v []float64, n int) []float64 {
	if len(v) == n {
		return v
	}
	return make([]float64, n)
}

func orZerosInt(v []int, n int) []int {
	if len(v) == n {
		return v
	}
	return make([]int, n)
}

func joinInts(v []int) string {
	b := make([]byte, 0, 4*len(v))
	for i, x := range v {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return string(b)
}

// joinFloats writes the shortest digits that read back exactly, as
// LightGBM's 17-digit output does.
func joinFloats(v []float64) string {
	b := make([]byte, 0, 12*len(v))
	for i, x := range v {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, x, 'g', -1, 64)
	}
	return string(b)
}

// Predict is the forest's raw score for x (for one class), summed as leaves
// sums it, so that the forest written and loaded predicts exactly this. It
// knows the plain numerical splits alfd's trainer makes; other splits
// (missing types, categories) are for compiled ensembles.
func (f *Forest) Predict(x []float64) float64 {
	coef := 1.0
	if f.AverageOutput {
		coef = 1.0 / float64(len(f.Trees)/f.NumClass)
	}
	sum := 0.0
	for i := range f.Trees {
		sum += f.Trees[i].predict(x) * coef
	}
	return sum
}

func (t *Tree) predict(x []float64) float64 {
	if len(t.SplitFeature) == 0 {
		return t.LeafValue[0]
	}
	i := 0
	for {
		v := x[t.SplitFeature[i]]
		if v != v {
			v = 0
		}
		next := t.RightChild[i]
		if v <= t.Threshold[i] {
			next = t.LeftChild[i]
		}
		if next < 0 {
			return t.LeafValue[^next]
		}
		i = next
	}
}
