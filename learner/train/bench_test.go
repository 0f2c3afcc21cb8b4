package train

import (
	"context"
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/synth"
)

// benchData is 10,000 flows' features from the synthetic generator.
func benchData(tb testing.TB) ([]features.Vector, []bool) {
	cfg := synth.DefaultConfig()
	cfg.Flows = 10000
	d := synth.Dataset(cfg, features.SetALF)
	x, y := d.X, d.Y
	if len(x) != 10000 {
		tb.Fatalf("%d rows", len(x))
	}
	return x, y
}

// BenchmarkRandomForest trains 100 trees on 10,000 rows of 24 features on
// one core (scikit-learn's RandomForestClassifier took 1.75 s here).
func BenchmarkRandomForest(b *testing.B) {
	x, y := benchData(b)
	b.ReportAllocs()
	for b.Loop() {
		RandomForest(context.Background(), x, y, ForestConfig{Seed: 1})
	}
}
