package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dmitryikh/leaves"

	"github.com/alfd/alfd/features"
)

// BenchmarkPredict compares leaves' own prediction with the compiled form,
// on one core, for two model sizes. One op is one flow.
func BenchmarkPredict(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 9))
	pool := realVectors(b)
	if pool == nil {
		pool = syntheticVectors(rng, 4096)
	}
	for _, size := range []struct{ trees, leaves int }{{25, 16}, {100, 32}, {500, 64}, {1000, 128}} {
		forest := randomForest(rng, forestSpec{trees: size.trees, leaves: size.leaves, classes: 1, objective: "binary sigmoid:1"}, pool)
		path := writeForest(b, forest, "bench.txt")
		raw, err := leaves.LGEnsembleFromFile(path, false)
		if err != nil {
			b.Fatal(err)
		}
		m, err := Load(path, features.SetALF)
		if err != nil {
			b.Fatal(err)
		}
		e := m.Members[0]
		name := fmt.Sprintf("%dx%d", size.trees, size.leaves)
		var sink float64
		b.Run(name+"/leaves", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink += raw.PredictSingle(pool[i%len(pool)][:], 0)
				i++
			}
		})
		b.Run(name+"/compiled", func(b *testing.B) {
			b.ReportAllocs()
			var s Scores
			i := 0
			for b.Loop() {
				m.Score(&pool[i%len(pool)], &s)
				sink += s.Proba
				i++
			}
		})
		b.Run(name+"/compiled-batch", func(b *testing.B) {
			b.ReportAllocs()
			out := make([]Scores, batchRows)
			i := 0
			for b.Loop() {
				// One op is one flow: a batch every batchRows ops.
				if i%batchRows == 0 {
					start := (i / batchRows * batchRows) % (len(pool) - batchRows)
					m.ScoreBatch(pool[start:start+batchRows], out)
				}
				sink += out[i%batchRows].Proba
				i++
			}
		})
		_ = e
	}
}
