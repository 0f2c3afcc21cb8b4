// Package evaluate measures a classifier as ALF's evaluator does:
// accuracy, precision, recall and F1 averaged over both classes (macro),
// Matthews' correlation, and precision corrected for the prevalence of DoH;
// and, where the flows' probabilities are at hand, how well they rank DoH
// above the rest over every threshold: ROC AUC and average precision.
package evaluate

import (
	"cmp"
	"math"
	"slices"
)

// Confusion counts predictions against the truth, DoH being positive.
type Confusion struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	TN int `json:"tn"`
	FN int `json:"fn"`
}

// Add counts one flow.
func (c *Confusion) Add(predicted, truth bool) {
	switch {
	case predicted && truth:
		c.TP++
	case predicted:
		c.FP++
	case truth:
		c.FN++
	default:
		c.TN++
	}
}

// Merge adds another count.
func (c *Confusion) Merge(o Confusion) {
	c.TP += o.TP
	c.FP += o.FP
	c.TN += o.TN
	c.FN += o.FN
}

// N is the number of flows counted.
func (c Confusion) N() int { return c.TP + c.FP + c.TN + c.FN }

// Metrics are ALF's report, with the same names, and the F1 of the DoH
// class, which is what a DoH detector is usually judged by. ROCAUC and AP
// are there when the flows' probabilities were (Rank) and both classes
// among them.
type Metrics struct {
	N         int      `json:"n"`
	Accuracy  float64  `json:"accuracy"`
	Precision float64  `json:"precision"`
	Recall    float64  `json:"recall"`
	F1        float64  `json:"f1"`
	MCC       float64  `json:"mcc"`
	PrecPrev  float64  `json:"prec_prev"`
	F1DoH     float64  `json:"f1_doh"`
	ROCAUC    *float64 `json:"roc_auc,omitempty"`
	AP        *float64 `json:"average_precision,omitempty"`
}

// MetricNames are the names of Metrics' figures, as they are in JSON.
var MetricNames = []string{"accuracy", "precision", "recall", "f1", "mcc", "prec_prev", "f1_doh", "roc_auc", "average_precision"}

// Value is the figure of m named name (one of MetricNames); ok is false
// for another name, or a ranking measure m does not have.
func (m *Metrics) Value(name string) (v float64, ok bool) {
	switch name {
	case "accuracy":
		return m.Accuracy, true
	case "precision":
		return m.Precision, true
	case "recall":
		return m.Recall, true
	case "f1":
		return m.F1, true
	case "mcc":
		return m.MCC, true
	case "prec_prev":
		return m.PrecPrev, true
	case "f1_doh":
		return m.F1DoH, true
	case "roc_auc":
		return deref(m.ROCAUC)
	case "average_precision":
		return deref(m.AP)
	}
	return 0, false
}

func deref(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

// Rank adds to m how well the probabilities of DoH, proba, rank the flows
// whose labels are truth: the area under the ROC curve and the average
// precision, as scikit-learn's roc_auc_score and average_precision_score
// compute them (flows of the same probability make one threshold). Without
// flows of both classes they are undefined, and m is left without them.
func (m *Metrics) Rank(proba []float64, truth []bool) {
	type flow struct {
		proba float64
		doh   bool
	}
	flows := make([]flow, len(proba))
	for i := range proba {
		flows[i] = flow{proba[i], truth[i]}
	}
	// Highest first; each run of one probability is a threshold. (A NaN,
	// which no model should give, sorts lowest, as cmp.Compare orders it.)
	slices.SortFunc(flows, func(a, b flow) int { return cmp.Compare(b.proba, a.proba) })
	i := 0
	m.rank(func() (pos, neg int, ok bool) {
		if i == len(flows) {
			return 0, 0, false
		}
		for j := i; i < len(flows) && cmp.Compare(flows[i].proba, flows[j].proba) == 0; i++ {
			if flows[i].doh {
				pos++
			} else {
				neg++
			}
		}
		return pos, neg, true
	})
}

// rank computes the ranking measures from the flows' counts at each
// threshold, highest first: next gives a threshold's DoH and other flows.
func (m *Metrics) rank(next func() (pos, neg int, ok bool)) {
	type run struct{ pos, neg int }
	var runs []run
	var allPos, allNeg int
	for {
		p, n, ok := next()
		if !ok {
			break
		}
		if p+n > 0 {
			runs = append(runs, run{p, n})
			allPos, allNeg = allPos+p, allNeg+n
		}
	}
	if allPos == 0 || allNeg == 0 {
		return
	}
	// DoH-other pairs ranked right (ties half), and the precision at each
	// threshold weighed by the DoH flows it adds: the sums, divided once,
	// are 1 exactly for a perfect ranking.
	var pairs, weighed float64
	tp, fp := 0, 0
	for _, r := range runs {
		// This run's DoH flows rank above the others not yet seen, and
		// tie with this run's others.
		pairs += float64(r.pos)*float64(allNeg-fp-r.neg) + float64(r.pos)*float64(r.neg)/2
		tp, fp = tp+r.pos, fp+r.neg
		weighed += float64(r.pos) * float64(tp) / float64(tp+fp)
	}
	auc := min(pairs/(float64(allPos)*float64(allNeg)), 1)
	ap := min(weighed/float64(allPos), 1)
	m.ROCAUC, m.AP = &auc, &ap
}

// HistogramBins is how finely a Histogram tells probabilities apart.
const HistogramBins = 4096

// Histogram counts flows by their probability of DoH and their label, in
// HistogramBins bins, for the ranking measures of a stream of flows too
// long to keep: flows in one bin count as tied. A model's probabilities
// that differ by more than a bin's width are told apart, as those of a
// forest's votes are. Its zero value is empty.
type Histogram struct {
	counts  [2][HistogramBins]uint64 // other, DoH
	touched []uint16                 // bins counted since Drain, for a cheap merge
}

func bin(proba float64) int {
	switch {
	case !(proba > 0): // NaN too, lowest as Rank puts it
		return 0
	case proba >= 1:
		return HistogramBins - 1
	}
	return int(proba * HistogramBins)
}

// Add counts a flow. It allocates nothing once the histogram has been
// drained a few times.
func (h *Histogram) Add(proba float64, doh bool) {
	b := bin(proba)
	if h.counts[0][b] == 0 && h.counts[1][b] == 0 {
		h.touched = append(h.touched, uint16(b))
	}
	c := 0
	if doh {
		c = 1
	}
	h.counts[c][b]++
}

// Drain adds h's counts to into and empties h, in time proportional to
// the bins h counted in.
func (h *Histogram) Drain(into *Histogram) {
	for _, b := range h.touched {
		for c := range h.counts {
			if n := h.counts[c][b]; n > 0 {
				if into.counts[0][b] == 0 && into.counts[1][b] == 0 {
					into.touched = append(into.touched, b)
				}
				into.counts[c][b] += n
				h.counts[c][b] = 0
			}
		}
	}
	h.touched = h.touched[:0]
}

// RankHistogram adds to m the ranking measures of h's flows, as Rank
// computes them with each bin a threshold.
func (m *Metrics) RankHistogram(h *Histogram) {
	b := HistogramBins
	m.rank(func() (pos, neg int, ok bool) {
		if b == 0 {
			return 0, 0, false
		}
		b--
		return int(h.counts[1][b]), int(h.counts[0][b]), true
	})
}

// div is a/b, or 0 when b is 0 (scikit-learn's zero_division=0).
func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Metrics computes the report. prevalence is the share of DoH in D_i, for
// the precision a detector would have at that share (ALF's prec_prev).
func (c Confusion) Metrics(prevalence float64) Metrics {
	tp, fp, tn, fn := float64(c.TP), float64(c.FP), float64(c.TN), float64(c.FN)
	n := tp + fp + tn + fn
	m := Metrics{N: c.N(), Accuracy: div(tp+tn, n)}
	// Per class: DoH (positive) and not DoH (negative), then their mean.
	precPos, precNeg := div(tp, tp+fp), div(tn, tn+fn)
	recPos, recNeg := div(tp, tp+fn), div(tn, tn+fp)
	f1Pos, f1Neg := div(2*tp, 2*tp+fp+fn), div(2*tn, 2*tn+fn+fp)
	m.Precision = (precPos + precNeg) / 2
	m.Recall = (recPos + recNeg) / 2
	m.F1 = (f1Pos + f1Neg) / 2
	m.F1DoH = f1Pos
	m.MCC = div(tp*tn-fp*fn, math.Sqrt((tp+fp)*(tp+fn)*(tn+fp)*(tn+fn)))
	tpr, fpr := recPos, div(fp, fp+tn)
	m.PrecPrev = div(prevalence*tpr, prevalence*tpr+(1-prevalence)*fpr)
	return m
}
