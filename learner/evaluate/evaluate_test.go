package evaluate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestMetricsByHand(t *testing.T) {
	// 8 DoH flows of which 6 found, 12 others of which 2 called DoH.
	c := Confusion{TP: 6, FN: 2, FP: 2, TN: 10}
	m := c.Metrics(0.25)
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("accuracy", m.Accuracy, 16.0/20)
	near("precision", m.Precision, (6.0/8+10.0/12)/2)
	near("recall", m.Recall, (6.0/8+10.0/12)/2)
	near("f1", m.F1, (12.0/16+20.0/24)/2)
	near("f1_doh", m.F1DoH, 12.0/16)
	near("mcc", m.MCC, (6.0*10-2*2)/math.Sqrt(8*8*12*12))
	// TPR 0.75, FPR 2/12: 0.25*0.75 / (0.25*0.75 + 0.75/6).
	near("prec_prev", m.PrecPrev, 0.1875/(0.1875+0.125))
	if m.N != 20 {
		t.Errorf("n = %d", m.N)
	}
	// Nothing predicted DoH: the undefined parts are 0, as scikit-learn's
	// zero_division=0 makes them.
	none := Confusion{TN: 5, FN: 5}.Metrics(0.5)
	if none.MCC != 0 || none.PrecPrev != 0 || none.F1DoH != 0 || none.Accuracy != 0.5 {
		t.Errorf("degenerate: %+v", none)
	}
	var sum Confusion
	sum.Add(true, true)
	sum.Add(true, false)
	sum.Add(false, true)
	sum.Add(false, false)
	sum.Merge(Confusion{TP: 1})
	if sum != (Confusion{TP: 2, FP: 1, FN: 1, TN: 1}) {
		t.Errorf("counts %+v", sum)
	}
}

// TestValueNames: Value knows every figure by its JSON name, and no other.
func TestValueNames(t *testing.T) {
	auc, ap := 0.8, 0.9
	m := Metrics{Accuracy: 0.1, Precision: 0.2, Recall: 0.3, F1: 0.4, MCC: 0.5, PrecPrev: 0.6, F1DoH: 0.7, ROCAUC: &auc, AP: &ap}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var byName map[string]float64
	if err := json.Unmarshal(data, &byName); err != nil {
		t.Fatal(err)
	}
	delete(byName, "n")
	if len(byName) != len(MetricNames) {
		t.Errorf("JSON has %d figures, MetricNames %d", len(byName), len(MetricNames))
	}
	for _, name := range MetricNames {
		if v, ok := m.Value(name); !ok || v != byName[name] {
			t.Errorf("%s: %v %v, JSON says %v", name, v, ok, byName[name])
		}
	}
	if _, ok := m.Value("auc"); ok {
		t.Error("auc is known")
	}
}

// TestRank checks ROC AUC and average precision against scikit-learn's
// documented examples, and against their definitions, pair by pair and
// threshold by threshold, on scores with many ties.
func TestRank(t *testing.T) {
	// roc_auc_score and average_precision_score's docstring example.
	var m Metrics
	m.Rank([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true})
	if m.ROCAUC == nil || math.Abs(*m.ROCAUC-0.75) > 1e-15 || math.Abs(*m.AP-0.8333333333333333) > 1e-15 {
		t.Fatalf("docstring example: %v %v", m.ROCAUC, m.AP)
	}
	// All tied: a coin toss's AUC, and the share of DoH for precision.
	m = Metrics{}
	m.Rank([]float64{0.5, 0.5, 0.5, 0.5}, []bool{true, false, false, false})
	if *m.ROCAUC != 0.5 || *m.AP != 0.25 {
		t.Errorf("all tied: %v %v", *m.ROCAUC, *m.AP)
	}
	// One class only: undefined, left out, and so in JSON and Value.
	m = Metrics{}
	m.Rank([]float64{0.1, 0.9}, []bool{true, true})
	if _, ok := m.Value("roc_auc"); ok || m.AP != nil {
		t.Error("a ranking of one class")
	}
	if data, _ := json.Marshal(m); strings.Contains(string(data), "roc_auc") {
		t.Errorf("JSON %s", data)
	}

	// A NaN (no model's) ranks lowest, tied with another NaN.
	m = Metrics{}
	m.Rank([]float64{math.NaN(), 0.5, math.NaN()}, []bool{true, false, false})
	if *m.ROCAUC != 0.25 {
		t.Errorf("with NaNs: AUC %v", *m.ROCAUC)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		n := 1 + rng.IntN(60)
		proba, truth := make([]float64, n), make([]bool, n)
		for i := range n {
			proba[i] = float64(rng.IntN(8)) / 7 // few values: ties
			truth[i] = rng.Float64() < proba[i]*0.8+0.1
		}
		var pos, neg int
		var right float64
		for i := range n {
			if !truth[i] {
				neg++
				continue
			}
			pos++
			for j := range n {
				switch {
				case truth[j]:
				case proba[i] > proba[j]:
					right++
				case proba[i] == proba[j]:
					right += 0.5
				}
			}
		}
		// Average precision: over each distinct threshold, highest first,
		// the recall it adds times the precision at it.
		var ap, lastRecall float64
		thresholds := slices.Clone(proba)
		slices.Sort(thresholds)
		thresholds = slices.Compact(thresholds)
		for k := len(thresholds) - 1; k >= 0; k-- {
			tp, called := 0, 0
			for i := range n {
				if proba[i] >= thresholds[k] {
					called++
					if truth[i] {
						tp++
					}
				}
			}
			if pos > 0 {
				recall := float64(tp) / float64(pos)
				ap += (recall - lastRecall) * float64(tp) / float64(called)
				lastRecall = recall
			}
		}
		m := Metrics{}
		m.Rank(proba, truth)
		if pos == 0 || neg == 0 {
			if m.ROCAUC != nil || m.AP != nil {
				t.Errorf("round %d: one class, yet ranked", round)
			}
			continue
		}
		if auc := right / float64(pos*neg); math.Abs(*m.ROCAUC-auc) > 1e-12 || math.Abs(*m.AP-ap) > 1e-12 {
			t.Errorf("round %d: AUC %v AP %v, by definition %v %v", round, *m.ROCAUC, *m.AP, auc, ap)
		}
	}
}

// TestRankHistogram: probabilities a bin or more apart (a forest's votes,
// k/300) rank from a Histogram exactly as Rank ranks them; drained from
// histogram to histogram, nothing is lost; within a bin, flows tie.
func TestRankHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var parts [3]Histogram
	var all Histogram
	proba, truth := make([]float64, 5000), make([]bool, 5000)
	for i := range proba {
		proba[i] = float64(rng.IntN(301)) / 300
		truth[i] = rng.Float64() < proba[i]*0.9+0.05
		parts[i%3].Add(proba[i], truth[i])
	}
	for i := range parts {
		parts[i].Drain(&all)
		if total(&parts[i]) != 0 || len(parts[i].touched) != 0 {
			t.Fatalf("part %d not emptied by Drain", i)
		}
	}
	var exact, binned Metrics
	exact.Rank(proba, truth)
	binned.RankHistogram(&all)
	counted := total(&all)
	if counted != uint64(len(proba)) || *exact.ROCAUC != *binned.ROCAUC || math.Abs(*exact.AP-*binned.AP) > 1e-12 {
		t.Errorf("%d flows; exact AUC %v AP %v, from the histogram %v %v", counted, *exact.ROCAUC, *exact.AP, *binned.ROCAUC, *binned.AP)
	}
	// Two flows a hundredth of a bin apart tie; 0, NaN and below 0 share
	// the lowest bin, 1 and above the highest.
	var h Histogram
	h.Add(0.5, true)
	h.Add(0.5+0.01/HistogramBins, false)
	h.Add(math.NaN(), false)
	h.Add(-1, false)
	h.Add(2, true)
	var m Metrics
	m.RankHistogram(&h)
	// DoH at the top outranks all 3 others; DoH at 0.5 ties one, outranks
	// two: (3 + 2 + 0.5) / (2 * 3).
	if got := *m.ROCAUC; math.Abs(got-5.5/6) > 1e-15 {
		t.Errorf("AUC %v, want %v", got, 5.5/6)
	}
	if n := testing.AllocsPerRun(100, func() { h.Add(0.25, true) }); n != 0 {
		t.Errorf("Add allocates %v", n)
	}
}

// TestRankBounds: a perfect ranking of many runs is 1, not a rounding
// error above it.
func TestRankBounds(t *testing.T) {
	var proba []float64
	var truth []bool
	for i := range 1000 {
		proba = append(proba, float64(i)/1000)
		truth = append(truth, i >= 700)
	}
	var m Metrics
	m.Rank(proba, truth)
	if *m.ROCAUC != 1 || *m.AP != 1 {
		t.Errorf("a perfect ranking: AUC %v, AP %v", *m.ROCAUC, *m.AP)
	}
}

// total is the number of flows h counts, bin by bin.
func total(h *Histogram) uint64 {
	var n uint64
	for c := range h.counts {
		for _, k := range h.counts[c] {
			n += k
		}
	}
	return n
}
