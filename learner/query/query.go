// Package query holds the query strategies: which flows the learner asks
// its oracle about. The batch strategies (random, uncertainty, margin,
// entropy, information density and committee KL divergence, each ranked or
// unranked) choose among a generation's candidates, as ALF's do; RAL
// decides flow by flow.
package query

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/learner/dataset"
)

// Candidate is a flow the learner may ask about: its features and what the
// model said of it.
type Candidate struct {
	X features.Vector
	S infer.Scores
}

// Params are the strategies' parameters, named as ALF's options.
type Params struct {
	// NMax is query_nmax: how many flows a generation asks at most.
	NMax int
	// Fraction, for random, asks each flow with this probability instead.
	Fraction float64
	// Threshold is query_threshold: a flow scoring at most this is never
	// asked (for RAL, the starting uncertainty threshold).
	Threshold float64
	// Beta weighs the density in information density.
	Beta float64
	Seed uint64
	RAL  RALParams
}

// Score ranks candidates: higher is more worth asking.
type Score uint8

const (
	ScoreUncertainty Score = iota // 1 - max P
	ScoreMargin                   // 1 - (P_top1 - P_top2)
	ScoreEntropy                  // -Σ P ln P
	ScoreDensity                  // uncertainty × (mean similarity to the batch)^β
	ScoreKLDiv                    // mean over members of KL(P_member ‖ P_committee)
)

// Strategy chooses, from a generation's candidates, the flows to ask about.
type Strategy struct {
	name   string
	random bool
	score  Score
	ranked bool
	p      Params
	rng    *rand.Rand
}

// Names are the strategies alfd knows, by ALF's names and the ones ALF
// lacks. ALF maps entropy_unranked to its ranked strategy by mistake; here
// it is unranked. kldiv is ALF's (unranked); kldiv_ranked ranks.
var Names = []string{
	"random", "uncertainty_ranked", "uncertainty_unranked", "margin_ranked", "margin_unranked",
	"entropy_ranked", "entropy_unranked", "density_ranked", "density_unranked",
	"kldiv", "kldiv_ranked", "ral",
}

// New returns the named batch strategy. ral is not one: see NewRAL.
func New(name string, p Params) (*Strategy, error) {
	s := &Strategy{name: name, p: p, rng: rand.New(rand.NewPCG(p.Seed, 0x71))}
	if s.p.NMax <= 0 && s.p.Fraction <= 0 {
		s.p.NMax = 100 // ALF's default max_samples
	}
	if s.p.Beta == 0 {
		s.p.Beta = 1
	}
	base, ranking, _ := strings.Cut(name, "_")
	switch ranking {
	case "ranked":
		s.ranked = true
	case "unranked", "":
	default:
		return nil, unknown(name)
	}
	switch base {
	case "random":
		if ranking != "" {
			return nil, unknown(name)
		}
		s.random = true
	case "uncertainty":
		s.score = ScoreUncertainty
	case "margin":
		s.score = ScoreMargin
	case "entropy":
		s.score = ScoreEntropy
	case "density":
		s.score = ScoreDensity
	case "kldiv":
		s.score = ScoreKLDiv
	case "ral":
		return nil, fmt.Errorf("query strategy ral decides flow by flow: use NewRAL")
	default:
		return nil, unknown(name)
	}
	if ranking == "" && !s.random && base != "kldiv" {
		return nil, unknown(name)
	}
	return s, nil
}

func unknown(name string) error {
	return fmt.Errorf("unknown query strategy %q (known: %s)", name, strings.Join(Names, ", "))
}

// Name is the strategy's name.
func (s *Strategy) Name() string { return s.name }

// NeedsCommittee reports whether the strategy needs each member's vote.
func (s *Strategy) NeedsCommittee() bool { return s.score == ScoreKLDiv && !s.random }

// Prescore is the strategy's own score of one flow, without the batch:
// what a generation's pool keeps its best by. (Information density's is
// its uncertainty; the density needs the whole batch.)
func (s *Strategy) Prescore(sc *infer.Scores) float64 {
	switch s.score {
	case ScoreMargin:
		return sc.Margin
	case ScoreEntropy:
		return sc.Entropy()
	case ScoreKLDiv:
		return klDivergence(sc)
	}
	return sc.Uncertainty
}

// Worth reports whether a flow with these scores could ever be asked: its
// score must be above the threshold.
func (s *Strategy) Worth(sc *infer.Scores) bool {
	if s.random {
		return true
	}
	if s.score == ScoreDensity {
		// Density scales the uncertainty down, never up.
		return sc.Uncertainty > s.p.Threshold
	}
	return s.Prescore(sc) > s.p.Threshold
}

// Select returns the indexes of the candidates to ask about, in increasing
// order. db is D_i, which ranked strategies keep their distance from.
func (s *Strategy) Select(c []Candidate, db *dataset.Dataset) []int {
	if s.random {
		return s.selectRandom(len(c))
	}
	scores := s.scores(c)
	final := scores
	if s.ranked {
		final = rankedScores(c, scores, db)
	}
	order := make([]int, len(c))
	for i := range order {
		order[i] = i
	}
	// Highest first; ties by position, so that a selection repeats.
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(final[b], final[a]) })
	var picked []int
	for _, i := range order[:min(s.p.NMax, len(order))] {
		// A flow at or below the threshold is never asked, as in ALF.
		if scores[i] > s.p.Threshold {
			picked = append(picked, i)
		}
	}
	slices.Sort(picked)
	return picked
}

func (s *Strategy) selectRandom(n int) []int {
	var picked []int
	if s.p.Fraction > 0 {
		for i := range n {
			if s.rng.Float64() < s.p.Fraction {
				picked = append(picked, i)
			}
		}
		return picked
	}
	picked = s.rng.Perm(n)[:min(n, s.p.NMax)]
	slices.Sort(picked)
	return picked
}

// scores computes each candidate's score.
func (s *Strategy) scores(c []Candidate) []float64 {
	out := make([]float64, len(c))
	for i := range c {
		out[i] = s.Prescore(&c[i].S)
	}
	if s.score == ScoreDensity {
		// Mean similarity 1/(1+distance) to every candidate, itself
		// included, as ALF's pairwise distances are.
		for i := range c {
			sum := 0.0
			for j := range c {
				sum += 1 / (1 + distance(&c[i].X, &c[j].X))
			}
			out[i] *= math.Pow(sum/float64(len(c)), s.p.Beta)
		}
	}
	return out
}

// klDivergence is the mean over the committee's members of the KL
// divergence of a member's P from the committee's mean P. (ALF's loop
// keeps only the last member's, divided by the committee's size.)
func klDivergence(s *infer.Scores) float64 {
	if s.NMembers == 0 {
		return 0
	}
	q := 0.0
	for _, p := range s.Members[:s.NMembers] {
		q += p
	}
	q /= float64(s.NMembers)
	kl := 0.0
	for _, p := range s.Members[:s.NMembers] {
		kl += relEntropy(p, q) + relEntropy(1-p, 1-q)
	}
	return kl / float64(s.NMembers)
}

// relEntropy is one term of KL(p ‖ q): p ln(p/q), 0 for p = 0.
func relEntropy(p, q float64) float64 {
	if p <= 0 {
		return 0
	}
	return p * math.Log(p/q)
}

// rankedScores is ALF's ranked batch (Cardoso et al.): with α the batch's
// share of batch and D_i together, α(1 - s) + (1 - α)·score, s being the
// similarity 1/(1 + distance) to the nearest row of D_i. ALF does not add a
// pick to D_i before the next, so the batch is the top of this score.
func rankedScores(c []Candidate, scores []float64, db *dataset.Dataset) []float64 {
	alpha := float64(len(c)) / float64(len(c)+db.Len())
	out := make([]float64, len(c))
	for i := range c {
		sim := 0.0
		if db.Len() > 0 {
			nearest := math.Inf(1)
			for j := range db.X {
				nearest = min(nearest, distance(&c[i].X, &db.X[j]))
			}
			sim = 1 / (1 + nearest)
		}
		out[i] = alpha*(1-sim) + (1-alpha)*scores[i]
	}
	return out
}

// distance is the Euclidean distance of two feature vectors, unscaled, as
// ALF computes it.
func distance(a, b *features.Vector) float64 {
	sum := 0.0
	for i := range a {
		d := a[i] - b[i]
		sum += d * d
	}
	return math.Sqrt(sum)
}
