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
	pos := 0
	for i := range proba {
		flows[i] = flow{proba[i], truth[i]}
		if truth[i] {
			pos++
		}
	}
	neg := len(flows) - pos
	if pos == 0 || neg == 0 {
		return
	}
	// Highest first; each run of one probability is a threshold.
	// (A NaN, which no model should give, sorts lowest, as cmp.Compare
	// orders it.)
	slices.SortFunc(flows, func(a, b flow) int { return cmp.Compare(b.proba, a.proba) })
	var pairs, ap float64 // DoH-other pairs ranked right, ties half
	tp, fp := 0, 0
	for i := 0; i < len(flows); {
		p, n := 0, 0
		j := i
		for ; j < len(flows) && cmp.Compare(flows[j].proba, flows[i].proba) == 0; j++ {
			if flows[j].doh {
				p++
			} else {
				n++
			}
		}
		// This run's DoH flows rank above the others not yet seen, and
		// tie with this run's others.
		pairs += float64(p)*float64(neg-fp-n) + float64(p)*float64(n)/2
		tp, fp = tp+p, fp+n
		ap += float64(p) / float64(pos) * float64(tp) / float64(tp+fp)
		i = j
	}
	auc := pairs / (float64(pos) * float64(neg))
	m.ROCAUC, m.AP = &auc, &ap
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
