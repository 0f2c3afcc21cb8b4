package learner

import (
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/learner/train"
	"github.com/alfd/alfd/synth"
)

// BenchmarkFastPathWhileTraining scores flows in batches, as the fast path
// does, first alone and then while the learner trains ALF's single model
// again and again on its low-priority thread. It reports both rates and
// their ratio (the goal: at least 0.95).
func BenchmarkFastPathWhileTraining(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs two cores: one for the fast path, one for the learner")
	}
	cfg := synth.DefaultConfig()
	cfg.Flows = 5000
	d := synth.Dataset(cfg, features.SetALF)
	x, y := d.X, d.Y
	single, err := train.Single(context.Background(), x, y, 1)
	if err != nil {
		b.Fatal(err)
	}
	path, err := WriteModel(b.TempDir(), 1, infer.KindSingle, features.SetALF, []*infer.Forest{single}, len(x))
	if err != nil {
		b.Fatal(err)
	}
	m, err := infer.Load(path, features.SetALF)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]infer.Scores, 64)
	score := func(d time.Duration) (flows int) {
		for start := time.Now(); time.Since(start) < d; {
			for i := 0; i+64 <= len(x); i += 64 {
				m.ScoreBatch(x[i:i+64], out)
				flows += 64
			}
		}
		return flows
	}
	// ALFD_BENCH_SPIN=1 runs a busy loop instead of the trainer: it tells
	// what the machine's sharing of cores costs from what training costs.
	spin := os.Getenv("ALFD_BENCH_SPIN") != ""
	var sink int
	for b.Loop() {
		// The trainer runs in windows that alternate with quiet ones, so
		// that both rates see the same machine (a VM's neighbours come and
		// go).
		var active atomic.Bool
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			lowerPriority(nil)
			defer runtime.UnlockOSThread()
			for ctx.Err() == nil {
				switch {
				case !active.Load():
					time.Sleep(time.Millisecond)
				case spin:
					for i := range 1_000_000 {
						sink += i
					}
				default:
					train.Single(ctx, x, y, 2)
				}
			}
		})
		var quiet, busy int
		window := 250 * time.Millisecond
		for range 8 {
			quiet += score(window)
			active.Store(true)
			time.Sleep(20 * time.Millisecond) // let training start
			busy += score(window)
			active.Store(false)
		}
		cancel()
		wg.Wait()
		total := 8 * window.Seconds()
		b.ReportMetric(float64(quiet)/total/1e6, "Mflows/s-alone")
		b.ReportMetric(float64(busy)/total/1e6, "Mflows/s-training")
		b.ReportMetric(float64(busy)/float64(quiet), "ratio")
	}
	_ = sink
}
