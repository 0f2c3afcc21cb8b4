package infer

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/dmitryikh/leaves"
	"github.com/dmitryikh/leaves/transformation"
)

// leaves' node flags (lgtree.go of the pinned version).
const (
	lvCategorical = 1 << 0
	lvDefaultLeft = 1 << 1
	lvLeftLeaf    = 1 << 2
	lvRightLeaf   = 1 << 3
	lvMissingZero = 1 << 4
	lvMissingNaN  = 1 << 5
	lvCatOneHot   = 1 << 6
	lvCatSmall    = 1 << 7
)

// errLeavesLayout says that leaves' internals are not what this compiler
// reads: go.mod pins the version it was written for.
var errLeavesLayout = errors.New("leaves' internal model layout is not the one alfd compiles (check the leaves version in go.mod)")

// compileLeaves turns an ensemble loaded by leaves into the compiled form.
// leaves keeps its trees unexported; they are read once here, through
// reflection, and the tests compare every prediction with leaves' own.
func compileLeaves(ens *leaves.Ensemble) (*Ensemble, error) {
	if ens == nil {
		return nil, errors.New("no ensemble")
	}
	inner := reflect.ValueOf(ens).Elem().Field(0)
	if inner.Kind() != reflect.Interface || inner.IsNil() || inner.Elem().Kind() != reflect.Pointer {
		return nil, errLeavesLayout
	}
	m := inner.Elem().Elem()
	e := &Ensemble{nGroups: ens.NRawOutputGroups(), name: ens.Name()}
	if e.nGroups < 1 || e.nGroups > MaxGroups {
		return nil, fmt.Errorf("%d output groups (alfd takes 1 to %d)", e.nGroups, MaxGroups)
	}
	trees := m.FieldByName("Trees")
	if !trees.IsValid() || trees.Kind() != reflect.Slice {
		return nil, errLeavesLayout
	}
	nEstimators := trees.Len() / e.nGroups
	maxFeature := m.FieldByName("MaxFeatureIdx")
	if !maxFeature.IsValid() {
		return nil, errLeavesLayout
	}
	e.nFeatures = int(maxFeature.Int()) + 1
	if e.nFeatures < 1 || e.nFeatures > MaxFeatures {
		return nil, fmt.Errorf("%d features (alfd takes 1 to %d)", e.nFeatures, MaxFeatures)
	}
	switch m.Type().Name() {
	case "lgEnsemble":
		if avg := m.FieldByName("averageOutput"); avg.IsValid() && avg.Bool() {
			// leaves multiplies each leaf by 1/n before adding.
			e.coef = make([]float64, trees.Len())
			for i := range e.coef {
				e.coef[i] = 1.0 / float64(nEstimators)
			}
		}
	case "xgEnsemble":
		e.base = m.FieldByName("BaseScore").Float()
		drop := m.FieldByName("WeightDrop")
		e.coef = make([]float64, drop.Len())
		for i := range e.coef {
			e.coef[i] = drop.Index(i).Float()
		}
		if len(e.coef) != trees.Len() {
			return nil, errLeavesLayout
		}
	default:
		return nil, fmt.Errorf("%s models are not supported", ens.Name())
	}
	for i := range trees.Len() {
		if err := e.addLeavesTree(trees.Index(i)); err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
	}
	switch ens.Transformation().Type() {
	case transformation.Logistic:
		e.output = outSigmoid
	case transformation.Softmax:
		e.output = outSoftmax
	}
	e.buildFast()
	e.buildQuick()
	return e, nil
}

// addLeavesTree appends one of leaves' lgTree values.
func (e *Ensemble) addLeavesTree(t reflect.Value) error {
	nodes, leafValues := t.FieldByName("nodes"), t.FieldByName("leafValues")
	bounds, bits := t.FieldByName("catBoundaries"), t.FieldByName("catThresholds")
	if !nodes.IsValid() || !leafValues.IsValid() || !bounds.IsValid() || !bits.IsValid() {
		return errLeavesLayout
	}
	nodeBase, leafBase := int32(len(e.nodes)), int32(len(e.leaves))
	boundBase := uint32(len(e.catBounds))
	bitBase := uint32(len(e.catBits))
	for i := range leafValues.Len() {
		e.leaves = append(e.leaves, leafValues.Index(i).Float())
	}
	if leafValues.Len() == 0 {
		return errors.New("tree without leaves")
	}
	for i := range bounds.Len() {
		e.catBounds = append(e.catBounds, bitBase+uint32(bounds.Index(i).Uint()))
	}
	for i := range bits.Len() {
		e.catBits = append(e.catBits, uint32(bits.Index(i).Uint()))
	}
	n := nodes.Len()
	if n == 0 {
		e.roots = append(e.roots, ^leafBase)
		return nil
	}
	e.roots = append(e.roots, nodeBase)
	for j := range n {
		v := nodes.Index(j)
		flags := uint8(v.FieldByName("Flags").Uint())
		nd := node{
			threshold:   v.FieldByName("Threshold").Float(),
			feature:     uint32(v.FieldByName("Feature").Uint()),
			defaultLeft: flags&lvDefaultLeft != 0,
		}
		left, right := int32(v.FieldByName("Left").Uint()), int32(v.FieldByName("Right").Uint())
		if flags&lvLeftLeaf != 0 {
			nd.left = ^(leafBase + left)
		} else {
			nd.left = nodeBase + left
		}
		// leaves goes to the next node when the right child is not a leaf.
		if flags&lvRightLeaf != 0 {
			nd.right = ^(leafBase + right)
		} else {
			nd.right = nodeBase + int32(j) + 1
		}
		switch {
		case flags&lvCategorical != 0 && flags&lvCatOneHot != 0:
			nd.kind = kindCatOneHot
		case flags&lvCategorical != 0 && flags&lvCatSmall != 0:
			nd.kind = kindCatSmall
		case flags&lvCategorical != 0:
			nd.kind = kindCatBitset
			nd.threshold += float64(boundBase)
		case flags&lvMissingZero != 0:
			nd.kind = kindMissingZero
		case flags&lvMissingNaN != 0 && strings.HasPrefix(e.name, "xgboost"):
			// leaves compares XGBoost's splits with <= (though its own
			// comment says XGBoost uses <): alfd splits as XGBoost does,
			// as it does for XGBoost's JSON.
			nd.kind = kindXGBoost
		case flags&lvMissingNaN != 0:
			nd.kind = kindMissingNaN
		}
		if nd.kind != kindPlain {
			e.special = true
		}
		if int(nd.feature) >= e.nFeatures {
			return fmt.Errorf("split on feature %d of %d", nd.feature, e.nFeatures)
		}
		if nd.left >= 0 && int(nd.left) >= int(nodeBase)+n || nd.right >= 0 && int(nd.right) >= int(nodeBase)+n ||
			nd.left < 0 && int(^nd.left) >= len(e.leaves) || nd.right < 0 && int(^nd.right) >= len(e.leaves) {
			return fmt.Errorf("node %d has a child out of range", j)
		}
		e.nodes = append(e.nodes, nd)
	}
	// A corrupt file can make a child point back up, or two parents share
	// a node: walks would not end, or grow without bound. Every node must
	// be reached once from the root.
	seen := make([]bool, n)
	stack := []int32{nodeBase}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i < 0 {
			continue // a leaf
		}
		if seen[i-nodeBase] {
			return fmt.Errorf("node %d is reached twice from the root (a cycle or a shared node)", i-nodeBase)
		}
		seen[i-nodeBase] = true
		stack = append(stack, e.nodes[i].left, e.nodes[i].right)
	}
	return nil
}
