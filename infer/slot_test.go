package infer

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alfd/alfd/features"
)

// constModel is a two-member model whose every prediction is p.
func constModel(version uint32, p float64) *Model {
	e := &Ensemble{leaves: []float64{p}, roots: []int32{^0}, nGroups: 1, nFeatures: features.N}
	return &Model{Version: version, Kind: KindCommittee, Members: []*Ensemble{e, e}}
}

// TestSwapWhileClassifying swaps the model 1000 times while two goroutines
// classify batches without pause. Every batch must come from one whole
// model: all its flows scored by the same version, both members agreeing.
func TestSwapWhileClassifying(t *testing.T) {
	const swaps = 1000
	models := make([]*Model, swaps+1)
	for i := range models {
		models[i] = constModel(uint32(i), float64(i)/float64(2*swaps))
	}
	var slot Slot
	slot.Store(models[0])
	var stop atomic.Bool
	var batches atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			xs := make([]features.Vector, 16)
			out := make([]Scores, len(xs))
			for !stop.Load() {
				m := slot.Load()
				m.ScoreBatch(xs, out)
				want := float64(m.Version) / float64(2*swaps)
				for i := range out {
					if out[i].Proba != want || out[i].Members[0] != out[i].Members[1] || out[i].NMembers != 2 {
						t.Errorf("flow %d of a batch of model %d: %+v", i, m.Version, out[i])
						return
					}
				}
				batches.Add(1)
			}
		})
	}
	seen := int64(0)
	for i := 1; i <= swaps; i++ {
		old := slot.Store(models[i])
		if old != models[i-1] {
			t.Fatalf("swap %d replaced model %d", i, old.Version)
		}
		// Let the classifiers run between swaps.
		for batches.Load() == seen {
		}
		seen = batches.Load()
	}
	stop.Store(true)
	wg.Wait()
	if batches.Load() < swaps {
		t.Errorf("only %d batches classified during %d swaps", batches.Load(), swaps)
	}
}
