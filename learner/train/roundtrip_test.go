package train

import (
	"bufio"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/dmitryikh/leaves"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/synth"
)

// TestModelsRoundTrip writes trained models, loads them with leaves and
// with infer, and checks that both predict exactly what the trainer's own
// forest predicts.
func TestModelsRoundTrip(t *testing.T) {
	cfg := synth.DefaultConfig()
	cfg.Flows = 3000
	d := synth.Dataset(cfg, features.SetALF)
	x, y := d.X, d.Y
	cfg.Seed = 99
	probe := synth.Dataset(cfg, features.SetALF).X
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		forest  *infer.Forest
		sigmoid bool
	}{
		{"random forest", must(RandomForest(ctx, x, y, ForestConfig{Seed: 3, Trees: 30})), false},
		{"single", must(Single(ctx, x, y, 4)), false},
		{"gradient boosting", must(GradientBoosting(ctx, x, y, BoostConfig{Trees: 40})), true},
	} {
		path := filepath.Join(t.TempDir(), "model.txt")
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.forest.WriteLightGBM(out); err != nil {
			t.Fatal(err)
		}
		out.Close()
		f, _ := os.Open(path)
		lv, err := leaves.LGEnsembleFromReader(bufio.NewReader(f), false)
		f.Close()
		if err != nil {
			t.Fatalf("%s: leaves: %v", tc.name, err)
		}
		m, err := infer.Load(path, features.SetALF)
		if err != nil {
			t.Fatalf("%s: infer: %v", tc.name, err)
		}
		var s infer.Scores
		for i := range probe {
			want := tc.forest.Predict(probe[i][:])
			if got := lv.PredictSingle(probe[i][:], 0); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("%s: flow %d: leaves %v, trainer %v", tc.name, i, got, want)
			}
			if tc.sigmoid {
				want = 1 / (1 + math.Exp(-want))
			}
			m.Score(&probe[i], &s)
			if math.Float64bits(s.Proba) != math.Float64bits(want) {
				t.Fatalf("%s: flow %d: infer %v, trainer %v", tc.name, i, s.Proba, want)
			}
		}
	}
}

func TestTrainingRepeats(t *testing.T) {
	cfg := synth.DefaultConfig()
	cfg.Flows = 1000
	d := synth.Dataset(cfg, features.SetALF)
	x, y := d.X, d.Y
	text := func(f *infer.Forest) string {
		path := filepath.Join(t.TempDir(), "m.txt")
		out, _ := os.Create(path)
		f.WriteLightGBM(out)
		out.Close()
		b, _ := os.ReadFile(path)
		return string(b)
	}
	ctx := context.Background()
	a := text(must(RandomForest(ctx, x, y, ForestConfig{Seed: 1, Trees: 10})))
	b := text(must(RandomForest(ctx, x, y, ForestConfig{Seed: 1, Trees: 10})))
	c := text(must(RandomForest(ctx, x, y, ForestConfig{Seed: 2, Trees: 10})))
	if a != b || a == c {
		t.Error("the same seed must give the same forest, another seed another")
	}
	g1 := text(must(GradientBoosting(ctx, x, y, BoostConfig{Trees: 5})))
	g2 := text(must(GradientBoosting(ctx, x, y, BoostConfig{Trees: 5})))
	if g1 != g2 {
		t.Error("gradient boosting is not deterministic")
	}
}
