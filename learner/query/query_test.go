package query

import (
	"fmt"
	"math"
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/learner/dataset"
)

// candidates with P(DoH) p and feature 0 at the given values (the others 0).
func candidates(ps []float64, xs []float64) []Candidate {
	c := make([]Candidate, len(ps))
	for i := range c {
		c[i].S = scoresOf(ps[i])
		c[i].X[0] = xs[i]
	}
	return c
}

// scoresOf is a single model's scores for P(DoH) = p.
func scoresOf(p float64, members ...float64) infer.Scores {
	var s infer.Scores
	if len(members) == 0 {
		members = []float64{p}
	}
	copy(s.Members[:], members)
	s.NMembers = len(members)
	s.Proba = p
	s.Uncertainty = 1 - max(p, 1-p)
	s.Margin = 1 - math.Abs(2*p-1)
	return s
}

// Five flows: P(DoH) 0.9, 0.6, 0.5, 0.2, 0.45 (uncertainty 0.1, 0.4, 0.5,
// 0.2, 0.45) at feature values 0, 1, 100, 2, 1.
var (
	probas = []float64{0.9, 0.6, 0.5, 0.2, 0.45}
	places = []float64{0, 1, 100, 2, 1}
)

func selectWith(t *testing.T, name string, p Params, db *dataset.Dataset) []int {
	t.Helper()
	s, err := New(name, p)
	if err != nil {
		t.Fatal(err)
	}
	if db == nil {
		db = &dataset.Dataset{}
	}
	return s.Select(candidates(probas, places), db)
}

func TestUnrankedStrategies(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		want string
	}{
		// Uncertainty 0.5 and 0.45 are the largest two.
		{"uncertainty_unranked", Params{NMax: 2}, "[2 4]"},
		{"uncertainty_unranked", Params{NMax: 3}, "[1 2 4]"},
		// A flow scoring at most the threshold is never asked.
		{"uncertainty_unranked", Params{NMax: 2, Threshold: 0.45}, "[2]"},
		// Margin 1-|2p-1|: 0.2, 0.8, 1.0, 0.4, 0.9.
		{"margin_unranked", Params{NMax: 2}, "[2 4]"},
		// Entropy: 0.325, 0.673, 0.693, 0.500, 0.688.
		{"entropy_unranked", Params{NMax: 3}, "[1 2 4]"},
		// Density: uncertainty × mean of 1/(1+|x_i - x_j|) over all five:
		// flow 2 at 100 is alone (mean 0.208, score 0.104), flows 1 and 4
		// at 1 are in the crowd (mean 0.602, scores 0.241 and 0.271).
		{"density_unranked", Params{NMax: 2}, "[1 4]"},
		// With β = 3 the crowd counts more: 0.4·0.602³ = 0.0873 beats
		// 0.5·0.208³ = 0.0045 and flow 0's 0.1·0.469³ = 0.0103.
		{"density_unranked", Params{NMax: 3, Beta: 3}, "[1 3 4]"},
	} {
		if got := fmt.Sprint(selectWith(t, tc.name, tc.p, nil)); got != tc.want {
			t.Errorf("%s %+v: %s, want %s", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestRankedBatch(t *testing.T) {
	// D_i holds rows at 1 and 0.5. α = 5/(5+2); similarity to the nearest
	// row: 0.667, 1, 0.0101, 0.5, 1. Final α(1-s) + (1-α)·uncertainty:
	// 0.267, 0.114, 0.850, 0.414, 0.129: flows 2 and 3, where unranked
	// takes 2 and 4 (4 is just like what D_i has).
	db := &dataset.Dataset{}
	var x features.Vector
	x[0] = 1
	db.Add(&x, true)
	x[0] = 0.5
	db.Add(&x, false)
	if got := fmt.Sprint(selectWith(t, "uncertainty_ranked", Params{NMax: 2}, db)); got != "[2 3]" {
		t.Errorf("uncertainty_ranked: %s, want [2 3]", got)
	}
	// The values, to the third decimal.
	c := candidates(probas, places)
	s, _ := New("uncertainty_ranked", Params{NMax: 2})
	final := rankedScores(c, s.scores(c), db)
	for i, want := range []float64{0.2667, 0.1143, 0.8500, 0.4143, 0.1286} {
		if math.Abs(final[i]-want) > 5e-4 {
			t.Errorf("ranked score of flow %d: %.4f, want %.4f", i, final[i], want)
		}
	}
}

func TestKLDivergence(t *testing.T) {
	// Members 0.9, 0.1, 0.5 (mean 0.5): KL of each 0.3681, 0.3681, 0:
	// mean 0.2454. Members all 0.6: 0. Members 0.99, 0.9, 0.95 (mean
	// 0.9467): 0.0276, 0.0174, 0.0001: mean 0.0151.
	c := []Candidate{
		{S: scoresOf(0.6, 0.6, 0.6, 0.6)},
		{S: scoresOf(0.9467, 0.99, 0.9, 0.95)},
		{S: scoresOf(0.5, 0.9, 0.1, 0.5)},
	}
	for i, want := range []float64{0, 0.0151, 0.2454} {
		if got := klDivergence(&c[i].S); math.Abs(got-want) > 5e-4 {
			t.Errorf("KL of flow %d: %.4f, want %.4f", i, got, want)
		}
	}
	s, _ := New("kldiv", Params{NMax: 1})
	if got := fmt.Sprint(s.Select(c, &dataset.Dataset{})); got != "[2]" {
		t.Errorf("kldiv: %s, want [2]", got)
	}
	if !s.NeedsCommittee() {
		t.Error("kldiv must need a committee")
	}
}

func TestRandomStrategy(t *testing.T) {
	a := selectWith(t, "random", Params{NMax: 2, Seed: 7}, nil)
	b := selectWith(t, "random", Params{NMax: 2, Seed: 7}, nil)
	if len(a) != 2 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("random picks %v then %v", a, b)
	}
	s, _ := New("random", Params{Fraction: 0.5, Seed: 1})
	n := len(s.Select(make([]Candidate, 10000), &dataset.Dataset{}))
	if n < 4800 || n > 5200 {
		t.Errorf("a fraction of 0.5 asked %d of 10000", n)
	}
	if got := len(selectWith(t, "random", Params{NMax: 50}, nil)); got != 5 {
		t.Errorf("more asked than there are: %d", got)
	}
}

func TestStrategyNames(t *testing.T) {
	for _, name := range Names {
		if name == "ral" {
			continue
		}
		if _, err := New(name, Params{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{"uncertainty", "random_ranked", "magic_ranked", "ral"} {
		if _, err := New(bad, Params{}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRAL(t *testing.T) {
	never := RALParams{Greedy: 1e-300, Budget: 1}
	r := NewRAL(3, Params{RAL: never})
	d := r.NewDecider(1)
	// 0.95 is sure at threshold 0.9; 0.85 and 0.8 are not: the weighted
	// vote 2/3 rounds to 1, so the committee asks.
	s := scoresOf(0.8667, 0.95, 0.85, 0.8)
	dec := d.Decide(&s)
	if !dec.Ask || !dec.Committee || dec.Uncertain != [infer.MaxMembers]bool{false, true, true} {
		t.Fatalf("decision %+v", dec)
	}
	// The answer: not DoH, though predicted DoH: reward 1. The two
	// uncertain members gain weight e^0.01 before normalising; the
	// threshold becomes 0.9·(1 + 0.01·(1 - 2)) = 0.891.
	r.Learn(dec, &s, false)
	alpha, threshold := r.Weights()
	a0 := 1 / (1 + 2*math.Exp(0.01))
	if math.Abs(alpha[0]-a0) > 1e-12 || math.Abs(alpha[1]-(1-a0)/2) > 1e-12 || math.Abs(threshold-0.891) > 1e-12 {
		t.Errorf("after learning: weights %v, threshold %v", alpha, threshold)
	}
	// One uncertain member of three: the vote 0.334 rounds to 0.
	s = scoresOf(0.9, 0.95, 0.92, 0.8)
	if dec := d.Decide(&s); dec.Ask || dec.Committee {
		t.Errorf("a minority asked: %+v", dec)
	}
	// Two members, one uncertain: a vote of exactly 0.5 rounds to 0, as
	// Python's round() does.
	two := NewRAL(2, Params{RAL: never}).NewDecider(1)
	s = scoresOf(0.75, 0.95, 0.55)
	if dec := two.Decide(&s); dec.Committee {
		t.Error("a vote of 0.5 asked")
	}
	// Budget 0.5, every flow uncertain: ask while asked/seen < 0.5.
	b := NewRAL(1, Params{RAL: RALParams{Greedy: 1e-300, Budget: 0.5}}).NewDecider(1)
	s = scoresOf(0.5, 0.5)
	var pattern []bool
	for range 6 {
		pattern = append(pattern, b.Decide(&s).Ask)
	}
	if fmt.Sprint(pattern) != "[true false true false true false]" {
		t.Errorf("budget: %v", pattern)
	}
	if c := b.Counts(); c.Seen != 6 || c.Asked != 3 || c.OverBudget != 3 {
		t.Errorf("counts %+v", c)
	}
}
