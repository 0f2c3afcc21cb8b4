package query

import (
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/alfd/alfd/infer"
)

// RALParams are RAL's parameters, with ALF's names; zero fields take ALF's
// defaults.
type RALParams struct {
	// Uncertainty is the starting threshold: a member whose largest class
	// probability is below it votes "uncertain" (default 0.9).
	Uncertainty float64
	// Greedy is the probability of asking anyway (threshold_greedy, 0.025).
	Greedy float64
	// Budget caps the share of flows asked (0.05).
	Budget float64
	// Reward and Penalty are the rewards for a committee question whose
	// answer showed the prediction wrong or right (1 and 1).
	Reward, Penalty float64
	// Eta is the learning rate of the weights and the threshold (0.01).
	Eta float64
}

func (p RALParams) withDefaults() RALParams {
	if p.Uncertainty == 0 {
		p.Uncertainty = 0.9
	}
	if p.Greedy == 0 {
		p.Greedy = 0.025
	}
	if p.Budget == 0 {
		p.Budget = 0.05
	}
	if p.Reward == 0 {
		p.Reward = 1
	}
	if p.Penalty == 0 {
		p.Penalty = 1
	}
	if p.Eta == 0 {
		p.Eta = 0.01
	}
	return p
}

// RAL is reinforcement active learning (Wassermann, Cuvelier, Casas 2019)
// over a committee, as ALF implements it: each member votes "uncertain"
// when its largest class probability is below a threshold; the committee
// asks when the weighted vote rounds to 1; it also asks at random now and
// then, never beyond its budget; and each answer to a committee question
// reweighs the members and moves the threshold.
//
// The weights and threshold are shared: every classifier goroutine decides
// with its own Decider, reading them without a lock; Learn, called by the
// one goroutine that sees the oracle's answers, replaces them.
type RAL struct {
	p     RALParams
	state atomic.Pointer[ralState]
}

// ralState is immutable once published.
type ralState struct {
	alpha     []float64
	threshold float64
}

// NewRAL returns RAL over a committee of the given size.
func NewRAL(members int, p Params) *RAL {
	r := &RAL{p: p.RAL.withDefaults()}
	if p.Threshold > 0 {
		r.p.Uncertainty = p.Threshold
	}
	alpha := make([]float64, members)
	for i := range alpha {
		alpha[i] = 1 / float64(members)
	}
	r.state.Store(&ralState{alpha: alpha, threshold: r.p.Uncertainty})
	return r
}

// Weights returns the members' weights and the threshold now.
func (r *RAL) Weights() (alpha []float64, threshold float64) {
	s := r.state.Load()
	return append([]float64(nil), s.alpha...), s.threshold
}

// Decision is RAL's verdict on one flow.
type Decision struct {
	Ask       bool // ask the oracle
	Committee bool // the committee's vote was "uncertain"
	// Uncertain holds each member's vote.
	Uncertain [infer.MaxMembers]bool
	Greedy    bool // asked at random
}

// Decider decides flow by flow for one goroutine; it counts the flows it
// has seen and asked, for the budget.
type Decider struct {
	r             *RAL
	rng           *rand.Rand
	seen, asked   int
	overBudget    int
	greedyAsked   int
	committeeAsks int
}

// NewDecider returns a Decider with its own seeded randomness.
func (r *RAL) NewDecider(seed uint64) *Decider {
	return &Decider{r: r, rng: rand.New(rand.NewPCG(seed, 0xa1))}
}

// Decide says whether to ask about a flow with these scores.
func (d *Decider) Decide(s *infer.Scores) Decision {
	st := d.r.state.Load()
	var dec Decision
	vote := 0.0
	for i := range s.NMembers {
		p := s.Members[i]
		dec.Uncertain[i] = max(p, 1-p) < st.threshold
		if dec.Uncertain[i] {
			vote += st.alpha[i]
		}
	}
	// Python's round() rounds half to even: a vote of exactly 0.5 is 0.
	dec.Committee = math.RoundToEven(vote) >= 1
	d.seen++
	if float64(d.asked)/float64(d.seen) >= d.r.p.Budget {
		if dec.Committee {
			d.overBudget++
		}
		return dec
	}
	if dec.Committee {
		d.committeeAsks++
	}
	if d.rng.Float64() < d.r.p.Greedy {
		dec.Greedy, dec.Ask = true, true
		d.greedyAsked++
	} else {
		dec.Ask = dec.Committee
	}
	if dec.Ask {
		d.asked++
	}
	return dec
}

// Learn takes the oracle's answer to a question. When the committee had
// asked, it rewards a wrong prediction with Reward and a right one with
// Penalty: the members that voted as the committee get weight
// α·exp(reward·η), the weights are normalised, and the threshold becomes
// threshold·(1 + η(1 - 2^(reward/penalty))), kept within [0.6, 1].
func (r *RAL) Learn(dec Decision, s *infer.Scores, truth bool) {
	if !dec.Committee {
		return
	}
	predicted := s.Proba > 0.5
	reward := r.p.Penalty
	if predicted != truth {
		reward = r.p.Reward
	}
	old := r.state.Load()
	next := &ralState{alpha: append([]float64(nil), old.alpha...)}
	sum := 0.0
	for i := range next.alpha {
		if dec.Uncertain[i] == dec.Committee {
			next.alpha[i] *= math.Exp(reward * r.p.Eta)
		}
		sum += next.alpha[i]
	}
	for i := range next.alpha {
		next.alpha[i] /= sum
	}
	f := r.p.Eta * (1 - math.Pow(2, reward/r.p.Penalty))
	next.threshold = max(min(old.threshold*(1+f), 1), 0.6)
	r.state.Store(next)
}

// Counts are what a Decider has seen and asked (ALF's RAL metrics).
type Counts struct {
	Seen, Asked, OverBudget, Greedy, Committee int
}

// Counts returns the decider's counters.
func (d *Decider) Counts() Counts {
	return Counts{Seen: d.seen, Asked: d.asked, OverBudget: d.overBudget, Greedy: d.greedyAsked, Committee: d.committeeAsks}
}
