package train

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/internal/shareddata"
	"github.com/alfd/alfd/learner/dataset"
)

func readGolden(t *testing.T, names ...string) *dataset.Dataset {
	t.Helper()
	all := &dataset.Dataset{}
	for _, n := range names {
		d, err := dataset.ReadFile(shareddata.Path(t, "alf", "golden", "data.trapcap."+n+".features.csv"))
		if err != nil {
			t.Fatal(err)
		}
		all.X = append(all.X, d.X...)
		all.Y = append(all.Y, d.Y...)
	}
	return all
}

// scoreOf returns accuracy and the F1 of the DoH class of predict on d.
func scoreOf(d *dataset.Dataset, predict func(x []float64) float64) (accuracy, f1 float64) {
	var tp, fp, fn, correct int
	for i := range d.X {
		p := predict(d.X[i][:]) >= 0.5
		switch {
		case p && d.Y[i]:
			tp++
		case p && !d.Y[i]:
			fp++
		case !p && d.Y[i]:
			fn++
		}
		if p == d.Y[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(d.X)), 2 * float64(tp) / float64(2*tp+fp+fn)
}

// TestGoldenSplit trains on four of the shared trapcaps' golden features
// and tests on the fifth. scikit-learn's RandomForestClassifier (100 trees)
// reached accuracy 0.9375 and F1 0.953 there; trained on D_0 alone, 0.46.
func TestGoldenSplit(t *testing.T) {
	train := readGolden(t, "202112021705", "202112021735", "202112031435", "202112031450")
	test := readGolden(t, "202112071115")
	for _, tc := range []struct {
		name  string
		cfg   ForestConfig
		minF1 float64
	}{
		{"gini", ForestConfig{Seed: 1}, 0.943},
		{"entropy", ForestConfig{Seed: 2, Criterion: Entropy}, 0.943},
	} {
		f := must(RandomForest(context.Background(), train.X, train.Y, tc.cfg))
		acc, f1 := scoreOf(test, f.Predict)
		t.Logf("random forest (%s, 100 trees) on 202112071115: accuracy %.4f, F1 %.4f", tc.name, acc, f1)
		if f1 < tc.minF1 {
			t.Errorf("%s: F1 %.4f, want at least %.3f", tc.name, f1, tc.minF1)
		}
	}
	d0, err := dataset.ReadFile(shareddata.Path(t, "alf", "doh_D0.csv"))
	if err != nil {
		t.Fatal(err)
	}
	acc, f1 := scoreOf(test, must(RandomForest(context.Background(), d0.X, d0.Y, ForestConfig{Seed: 1})).Predict)
	t.Logf("trained on D_0 alone: accuracy %.4f, F1 %.4f", acc, f1)
	if acc > 0.7 {
		t.Errorf("D_0 alone reaches accuracy %.2f on the stream; ALF's measure was 0.46", acc)
	}
}

func TestCutPoints(t *testing.T) {
	cuts := cutPoints([]float64{3, 1, 2, 2, 5})
	if fmt.Sprint(cuts) != "[1.5 2.5 4]" {
		t.Errorf("cuts %v", cuts)
	}
	for _, tc := range []struct {
		x   float64
		bin int
	}{{1, 0}, {1.5, 0}, {2, 1}, {2.5, 1}, {3, 2}, {4.5, 3}, {100, 3}} {
		if b := binOf(cuts, tc.x); b != tc.bin {
			t.Errorf("bin of %v: %d, want %d", tc.x, b, tc.bin)
		}
	}
	// Adjacent floats: the cut is the lower one, so x <= cut splits them.
	a := 1.0
	b := math.Nextafter(a, 2)
	if c := midpoint(a, b); c != a {
		t.Errorf("midpoint of adjacent floats %v", c)
	}
	// Many distinct values: at most maxBins bins, in order.
	many := make([]float64, 10000)
	for i := range many {
		many[i] = float64(i * i % 7919)
	}
	cuts = cutPoints(many)
	if len(cuts) >= maxBins || len(cuts) < maxBins/2 {
		t.Errorf("%d cuts for 7919 distinct values", len(cuts))
	}
	for i := 1; i < len(cuts); i++ {
		if cuts[i] <= cuts[i-1] {
			t.Fatal("cuts out of order")
		}
	}
}

func TestGradientBoostingGoldenSplit(t *testing.T) {
	train := readGolden(t, "202112021705", "202112021735", "202112031435", "202112031450")
	test := readGolden(t, "202112071115")
	f := must(GradientBoosting(context.Background(), train.X, train.Y, BoostConfig{}))
	acc, f1 := scoreOf(test, func(x []float64) float64 { return 1 / (1 + math.Exp(-f.Predict(x))) })
	t.Logf("gradient boosting (100 trees, 31 leaves) on 202112071115: accuracy %.4f, F1 %.4f", acc, f1)
	if f1 < 0.9 {
		t.Errorf("F1 %.4f", f1)
	}
	single := must(Single(context.Background(), train.X, train.Y, 1))
	acc, f1 = scoreOf(test, single.Predict)
	t.Logf("ALF's single model (soft vote of 3 forests) on 202112071115: accuracy %.4f, F1 %.4f", acc, f1)
	if f1 < 0.943 {
		t.Errorf("single model: F1 %.4f", f1)
	}
}

// must is a trained model, or the test's end.
func must(f *infer.Forest, err error) *infer.Forest {
	if err != nil {
		panic(err)
	}
	return f
}

func TestTrainingStopsWhenCancelled(t *testing.T) {
	train := readGolden(t, "202112021735")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Single(ctx, train.X, train.Y, 1); err != context.Canceled {
		t.Errorf("a cancelled training: %v", err)
	}
	if _, err := GradientBoosting(ctx, train.X, train.Y, BoostConfig{}); err != context.Canceled {
		t.Errorf("a cancelled boosting: %v", err)
	}
}
