package infer

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/alfd/alfd/features"
)

// MaxMembers is the most ensembles a model may combine.
const MaxMembers = 8

// Kind says how a model's ensembles combine.
type Kind string

const (
	// KindSingle averages its members' probabilities (ALF's soft vote).
	KindSingle Kind = "single"
	// KindCommittee averages them too, and reports each member's for the
	// committee query strategies.
	KindCommittee Kind = "committee"
)

// Model is what classifies flows: one or more compiled ensembles, the
// feature set they were trained on, and where they came from. A Model is
// immutable; replace it, never change it.
type Model struct {
	Version    uint32
	Kind       Kind
	FeatureSet features.Set
	Members    []*Ensemble
	Path       string
	Meta       Meta
	// Warnings are what loading noticed but did not refuse (a model file
	// without feature names, say).
	Warnings []string
}

// Meta is what a model's metadata file holds beside its trees.
type Meta struct {
	Format       string             `json:"format"`
	Version      uint32             `json:"version"`
	Kind         Kind               `json:"kind"`
	FeatureSet   string             `json:"feature_set"`
	FeatureNames []string           `json:"feature_names"`
	Members      []string           `json:"members"`
	TrainingRows int                `json:"training_rows,omitempty"`
	Created      time.Time          `json:"created,omitzero"`
	Metrics      map[string]float64 `json:"metrics,omitempty"`
}

// Scores is a model's verdict on one flow, with what the query strategies
// rank flows by.
type Scores struct {
	// Proba is the probability that the flow is DoH: the mean of the
	// members' probabilities.
	Proba float64
	// Uncertainty is 1 - max(P(DoH), P(not DoH)).
	Uncertainty float64
	// Margin is 1 - (P_top1 - P_top2), high when the two classes are close.
	// (ALF's own margin score, |P1 - P0|, is 1 - Margin.)
	Margin float64
	// Members holds each member's P(DoH); the first NMembers are set.
	Members  [MaxMembers]float64
	NMembers int
}

// DoH reports whether the model calls the flow DoH: P(DoH) above
// P(not DoH), as ALF's argmax over the classes decides (a tie is not DoH).
func (s *Scores) DoH() bool { return s.Proba > 0.5 }

// Score fills s for one feature vector. It does not allocate.
func (m *Model) Score(x *features.Vector, s *Scores) {
	sum := 0.0
	for i, e := range m.Members {
		p := e.Proba(x[:])
		s.Members[i] = p
		sum += p
	}
	s.NMembers = len(m.Members)
	s.fill(sum / float64(len(m.Members)))
}

func (s *Scores) fill(p float64) {
	s.Proba = p
	top := max(p, 1-p)
	s.Uncertainty = 1 - top
	s.Margin = 1 - math.Abs(2*p-1)
}

// Entropy is -Σ P ln P over both classes. It is computed when asked, as
// only the entropy strategies ask, and it costs two logarithms.
func (s *Scores) Entropy() float64 {
	e := 0.0
	for _, q := range [2]float64{s.Proba, 1 - s.Proba} {
		if q > 0 {
			e -= q * math.Log(q)
		}
	}
	return e
}

// ScoreBatch scores many flows: tree by tree over the whole batch, so that a
// tree's nodes stay in cache while every flow walks it, or, where the quick
// form serves the model, split by split for sixteen flows at a time. out
// must be as long as xs.
func (m *Model) ScoreBatch(xs []features.Vector, out []Scores) {
	out = out[:len(xs)]
	for i := range out {
		out[i].NMembers = len(m.Members)
	}
	for k, e := range m.Members {
		e.probaBatch(xs, out, k)
	}
	for i := range out {
		sum := 0.0
		for k := range len(m.Members) {
			sum += out[i].Members[k]
		}
		out[i].fill(sum / float64(len(m.Members)))
	}
}

// batchRows is how many flows walk a tree before the next tree: enough to
// reuse a tree from cache, few enough for their sums to stay in cache too.
const batchRows = 64

// probaBatch sets out[i].Members[member] to P(DoH) of xs[i].
func (e *Ensemble) probaBatch(xs []features.Vector, out []Scores, member int) {
	if e.fast.trees == nil {
		// Models with missing types, categories or several groups: one
		// flow at a time.
		for i := range xs {
			out[i].Members[member] = e.Proba(xs[i][:])
		}
		return
	}
	if e.quick.chunks != nil {
		e.probaQuick(xs, out, member)
		return
	}
	var sums [batchRows]float64
	var keys [batchRows]keyVector
	for start := 0; start < len(xs); start += batchRows {
		rows := xs[start:min(start+batchRows, len(xs))]
		for i := range rows {
			for f, v := range rows[i] {
				keys[i][f] = flowKey(v)
			}
			sums[i] = e.base
		}
		e.sumTrees(keys[:len(rows)], sums[:len(rows)])
		for i := range rows {
			raw := [MaxGroups]float64{sums[i]}
			out[start+i].Members[member] = e.probaFromRaw(&raw)
		}
	}
}

// sumTrees adds every tree's leaf for each row to sums, tree after tree in
// the order leaves adds them, eight rows side by side.
func (e *Ensemble) sumTrees(rows []keyVector, sums []float64) {
	for t, tree := range e.fast.trees {
		coef := 1.0
		if e.coef != nil {
			coef = e.coef[t]
		}
		var v [8]float64
		i := 0
		for ; i+8 <= len(rows); i += 8 {
			walk8(&e.fast, tree, (*[8]keyVector)(rows[i:i+8]), &v)
			for k := range 8 {
				sums[i+k] += v[k] * coef
			}
		}
		for ; i < len(rows); i++ {
			sums[i] += walk1(&e.fast, tree, &rows[i]) * coef
		}
	}
}

// Slot holds the model in use. Classifiers Load it once per batch of flows
// without a lock; the learner Stores a new one, which never waits for them
// and never changes a model they hold.
type Slot struct {
	p atomic.Pointer[Model]
}

// Load returns the current model, or nil.
func (s *Slot) Load() *Model { return s.p.Load() }

// Store makes m the current model and returns the one it replaces.
func (s *Slot) Store(m *Model) *Model { return s.p.Swap(m) }
