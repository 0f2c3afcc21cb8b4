package infer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// xgModel is the part of XGBoost's JSON model format (XGBoost >= 1.0) that
// prediction needs.
type xgModel struct {
	Learner struct {
		FeatureNames    []string `json:"feature_names"`
		GradientBooster struct {
			Name  string  `json:"name"`
			Model xgTrees `json:"model"`
			// DART keeps its trees one level down, with their weights.
			GBTree     *struct{ Model xgTrees } `json:"gbtree"`
			WeightDrop []float64                `json:"weight_drop"`
		} `json:"gradient_booster"`
		Param struct {
			BaseScore  string `json:"base_score"`
			NumClass   string `json:"num_class"`
			NumFeature string `json:"num_feature"`
		} `json:"learner_model_param"`
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
	} `json:"learner"`
}

type xgTrees struct {
	Trees    []xgTree `json:"trees"`
	TreeInfo []int    `json:"tree_info"`
}

type xgTree struct {
	LeftChildren    []int     `json:"left_children"`
	RightChildren   []int     `json:"right_children"`
	SplitIndices    []int     `json:"split_indices"`
	SplitConditions []float64 `json:"split_conditions"`
	DefaultLeft     []xgBool  `json:"default_left"`
	SplitType       []int     `json:"split_type"`
}

// xgBool reads XGBoost's default_left, written as 0/1 or as booleans.
type xgBool bool

func (b *xgBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "1", "true":
		*b = true
	case "0", "false":
		*b = false
	default:
		return fmt.Errorf("default_left value %s", data)
	}
	return nil
}

// readXGBoostJSON compiles an XGBoost JSON model, which leaves cannot read.
// It keeps XGBoost's own arithmetic: values and thresholds in float32, a
// split sending value < threshold left (LightGBM's is <=), NaN the default
// way, the trees summed in float32 onto the base margin.
func readXGBoostJSON(r io.Reader) (*Ensemble, []string, error) {
	var m xgModel
	dec := json.NewDecoder(r)
	if err := dec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("XGBoost JSON: %w", err)
	}
	l := &m.Learner
	gb := l.GradientBooster
	trees := gb.Model
	name := "xgboost." + gb.Name
	switch gb.Name {
	case "gbtree":
	case "dart":
		if gb.GBTree == nil {
			return nil, nil, errors.New("XGBoost JSON: dart model without its gbtree")
		}
		trees = gb.GBTree.Model
		if len(gb.WeightDrop) != len(trees.Trees) {
			return nil, nil, fmt.Errorf("XGBoost JSON: %d dart weights for %d trees", len(gb.WeightDrop), len(trees.Trees))
		}
	default:
		return nil, nil, fmt.Errorf("XGBoost JSON: booster %q is not supported (gbtree and dart are)", gb.Name)
	}
	nClass, err := strconv.Atoi(strings.TrimSpace(l.Param.NumClass))
	if err != nil {
		return nil, nil, fmt.Errorf("XGBoost JSON: num_class %q", l.Param.NumClass)
	}
	nFeatures, err := strconv.Atoi(strings.TrimSpace(l.Param.NumFeature))
	if err != nil || nFeatures <= 0 || nFeatures > MaxFeatures {
		return nil, nil, fmt.Errorf("XGBoost JSON: num_feature %q (alfd takes 1 to %d)", l.Param.NumFeature, MaxFeatures)
	}
	// XGBoost 3 writes the base score as a one-element array: "[5E-1]".
	base, err := strconv.ParseFloat(strings.Trim(l.Param.BaseScore, "[] "), 64)
	if err != nil {
		return nil, nil, fmt.Errorf("XGBoost JSON: base_score %q", l.Param.BaseScore)
	}
	e := &Ensemble{nGroups: max(nClass, 1), nFeatures: nFeatures, float32s: true, special: true, name: name}
	if e.nGroups > MaxGroups {
		return nil, nil, fmt.Errorf("XGBoost JSON: %d classes (alfd takes up to %d)", e.nGroups, MaxGroups)
	}
	switch obj := l.Objective.Name; obj {
	case "binary:logistic", "reg:logistic":
		e.output = outSigmoid
		// The stored base score is a probability; XGBoost adds its logit.
		base = float64(float32(-math.Log(1/base - 1)))
	case "binary:logitraw":
		e.output = outSigmoid
	case "multi:softprob", "multi:softmax":
		e.output = outSoftmax
	default:
		return nil, nil, fmt.Errorf("XGBoost JSON: objective %q is not a classifier alfd can use", obj)
	}
	e.base = base
	if len(trees.TreeInfo) != len(trees.Trees) {
		return nil, nil, fmt.Errorf("XGBoost JSON: tree_info has %d entries for %d trees", len(trees.TreeInfo), len(trees.Trees))
	}
	// alfd sums tree i into group i % groups; XGBoost names the group.
	for i, g := range trees.TreeInfo {
		if g != i%e.nGroups {
			return nil, nil, fmt.Errorf("XGBoost JSON: tree %d belongs to class %d, not in round-robin order", i, g)
		}
	}
	if len(trees.Trees) == 0 {
		return nil, nil, errors.New("XGBoost JSON: no trees")
	}
	for i := range trees.Trees {
		if err := e.addXGBoostTree(&trees.Trees[i]); err != nil {
			return nil, nil, fmt.Errorf("XGBoost JSON: tree %d: %w", i, err)
		}
	}
	if gb.Name == "dart" {
		e.coef = gb.WeightDrop
	}
	return e, l.FeatureNames, nil
}

func (e *Ensemble) addXGBoostTree(t *xgTree) error {
	n := len(t.LeftChildren)
	if n == 0 || len(t.RightChildren) != n || len(t.SplitIndices) != n || len(t.SplitConditions) != n || len(t.DefaultLeft) != n {
		return errors.New("node arrays missing or of different lengths")
	}
	for _, st := range t.SplitType {
		if st != 0 {
			return errors.New("categorical splits are not supported")
		}
	}
	// Number the internal nodes and the leaves in the order a walk from
	// the root meets them; refuse cycles and dangling children.
	index := make([]int32, n)
	seen := make([]bool, n)
	var order []int
	stack := []int{0}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if id < 0 || id >= n {
			return fmt.Errorf("child %d out of range", id)
		}
		if seen[id] {
			return fmt.Errorf("node %d reached twice", id)
		}
		seen[id] = true
		if t.LeftChildren[id] == -1 {
			index[id] = ^int32(len(e.leaves))
			e.leaves = append(e.leaves, t.SplitConditions[id])
			continue
		}
		index[id] = int32(len(e.nodes) + len(order))
		order = append(order, id)
		stack = append(stack, t.RightChildren[id], t.LeftChildren[id])
	}
	if len(order) == 0 {
		e.roots = append(e.roots, index[0])
		return nil
	}
	e.roots = append(e.roots, index[0])
	for _, id := range order {
		f := t.SplitIndices[id]
		if f < 0 || f >= e.nFeatures {
			return fmt.Errorf("node %d splits on feature %d of %d", id, f, e.nFeatures)
		}
		e.nodes = append(e.nodes, node{
			threshold:   float64(float32(t.SplitConditions[id])),
			feature:     uint32(f),
			kind:        kindXGBoost,
			defaultLeft: bool(t.DefaultLeft[id]),
			left:        index[t.LeftChildren[id]],
			right:       index[t.RightChildren[id]],
		})
	}
	return nil
}
