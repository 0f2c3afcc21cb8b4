package evaluate

import (
	"encoding/json"
	"math"
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
	m := Metrics{Accuracy: 0.1, Precision: 0.2, Recall: 0.3, F1: 0.4, MCC: 0.5, PrecPrev: 0.6, F1DoH: 0.7}
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
