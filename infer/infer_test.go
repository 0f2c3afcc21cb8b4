package infer

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/dmitryikh/leaves"

	"github.com/alfd/alfd/features"
)

func loadLeaves(t *testing.T, path string, transform bool) *leaves.Ensemble {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(f), transform)
	if err != nil {
		t.Fatal(err)
	}
	return ens
}

// TestCompiledEqualsLeaves compares the compiled form with leaves on random
// and real feature vectors, bit for bit, raw scores and probabilities.
func TestCompiledEqualsLeaves(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	real := realVectors(t)
	pool := real
	if pool == nil {
		pool = syntheticVectors(rng, 2000)
	}
	for _, s := range []forestSpec{
		{trees: 60, leaves: 31, classes: 1, objective: "binary sigmoid:1"},
		{trees: 40, leaves: 31, classes: 1, objective: "binary sigmoid:1", special: true},
		{trees: 25, leaves: 15, classes: 3, objective: "multiclass num_class:3", special: true},
		{trees: 25, leaves: 15, classes: 2, objective: "multiclass num_class:2"},
		{trees: 50, leaves: 20, classes: 1, objective: "regression", average: true, special: true},
		{trees: 5, leaves: 1, classes: 1, objective: "binary sigmoid:1"},
	} {
		name := s.objective
		if s.special {
			name += " with missing types and categories"
		}
		t.Run(name, func(t *testing.T) {
			forest := randomForest(rng, s, pool)
			path := writeForest(t, forest, "model.txt")
			raw, transformed := loadLeaves(t, path, false), loadLeaves(t, path, true)
			data, _ := os.ReadFile(path)
			// More than two classes is no DoH classifier, so Load refuses
			// it; the compiled form must still agree with leaves.
			e, _, err := loadEnsemble(data)
			if err != nil {
				t.Fatal(err)
			}
			m := &Model{Members: []*Ensemble{e}}
			if s.classes <= 2 {
				if m, err = Load(path, features.SetALF); err != nil {
					t.Fatal(err)
				}
				e = m.Members[0]
			}
			if e.NTrees() != len(forest.Trees) || e.special != s.special {
				t.Fatalf("%d trees (special %v), want %d", e.NTrees(), e.special, len(forest.Trees))
			}
			vectors := append(trickyVectors(rng, 100000, forest, pool), real...)
			want := make([]float64, s.classes)
			var got [MaxGroups]float64
			for i := range vectors {
				x := vectors[i][:]
				if err := raw.Predict(x, 0, want); err != nil {
					t.Fatal(err)
				}
				e.Raw(x, &got)
				for k := range s.classes {
					if math.Float64bits(got[k]) != math.Float64bits(want[k]) {
						t.Fatalf("vector %d %v: raw[%d] %v, leaves %v", i, x, k, got[k], want[k])
					}
				}
				if err := transformed.Predict(x, 0, want); err != nil {
					t.Fatal(err)
				}
				p := e.Proba(x)
				wantP := want[0]
				if s.classes > 1 {
					wantP = want[1]
				}
				if math.Float64bits(p) != math.Float64bits(wantP) {
					t.Fatalf("vector %d: P(DoH) %v, leaves %v", i, p, wantP)
				}
			}
			// Batches give what single flows give.
			batch := vectors[:1000]
			scores := make([]Scores, len(batch))
			m.ScoreBatch(batch, scores)
			var one Scores
			for i := range batch {
				m.Score(&batch[i], &one)
				if math.Float64bits(one.Proba) != math.Float64bits(scores[i].Proba) {
					t.Fatalf("vector %d: batch %v, single %v", i, scores[i].Proba, one.Proba)
				}
			}
		})
	}
}

func TestScoresForStrategies(t *testing.T) {
	var s Scores
	s.fill(0.8)
	if math.Abs(s.Uncertainty-0.2) > 1e-15 || math.Abs(s.Margin-0.4) > 1e-15 ||
		math.Abs(s.Entropy()-(-0.8*math.Log(0.8)-0.2*math.Log(0.2))) > 1e-15 || !s.DoH() {
		t.Errorf("scores of 0.8: %+v", s)
	}
	s.fill(1)
	if s.Uncertainty != 0 || s.Margin != 0 || s.Entropy() != 0 {
		t.Errorf("scores of 1: %+v", s)
	}
	s.fill(0.5)
	if s.Uncertainty != 0.5 || s.Margin != 1 || math.Abs(s.Entropy()-math.Ln2) > 1e-15 || s.DoH() {
		t.Errorf("scores of 0.5: %+v", s)
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	pool := syntheticVectors(rng, 100)
	m, err := Load(writeForest(t, randomForest(rng, forestSpec{trees: 20, leaves: 16, classes: 1, objective: "binary sigmoid:1", special: true}, pool), "m.txt"), features.SetALF)
	if err != nil {
		t.Fatal(err)
	}
	var s Scores
	if n := testing.AllocsPerRun(100, func() { m.Score(&pool[0], &s) }); n != 0 {
		t.Errorf("Score allocates %v times", n)
	}
	out := make([]Scores, len(pool))
	if n := testing.AllocsPerRun(20, func() { m.ScoreBatch(pool, out) }); n != 0 {
		t.Errorf("ScoreBatch allocates %v times", n)
	}
}

func TestLightGBMVersion4(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	pool := syntheticVectors(rng, 100)
	forest := randomForest(rng, forestSpec{trees: 3, leaves: 4, classes: 1, objective: "binary sigmoid:1"}, pool)
	path := writeForest(t, forest, "v4.txt")
	data, _ := os.ReadFile(path)
	v4 := strings.Replace(string(data), "version=v3", "version=v4", 1)
	os.WriteFile(path, []byte(v4), 0o644)
	m, err := Load(path, features.SetALF)
	if err != nil {
		t.Fatalf("a LightGBM 4 file: %v", err)
	}
	v3, _ := Load(writeForest(t, forest, "v3.txt"), features.SetALF)
	if m.Members[0].Proba(pool[0][:]) != v3.Members[0].Proba(pool[0][:]) {
		t.Error("v4 and v3 files predict differently")
	}
	os.WriteFile(path, []byte(strings.Replace(v4, "is_linear=0", "is_linear=1", 1)), 0o644)
	if _, err := Load(path, features.SetALF); err == nil || !strings.Contains(err.Error(), "linear trees") {
		t.Errorf("a linear-tree model: %v", err)
	}
}
