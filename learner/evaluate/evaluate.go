// Package evaluate measures a classifier as ALF's evaluator does:
// accuracy, precision, recall and F1 averaged over both classes (macro),
// Matthews' correlation, and precision corrected for the prevalence of DoH.
package evaluate

import "math"

// Confusion counts predictions against the truth, DoH being positive.
type Confusion struct {
	TP, FP, TN, FN int
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
// class, which is what a DoH detector is usually judged by.
type Metrics struct {
	N         int     `json:"n"`
	Accuracy  float64 `json:"accuracy"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	MCC       float64 `json:"mcc"`
	PrecPrev  float64 `json:"prec_prev"`
	F1DoH     float64 `json:"f1_doh"`
}

// MetricNames are the names of Metrics' figures, as they are in JSON.
var MetricNames = []string{"accuracy", "precision", "recall", "f1", "mcc", "prec_prev", "f1_doh"}

// Value is the figure of m named name (one of MetricNames).
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
	}
	return 0, false
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
