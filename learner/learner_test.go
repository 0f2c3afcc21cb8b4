package learner

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/learner/query"
	"github.com/alfd/alfd/synth"
)

// synthSetup writes a synthetic D_0 and returns it with the resolvers'
// blacklist and a stream of flows to learn from.
func synthSetup(t *testing.T) (d0 string, oracle *annotate.Blacklist, stream []Candidate) {
	t.Helper()
	cfg := synth.DefaultConfig()
	cfg.Flows, cfg.DriftAt = 600, 1
	d0 = filepath.Join(t.TempDir(), "d0.csv")
	if err := synth.Dataset(cfg, features.SetALF).WriteFile(d0); err != nil {
		t.Fatal(err)
	}
	oracle = synth.Blacklist()
	cfg.Seed, cfg.Flows, cfg.DriftAt = 2, 3000, 0
	g := synth.New(cfg)
	ex := features.NewExtractor(features.SetALF)
	var f synth.Flow
	var ff features.Flow
	for g.Next(&f) {
		var c Candidate
		f.FeatureFlow(&ff)
		if ex.Compute(&ff, &c.X) != features.Kept {
			continue
		}
		c.Flow = annotate.Flow{Src: f.Src, Dst: f.Dst, SrcPort: f.SrcPort, DstPort: f.DstPort, SNI: f.SNI}
		stream = append(stream, c)
	}
	return d0, oracle, stream
}

// newLearner is a learner of experiment t in dir; options change its
// configuration.
func newLearner(t *testing.T, dir, d0 string, oracle annotate.Oracle, queue int, options ...func(*Config)) (*Learner, *infer.Slot) {
	t.Helper()
	var slot infer.Slot
	cfg := Config{ID: "t", WorkDir: dir, Model: "single", FeatureSet: features.SetALF,
		Strategy: "uncertainty_unranked", Params: query.Params{NMax: 50}, MaxDBSize: 2000,
		D0: d0, Oracle: oracle, QueueSize: queue, Seed: 3}
	for _, o := range options {
		o(&cfg)
	}
	l, err := New(context.Background(), cfg, &slot)
	if err != nil {
		t.Fatal(err)
	}
	return l, &slot
}

// runLearner runs l's goroutine until stop, which returns Run's error.
func runLearner(l *Learner) (ctx context.Context, stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	return ctx, func() error {
		cancel()
		return <-done
	}
}

// TestRunBesideTheFastPath runs the learner's goroutine while two fast-path
// goroutines classify and offer flows and end generations; the queue is
// small, so some flows are dropped, counted, and nothing waits.
func TestRunBesideTheFastPath(t *testing.T) {
	d0, oracle, stream := synthSetup(t)
	dir := t.TempDir()
	l, slot := newLearner(t, dir, d0, oracle, 64)
	_, stop := runLearner(l)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			gate := l.NewGate(uint64(w))
			for i := w; i < len(stream); i += 2 {
				c := stream[i]
				m := slot.Load()
				m.Score(&c.X, &c.S)
				if gate.Consider(&c) {
					l.Offer(&c)
				}
				if i%500 < 2 {
					l.EndGeneration(GenerationStats{Flows: 500})
				}
			}
		})
	}
	wg.Wait()
	l.EndGeneration(GenerationStats{Flows: 1})
	for deadline := time.Now().Add(60 * time.Second); l.LastReport() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no generation ran")
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	r := l.LastReport()
	if r.Generation < 1 || r.DBSize == 0 {
		t.Errorf("report %+v", r)
	}
	// The probabilities on D_i's held-out rows rank DoH first, as the
	// synthetic classes are apart.
	if test := r.Metrics["test_testset"]; test.ROCAUC == nil || *test.ROCAUC < 0.95 || *test.AP < 0.9 || *test.ROCAUC > 1 || *test.AP > 1 {
		t.Errorf("test_testset ranking: %+v", test)
	}
	if l.Dropped() == 0 {
		t.Error("a queue of 64 took every flow: the test does not test dropping")
	}
	for _, f := range []string{"db.t.csv", "state.t.json", "metrics.t.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestRestartContinues runs two generations, then starts a new learner on
// the same working directory: it goes on from D_i, the model and the
// generation count.
func TestRestartContinues(t *testing.T) {
	d0, oracle, stream := synthSetup(t)
	dir := t.TempDir()
	l, slot := newLearner(t, dir, d0, oracle, 0)
	gate := l.NewGate(1)
	for g := range 2 {
		m := slot.Load()
		for i := g * 1000; i < (g+1)*1000; i++ {
			c := stream[i]
			m.Score(&c.X, &c.S)
			if gate.Consider(&c) {
				l.Add(&c)
			}
		}
		if _, err := l.Generation(context.Background(), GenerationStats{Flows: 1000}); err != nil {
			t.Fatal(err)
		}
	}
	rows, version := l.DB().Len(), l.Version()
	// A kill in the middle of writing D_i, the state and a model leaves
	// their temporary files (.NAME.tmpDIGITS), which a restart removes.
	leftovers := []string{filepath.Join(dir, ".db.t.csv.tmp1"), filepath.Join(dir, ".state.t.json.tmp2"),
		filepath.Join(dir, "models", "t", ".model-000009.0.txt.tmp3")}
	for _, path := range leftovers {
		if err := os.WriteFile(path, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	again, slot2 := newLearner(t, dir, d0, oracle, 0)
	for _, path := range leftovers {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after a restart: %v", path, err)
		}
	}
	if again.DB().Len() != rows || again.Version() != version || slot2.Load().Version != version {
		t.Errorf("after restart: %d rows, model v%d (v%d); before %d rows, v%d", again.DB().Len(), again.Version(), slot2.Load().Version, rows, version)
	}
	if r := again.LastReport(); r == nil || r.Generation != 2 {
		t.Errorf("after restart the last report is %+v, want generation 2's", r)
	}
	r, err := again.Generation(context.Background(), GenerationStats{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Generation != 3 {
		t.Errorf("generation %d after restart, want 3", r.Generation)
	}
	metrics, _ := os.ReadFile(filepath.Join(dir, "metrics.t.jsonl"))
	if n := strings.Count(string(metrics), "\n"); n != 3 {
		t.Errorf("%d reports in the metrics file, want 3", n)
	}
}

func TestConfigErrors(t *testing.T) {
	d0, oracle, _ := synthSetup(t)
	var slot infer.Slot
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Model: "deep", Strategy: "random"}, `unknown model "deep"`},
		{Config{Model: "single", Strategy: "psychic"}, `unknown query strategy "psychic"`},
		{Config{Model: "single", Strategy: "ral"}, "ral needs --model committee"},
		{Config{Model: "single", Strategy: "kldiv"}, "kldiv needs --model committee"},
		{Config{Model: "single", Strategy: "random", Postprocessor: "magic"}, `unknown postprocessor "magic"`},
		{Config{Model: "single", Strategy: "random", D0: filepath.Join(t.TempDir(), "none.csv")}, "no such file"},
		{Config{Model: "single", Strategy: "random", ID: "../x"}, `experiment id "../x": want a name`},
		{Config{Model: "single", Strategy: "random", ID: ".."}, `experiment id "..": want a name`},
		{Config{Model: "single", Strategy: "random", KeepModels: -1}, "keep -1 models"},
	} {
		tc.cfg.WorkDir, tc.cfg.Oracle, tc.cfg.FeatureSet = t.TempDir(), oracle, features.SetALF
		if tc.cfg.D0 == "" {
			tc.cfg.D0 = d0
		}
		if _, err := New(context.Background(), tc.cfg, &slot); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestGateAndPoolKeepTheBest offers flows of known uncertainty in a random
// order: the pool ends with exactly the most uncertain, and once it is
// full the gate turns away the flows that would not get in.
func TestGateAndPoolKeepTheBest(t *testing.T) {
	l := newPoolLearner(t, "single", "uncertainty_unranked")
	gate := l.NewGate(1)
	offered := 0
	for _, i := range rand.New(rand.NewPCG(7, 7)).Perm(1000) {
		c := Candidate{}
		c.S.Uncertainty = float64(i+1) / 2000
		if gate.Consider(&c) {
			l.Add(&c)
			offered++
		}
	}
	var got []float64
	for _, c := range l.pool {
		got = append(got, c.S.Uncertainty)
	}
	slices.Sort(got)
	for k, u := range got {
		if want := float64(991+k) / 2000; u != want {
			t.Fatalf("pool %v, want the 10 most uncertain", got)
		}
	}
	// A random order lets about K·ln(N/K) of N through: 10·ln(100) ≈ 46.
	if offered > 100 {
		t.Errorf("the gate let %d of 1000 flows through to a pool of 10", offered)
	}
	above, below := Candidate{}, Candidate{}
	above.S.Uncertainty, below.S.Uncertainty = 0.4999, 0.49
	if !gate.Consider(&above) || gate.Consider(&below) {
		t.Error("the gate does not follow the pool's floor")
	}
}

// newPoolLearner is a learner of the model and strategy whose generations
// keep a pool of 10 candidates.
func newPoolLearner(t *testing.T, model, strategy string) *Learner {
	t.Helper()
	d0, oracle, _ := synthSetup(t)
	var slot infer.Slot
	l, err := New(context.Background(), Config{ID: "t", WorkDir: t.TempDir(), Model: model, FeatureSet: features.SetALF,
		Strategy: strategy, Params: query.Params{NMax: 5}, PoolSize: 10, MaxDBSize: 2000,
		D0: d0, Oracle: oracle, Seed: 3}, &slot)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRALPoolFull: RAL's pool keeps the first flows it asks for; those a
// full pool turns away are counted apart from the queue's drops.
func TestRALPoolFull(t *testing.T) {
	l := newPoolLearner(t, "committee", "ral")
	for i := range 25 {
		c := Candidate{}
		c.S.Uncertainty = float64(i)
		l.Add(&c)
	}
	if len(l.pool) != 10 || l.pool[0].S.Uncertainty != 0 || l.RALPoolFull() != 15 || l.Dropped() != 0 {
		t.Errorf("pool of %d (first %v), %d turned away, %d queue drops; want 10 (first 0), 15, 0",
			len(l.pool), l.pool[0].S.Uncertainty, l.RALPoolFull(), l.Dropped())
	}
}

// TestRunGenerationWaits: an offline input's generations run one by one,
// each with the flows offered before it ended, none merged.
func TestRunGenerationWaits(t *testing.T) {
	d0, oracle, stream := synthSetup(t)
	l, slot := newLearner(t, t.TempDir(), d0, oracle, 0)
	ctx, stop := runLearner(l)
	gate := l.NewGate(1)
	for g := range 3 {
		m := slot.Load()
		for i := g * 500; i < (g+1)*500; i++ {
			c := stream[i]
			m.Score(&c.X, &c.S)
			if gate.Consider(&c) {
				l.Offer(&c)
			}
		}
		if err := l.RunGeneration(ctx, GenerationStats{Flows: 500}); err != nil {
			t.Fatal(err)
		}
		r := l.LastReport()
		if r == nil || r.Generation != g+1 || r.Flows != 500 || r.Candidates == 0 {
			t.Fatalf("after generation %d: report %+v", g+1, r)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestGenerationFails: a generation that cannot write D_i is counted and
// said; the learner goes on with the model in use, and the next
// generation, once D_i can be written again, succeeds.
func TestGenerationFails(t *testing.T) {
	d0, oracle, _ := synthSetup(t)
	dir := t.TempDir()
	l, slot := newLearner(t, dir, d0, oracle, 0)
	ctx, stop := runLearner(l)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	// A directory where D_i goes: as root, permissions would not stop it.
	db := filepath.Join(dir, "db.t.csv")
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(db, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	version := slot.Load().Version
	if err := l.RunGeneration(ctx, GenerationStats{}); err == nil || l.Failed() != 1 || slot.Load().Version != version {
		t.Fatalf("generation without a place for D_i: %v, %d failed, model v%d (v%d before)", err, l.Failed(), slot.Load().Version, version)
	}
	if err := os.RemoveAll(db); err != nil {
		t.Fatal(err)
	}
	if err := l.RunGeneration(ctx, GenerationStats{}); err != nil || l.Failed() != 1 {
		t.Errorf("the next generation: %v, %d failed", err, l.Failed())
	}
}
