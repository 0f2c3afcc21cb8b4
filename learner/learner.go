// Package learner runs the active learning loop beside the fast path. The
// fast path scores every flow and offers the learner only the flows its
// query strategy may want, through a bounded queue that never makes it
// wait; at each generation's end the learner picks the flows to ask about,
// has its oracle label them, grows the training set D_i, trains a new
// model, evaluates it, and swaps it in when it is not worse. Its working
// directory keeps D_i, the models and the metrics, written crash-safely, so
// that a restart goes on where it stopped.
//
// Its parts are packages of their own: annotate (oracles), dataset (D_i),
// query (strategies), train (the trainer) and evaluate (metrics).
package learner

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/internal/atomicfile"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/learner/dataset"
	"github.com/alfd/alfd/learner/evaluate"
	"github.com/alfd/alfd/learner/query"
	"github.com/alfd/alfd/learner/train"
)

// Config sets up a learner, with ALF's names where ALF has them.
type Config struct {
	// ID names the experiment (default alfd): its D_i (db.ID.csv), state,
	// metrics and models, apart from other experiments' in WorkDir.
	ID      string
	WorkDir string
	// Model is single, committee or gbdt.
	Model      string
	FeatureSet features.Set
	// Strategy is a query strategy name (query.Names); Params its options.
	Strategy string
	Params   query.Params
	// Postprocessor is undersample (ALF's) or identity.
	Postprocessor string
	MaxDBSize     int
	// D0 is the CSV D_i starts from when the working directory has none.
	D0     string
	Oracle annotate.Oracle
	// QueueSize bounds the queue from the fast path (default 65536).
	QueueSize int
	// PoolSize bounds the candidates a generation keeps (default 10 times
	// query_nmax, at least 1000): the best by the strategy's own score, or
	// under RAL, which asks as its budget lets it, the first it asks for.
	PoolSize int
	// SwapMargin: a new model replaces the running one unless its macro F1
	// on the held-out split is lower by more than this.
	SwapMargin float64
	// KeepModels is how many of its newest models the experiment keeps in
	// the working directory, the one in use among them; 0 keeps them all.
	// A model a generation, each some megabytes once D_i is large, fills a
	// disk in days.
	KeepModels int
	// CPUs, when set, are where the learner's thread may run (those the
	// meters are not pinned to).
	CPUs []int
	Seed uint64
	Log  *slog.Logger
}

// minCompareRows is the fewest held-out rows unseen by the running model
// that the swap decision trusts.
const minCompareRows = 50

// Candidate is a flow offered to the learner.
type Candidate struct {
	query.Candidate
	Flow annotate.Flow
	// Key is what the generation's pool keeps the best of: the strategy's
	// own score, or a random key for random, which makes the pool a
	// uniform sample. A Gate sets it.
	Key float64
	// RAL is RAL's decision for the flow, when the strategy is RAL.
	RAL query.Decision
}

// GenerationStats is what the fast path saw during a generation.
type GenerationStats struct {
	Flows uint64
	// All counts every flow's prediction against the oracle's label, when
	// the fast path labels them all (ALF's dry run): test_all_predicted;
	// Ranks, the same flows by their probabilities, for its ranking
	// measures.
	All   evaluate.Confusion
	Ranks *evaluate.Histogram
}

// Report is one generation's record, appended to metrics.ID.jsonl.
type Report struct {
	Generation   int                         `json:"generation"`
	Time         time.Time                   `json:"time"`
	Flows        uint64                      `json:"flows"`
	Candidates   int                         `json:"candidates"`
	Asked        int                         `json:"asked"`
	Unknown      int                         `json:"unknown_labels"`
	NewInDB      int                         `json:"new_in_db"`
	DBSize       int                         `json:"db_size"`
	QueueDrops   uint64                      `json:"queue_drops"`
	RALPoolFull  uint64                      `json:"ral_pool_full,omitempty"`
	ModelVersion uint32                      `json:"model_version"`
	Swapped      bool                        `json:"swapped"`
	Metrics      map[string]evaluate.Metrics `json:"metrics"`
	// CurrentTest is the running model on the held-out rows it has not
	// trained on (CompareRows of them), which decide the swap.
	CurrentTest  evaluate.Metrics `json:"running_model_unseen"`
	CompareRows  int              `json:"compare_rows"`
	TrainSeconds float64          `json:"train_t"`
	QuerySeconds float64          `json:"query_t"`
	EvalSeconds  float64          `json:"evaluation_t"`
}

// Learner is the active learning loop. Offer and EndGeneration are for the
// fast path and never block; Run is the learner's own goroutine.
type Learner struct {
	cfg      Config
	log      *slog.Logger
	slot     *infer.Slot
	strategy *query.Strategy // nil for RAL
	ral      *query.RAL
	rng      *rand.Rand

	queue   chan Candidate
	genEnd  chan generationEnd
	dropped atomic.Uint64
	// ralPoolFull counts the flows RAL chose to ask that a full pool
	// turned away (its budget counted them all the same).
	ralPoolFull atomic.Uint64
	asked       atomic.Uint64
	unknown     atomic.Uint64 // of asked, those the oracle could not label
	failed      atomic.Uint64 // generations that ended in an error
	// floor is the weakest key in a full pool (float64 bits), so that
	// gates offer only flows that would get in; -Inf while it has room.
	floor atomic.Uint64

	// Owned by the learner's goroutine.
	db         *dataset.Dataset
	trained    map[uint64]bool // the rows of D_i the running model trained on
	pool       []Candidate     // a min-heap by Key, except under RAL
	state      state
	lastReport atomic.Pointer[Report]
}

// state is what survives a restart besides D_i and the models.
type state struct {
	Generation int    `json:"generation"`
	Version    uint32 `json:"model_version"`
	// Model is the metadata file of the model in use, relative to the
	// working directory, so that the directory may move or be named from
	// elsewhere. An absolute path (as alfd wrote it before, for an
	// absolute --workdir) is taken as it is.
	Model string `json:"model"`
}

// New prepares a learner: it reads D_i from the working directory, or D_0
// when there is none; loads the newest accepted model, or trains the first
// from D_i (unless ctx ends first); and puts the model in slot.
func New(ctx context.Context, cfg Config, slot *infer.Slot) (*Learner, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.ID = cmp.Or(cfg.ID, "alfd")
	cfg.QueueSize = cmp.Or(cfg.QueueSize, 1<<16)
	cfg.PoolSize = cmp.Or(cfg.PoolSize, max(10*cfg.Params.NMax, 1000))
	cfg.Postprocessor = cmp.Or(cfg.Postprocessor, "undersample")
	switch cfg.Postprocessor {
	case "undersample", "identity":
	default:
		return nil, fmt.Errorf("unknown postprocessor %q (want undersample or identity)", cfg.Postprocessor)
	}
	switch cfg.Model {
	case "single", "committee", "gbdt":
	default:
		return nil, fmt.Errorf("unknown model %q (want single, committee or gbdt)", cfg.Model)
	}
	if cfg.Oracle == nil {
		return nil, errors.New("no oracle: give a blacklist or another annotator")
	}
	if cfg.ID == "." || cfg.ID == ".." || strings.ContainsAny(cfg.ID, `/\`) {
		return nil, fmt.Errorf("experiment id %q: want a name for files, without a path separator", cfg.ID)
	}
	if cfg.KeepModels < 0 {
		return nil, fmt.Errorf("keep %d models: want 0 (all) or more", cfg.KeepModels)
	}
	l := &Learner{
		cfg:    cfg,
		log:    cfg.Log.With("component", "learner"),
		slot:   slot,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x1ea4)),
		queue:  make(chan Candidate, cfg.QueueSize),
		genEnd: make(chan generationEnd, 1),
	}
	l.setFloor(math.Inf(-1))
	if cfg.Strategy == "ral" {
		if cfg.Model != "committee" {
			return nil, errors.New("query strategy ral needs --model committee")
		}
		l.ral = query.NewRAL(3, cfg.Params)
	} else {
		s, err := query.New(cfg.Strategy, cfg.Params)
		if err != nil {
			return nil, err
		}
		if s.NeedsCommittee() && cfg.Model != "committee" {
			return nil, fmt.Errorf("query strategy %s needs --model committee", cfg.Strategy)
		}
		l.strategy = s
	}
	if err := os.MkdirAll(l.modelsDir(), 0o755); err != nil {
		return nil, err
	}
	l.removeLeftovers()
	if err := l.restore(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Learner) dbPath() string { return filepath.Join(l.cfg.WorkDir, "db."+l.cfg.ID+".csv") }
func (l *Learner) statePath() string {
	return filepath.Join(l.cfg.WorkDir, "state."+l.cfg.ID+".json")
}
func (l *Learner) metricsPath() string {
	return filepath.Join(l.cfg.WorkDir, "metrics."+l.cfg.ID+".jsonl")
}
func (l *Learner) queriesPath() string {
	return filepath.Join(l.cfg.WorkDir, "queries."+l.cfg.ID+".csv")
}

// modelsDir is where the experiment's models are, apart from those of the
// other experiments in the working directory: each counts its versions
// from 1.
func (l *Learner) modelsDir() string { return filepath.Join(l.cfg.WorkDir, "models", l.cfg.ID) }

// removeLeftovers removes the temporary files of the experiment's writes
// that a killed alfd left half done.
func (l *Learner) removeLeftovers() {
	ours := func(name string) bool {
		return name == filepath.Base(l.dbPath()) || name == filepath.Base(l.statePath())
	}
	err := errors.Join(atomicfile.RemoveLeftovers(l.cfg.WorkDir, ours),
		atomicfile.RemoveLeftovers(l.modelsDir(), func(string) bool { return true }))
	if err != nil {
		l.log.Warn("files of an interrupted write stay in the working directory", "err", err)
	}
}

// restore reads D_i and the state, and loads or trains the model.
func (l *Learner) restore(ctx context.Context) error {
	db, err := dataset.ReadFile(l.dbPath())
	switch {
	case err == nil:
		l.log.Info("continuing from the working directory", "db", l.dbPath(), "rows", db.Len())
	case errors.Is(err, os.ErrNotExist):
		if l.cfg.D0 == "" {
			return errors.New("no D_i in the working directory and no D_0 (--dpath) to start from")
		}
		if db, err = dataset.ReadFile(l.cfg.D0); err != nil {
			return err
		}
		if err := db.WriteFile(l.dbPath()); err != nil {
			return err
		}
		l.log.Info("D_0 copied into the working directory", "from", l.cfg.D0, "rows", db.Len())
	default:
		return err
	}
	if db.Len() == 0 {
		return errors.New("the training set is empty")
	}
	l.db = db
	if data, err := os.ReadFile(l.statePath()); err == nil {
		if err := json.Unmarshal(data, &l.state); err != nil {
			return fmt.Errorf("%s: %w", l.statePath(), err)
		}
	}
	l.restoreReport()
	if path := l.state.Model; path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join(l.cfg.WorkDir, path)
		}
		m, err := infer.Load(path, l.cfg.FeatureSet)
		if err == nil {
			l.slot.Store(m)
			l.log.Info("model loaded", "version", m.Version, "path", m.Path)
			return nil
		}
		l.log.Warn("the saved model does not load; training a new one", "err", err)
	}
	train, test := l.split()
	m, _, err := l.trainModel(ctx, train, test, l.state.Version+1)
	if err != nil {
		return err
	}
	l.trained = train.IDs()
	return l.use(m)
}

// Offer hands a candidate to the learner without waiting: when the queue
// is full the flow is dropped and counted.
func (l *Learner) Offer(c *Candidate) bool {
	select {
	case l.queue <- *c:
		return true
	default:
		l.dropped.Add(1)
		return false
	}
}

// Dropped is the number of flows the full queue turned away.
func (l *Learner) Dropped() uint64 { return l.dropped.Load() }

// RALPoolFull is the number of flows RAL chose to ask that the
// generation's full pool turned away.
func (l *Learner) RALPoolFull() uint64 { return l.ralPoolFull.Load() }

// Failed counts the generations that ended in an error (a full disk, say):
// their flows were asked about, but D_i, the model or the metrics may not
// have been written.
func (l *Learner) Failed() uint64 { return l.failed.Load() }

// Asked is the number of flows the oracle was asked about since New.
func (l *Learner) Asked() uint64 { return l.asked.Load() }

// Unknown is the number of those the oracle could not label.
func (l *Learner) Unknown() uint64 { return l.unknown.Load() }

// generationEnd asks for a generation; done, if any, hear when it ran.
type generationEnd struct {
	s    GenerationStats
	done []chan error
}

// EndGeneration tells the learner that a generation ended. It never waits:
// while the learner is still busy with the last one, the two are merged.
func (l *Learner) EndGeneration(s GenerationStats) { l.endGeneration(generationEnd{s: s}) }

// RunGeneration ends a generation and waits until the learner's goroutine
// has run it, as ALF runs one generation per file: for offline inputs,
// whose generations should not merge. It returns the generation's error,
// or ctx's.
func (l *Learner) RunGeneration(ctx context.Context, s GenerationStats) error {
	done := make(chan error, 1)
	l.endGeneration(generationEnd{s: s, done: []chan error{done}})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Learner) endGeneration(g generationEnd) {
	for {
		select {
		case l.genEnd <- g:
			return
		default:
		}
		select {
		case prev := <-l.genEnd:
			g.s.Flows += prev.s.Flows
			g.s.All.Merge(prev.s.All)
			g.done = append(g.done, prev.done...)
		default:
		}
	}
}

// A Gate decides, for one fast-path goroutine, which flows to offer the
// learner: those its strategy could pick that would get into the pool now.
type Gate struct {
	l   *Learner
	ral *query.Decider
	rng *rand.Rand
}

// NewGate returns a gate for one goroutine, with its own seeded randomness.
func (l *Learner) NewGate(seed uint64) *Gate {
	g := &Gate{l: l, rng: rand.New(rand.NewPCG(seed, 0x9a7e))}
	if l.ral != nil {
		g.ral = l.ral.NewDecider(seed)
	}
	return g
}

// Consider reports whether to offer the flow with the scores c.S, and sets
// c.Key, or c.RAL under RAL. It does not allocate.
func (g *Gate) Consider(c *Candidate) bool {
	if g.ral != nil {
		c.RAL = g.ral.Decide(&c.S)
		return c.RAL.Ask
	}
	s := g.l.strategy
	if !s.Worth(&c.S) {
		return false
	}
	if s.Name() == "random" {
		c.Key = g.rng.Float64()
	} else {
		c.Key = s.Prescore(&c.S)
	}
	return c.Key > math.Float64frombits(g.l.floor.Load())
}

func (l *Learner) setFloor(f float64) { l.floor.Store(math.Float64bits(f)) }

// LastReport is the last generation's report, or nil.
func (l *Learner) LastReport() *Report { return l.lastReport.Load() }

// Run takes the queue and runs a generation at each end until ctx ends; it
// then saves D_i and returns. It runs on its own thread at the lowest
// priority, on Config.CPUs when given.
func (l *Learner) Run(ctx context.Context) error {
	if err := lowerPriority(l.cfg.CPUs); err != nil {
		l.log.Warn("the learner runs at normal priority", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return l.db.WriteFile(l.dbPath())
		case c := <-l.queue:
			l.add(&c)
		case g := <-l.genEnd:
			// The queue first: what was offered belongs to this generation.
			for drained := false; !drained; {
				select {
				case c := <-l.queue:
					l.add(&c)
				default:
					drained = true
				}
			}
			_, err := l.Generation(ctx, g.s)
			if err != nil && ctx.Err() == nil {
				// The model in use goes on; the next generation tries again.
				l.failed.Add(1)
				l.log.Error("generation failed", "err", err)
			}
			for _, done := range g.done {
				done <- err
			}
		}
	}
}

// add puts a candidate in the generation's pool, keeping the PoolSize best
// by key. RAL's pool keeps the first PoolSize it asked for.
func (l *Learner) add(c *Candidate) {
	switch {
	case len(l.pool) < l.cfg.PoolSize:
		l.pool = append(l.pool, *c)
		if l.strategy != nil {
			l.siftUp(len(l.pool) - 1)
			if len(l.pool) == l.cfg.PoolSize {
				l.setFloor(l.pool[0].Key)
			}
		}
	case l.strategy != nil && c.Key > l.pool[0].Key:
		l.pool[0] = *c
		l.siftDown(0)
		l.setFloor(l.pool[0].Key)
	case l.strategy == nil:
		l.ralPoolFull.Add(1)
	}
}

func (l *Learner) siftUp(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if l.pool[parent].Key <= l.pool[i].Key {
			return
		}
		l.pool[parent], l.pool[i] = l.pool[i], l.pool[parent]
		i = parent
	}
}

func (l *Learner) siftDown(i int) {
	for {
		least, left := i, 2*i+1
		if left < len(l.pool) && l.pool[left].Key < l.pool[least].Key {
			least = left
		}
		if right := left + 1; right < len(l.pool) && l.pool[right].Key < l.pool[least].Key {
			least = right
		}
		if least == i {
			return
		}
		l.pool[least], l.pool[i] = l.pool[i], l.pool[least]
		i = least
	}
}

// Add puts a candidate in the pool directly, for callers that run the
// learner in their own goroutine (tests, offline experiments).
func (l *Learner) Add(c *Candidate) { l.add(c) }

// Generation runs one pass of the loop over the pooled candidates. When
// ctx ends during training, the new rows stay in D_i (saved), the model in
// use stays, and the error says so.
func (l *Learner) Generation(ctx context.Context, s GenerationStats) (*Report, error) {
	start := time.Now()
	l.state.Generation++
	r := &Report{Generation: l.state.Generation, Time: start, Flows: s.Flows, Candidates: len(l.pool),
		QueueDrops: l.dropped.Load(), RALPoolFull: l.ralPoolFull.Load(), Metrics: map[string]evaluate.Metrics{}}
	running := l.slot.Load()

	// Query: pick, label, grow D_i.
	picked := l.pick()
	var asked evaluate.Confusion
	var askedProba []float64
	var askedTruth []bool
	queries := make([][]string, 0, len(picked))
	for _, i := range picked {
		c := &l.pool[i]
		doh, known := l.cfg.Oracle.Label(&c.Flow)
		queries = append(queries, queryRow(r.Generation, c, doh, known))
		if !known {
			r.Unknown++
			continue
		}
		if l.ral != nil {
			l.ral.Learn(c.RAL, &c.S, doh)
		}
		asked.Add(c.S.DoH(), doh)
		askedProba, askedTruth = append(askedProba, c.S.Proba), append(askedTruth, doh)
		l.db.Add(&c.X, doh)
		r.NewInDB++
	}
	r.Asked = len(picked)
	if err := l.appendQueries(queries); err != nil {
		return nil, err
	}
	l.asked.Add(uint64(r.Asked))
	l.unknown.Add(uint64(r.Unknown))
	l.pool = l.pool[:0]
	l.setFloor(math.Inf(-1))
	r.QuerySeconds = time.Since(start).Seconds()
	prevalence := l.prevalence()
	annotated := asked.Metrics(prevalence)
	annotated.Rank(askedProba, askedTruth)
	r.Metrics["test_only_anotated"] = annotated
	if s.All.N() > 0 {
		all := s.All.Metrics(prevalence)
		if s.Ranks != nil {
			all.RankHistogram(s.Ranks)
		}
		r.Metrics["test_all_predicted"] = all
	}

	// Postprocess, split, train, evaluate, and swap when not worse.
	if l.cfg.Postprocessor == "undersample" {
		l.db.Undersample(l.cfg.MaxDBSize, l.rng)
	}
	r.DBSize = l.db.Len()
	if err := l.db.WriteFile(l.dbPath()); err != nil {
		return nil, err
	}
	trainSet, test := l.split()
	t0 := time.Now()
	m, newTest, err := l.trainModel(ctx, trainSet, test, l.state.Version+1)
	if err != nil {
		return nil, err
	}
	r.TrainSeconds = time.Since(t0).Seconds()
	t0 = time.Now()
	r.Metrics["test_testset"] = newTest
	// Both models are compared on held-out rows neither trained on: the
	// running model trained on an earlier split of D_i, and the test
	// split would flatter it. Too few such rows, and the whole split does.
	fair := test.Without(l.trained)
	if fair.Len() < minCompareRows {
		fair = test
	}
	newFair := testMetrics(m, fair, prevalence)
	if running != nil {
		r.CurrentTest = testMetrics(running, fair, prevalence)
	}
	r.CompareRows = fair.Len()
	r.EvalSeconds = time.Since(t0).Seconds()
	if running == nil || newFair.F1 >= r.CurrentTest.F1-l.cfg.SwapMargin {
		l.trained = trainSet.IDs()
		r.Swapped = true
		if err := l.use(m); err != nil {
			return nil, err
		}
	} else {
		// Not kept: its files go, the running model stays.
		removeModel(m)
		if err := l.saveState(); err != nil {
			return nil, err
		}
	}
	r.ModelVersion = l.state.Version
	if err := l.appendReport(r); err != nil {
		return nil, err
	}
	l.lastReport.Store(r)
	args := []any{"n", r.Generation, "flows", r.Flows, "candidates", r.Candidates, "asked", r.Asked,
		"db", r.DBSize, "model", r.ModelVersion, "swapped", r.Swapped, "f1", fmt.Sprintf("%.4f", newTest.F1),
		"running_f1", fmt.Sprintf("%.4f", r.CurrentTest.F1), "train_s", fmt.Sprintf("%.2f", r.TrainSeconds)}
	if all, ok := r.Metrics["test_all_predicted"]; ok {
		// How the models in use did on the generation's flows, as labelled.
		args = append(args, "f1_all_predicted", fmt.Sprintf("%.4f", all.F1))
	}
	l.log.Info("generation", args...)
	return r, nil
}

// pick chooses the flows to ask about from the pool.
func (l *Learner) pick() []int {
	if l.strategy == nil {
		all := make([]int, len(l.pool))
		for i := range all {
			all[i] = i
		}
		return all
	}
	cands := make([]query.Candidate, len(l.pool))
	for i := range l.pool {
		cands[i] = l.pool[i].Candidate
	}
	return l.strategy.Select(cands, l.db)
}

func (l *Learner) prevalence() float64 {
	doh, _ := l.db.Counts()
	return float64(doh) / float64(max(l.db.Len(), 1))
}

// split divides D_i 70/30, afresh each generation, as ALF does.
func (l *Learner) split() (train, test *dataset.Dataset) {
	return l.db.Split(0.7, rand.New(rand.NewPCG(l.cfg.Seed, uint64(l.state.Generation))))
}

// trainModel trains a model of the configured kind, writes it to the
// working directory, loads it back as the fast path will run it, and
// evaluates it on test.
func (l *Learner) trainModel(ctx context.Context, trainSet, test *dataset.Dataset, version uint32) (*infer.Model, evaluate.Metrics, error) {
	forests, err := TrainModel(ctx, l.cfg.Model, trainSet, l.cfg.Seed+uint64(version)*7919)
	if err != nil {
		return nil, evaluate.Metrics{}, err
	}
	kind := infer.KindSingle
	if l.cfg.Model == "committee" {
		kind = infer.KindCommittee
	}
	path, err := WriteModel(l.modelsDir(), version, kind, l.cfg.FeatureSet, forests, trainSet.Len())
	if err != nil {
		return nil, evaluate.Metrics{}, err
	}
	m, err := infer.Load(path, l.cfg.FeatureSet)
	if err != nil {
		return nil, evaluate.Metrics{}, err
	}
	doh, _ := l.db.Counts()
	metrics := testMetrics(m, test, float64(doh)/float64(max(l.db.Len(), 1)))
	m.Meta.Metrics = map[string]float64{"accuracy": metrics.Accuracy, "f1": metrics.F1, "f1_doh": metrics.F1DoH, "mcc": metrics.MCC}
	if metrics.ROCAUC != nil {
		m.Meta.Metrics["roc_auc"] = *metrics.ROCAUC
	}
	if err := writeMeta(path, m.Meta); err != nil {
		return nil, evaluate.Metrics{}, err
	}
	return m, metrics, nil
}

// TrainModel trains the forests of a model kind: single (ALF's soft vote
// of three random forests, as one forest), committee (the three apart) or
// gbdt (gradient-boosted trees).
func TrainModel(ctx context.Context, kind string, d *dataset.Dataset, seed uint64) ([]*infer.Forest, error) {
	switch kind {
	case "single":
		f, err := train.Single(ctx, d.X, d.Y, seed)
		return []*infer.Forest{f}, err
	case "committee":
		return train.Committee(ctx, d.X, d.Y, seed)
	case "gbdt":
		f, err := train.GradientBoosting(ctx, d.X, d.Y, train.BoostConfig{})
		return []*infer.Forest{f}, err
	}
	return nil, fmt.Errorf("unknown model %q (want single, committee or gbdt)", kind)
}

// testMetrics evaluates a model on a labelled set.
func testMetrics(m *infer.Model, test *dataset.Dataset, prevalence float64) evaluate.Metrics {
	var c evaluate.Confusion
	scores := make([]infer.Scores, test.Len())
	m.ScoreBatch(test.X, scores)
	proba := make([]float64, len(scores))
	for i := range scores {
		c.Add(scores[i].DoH(), test.Y[i])
		proba[i] = scores[i].Proba
	}
	metrics := c.Metrics(prevalence)
	metrics.Rank(proba, test.Y)
	return metrics
}

// WriteModel writes forests as model number version in dir: see
// WriteModelFiles. It returns the metadata's path.
func WriteModel(dir string, version uint32, kind infer.Kind, set features.Set, forests []*infer.Forest, rows int) (string, error) {
	return WriteModelFiles(filepath.Join(dir, fmt.Sprintf("model-%06d", version)), version, kind, set, forests, rows)
}

// WriteModelFiles writes each forest as a LightGBM text file (BASE.K.txt),
// then the metadata naming them (BASE.json), each crash-safely, the
// metadata last. It returns the metadata's path.
func WriteModelFiles(base string, version uint32, kind infer.Kind, set features.Set, forests []*infer.Forest, rows int) (string, error) {
	meta := newMeta(version, kind, set, rows)
	for k, f := range forests {
		name := fmt.Sprintf("%s.%d.txt", filepath.Base(base), k)
		if err := writeForest(filepath.Join(filepath.Dir(base), name), f); err != nil {
			return "", err
		}
		meta.Members = append(meta.Members, name)
	}
	path := base + ".json"
	return path, writeMeta(path, meta)
}

// WriteModelFile writes one forest as a LightGBM text file at path, which
// LightGBM's own tools read, with its metadata beside it (PATH.meta.json).
func WriteModelFile(path string, version uint32, set features.Set, f *infer.Forest, rows int) error {
	if err := writeForest(path, f); err != nil {
		return err
	}
	return writeMeta(path+".meta.json", newMeta(version, infer.KindSingle, set, rows))
}

func newMeta(version uint32, kind infer.Kind, set features.Set, rows int) infer.Meta {
	return infer.Meta{Format: infer.MetaFormat, Version: version, Kind: kind, FeatureSet: set.String(),
		FeatureNames: features.Names[:], TrainingRows: rows, Created: time.Now().UTC()}
}

func writeForest(path string, f *infer.Forest) error {
	var buf bytes.Buffer
	if err := f.WriteLightGBM(&buf); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

func writeMeta(path string, meta infer.Meta) error {
	data, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'))
}

// removeModel deletes the files of a model that was not kept.
func removeModel(m *infer.Model) {
	dir := filepath.Dir(m.Path)
	for _, name := range m.Meta.Members {
		os.Remove(filepath.Join(dir, name))
	}
	os.Remove(m.Path)
}

// use puts m in the slot and makes it the model in use of the saved state;
// then the models beyond KeepModels go.
func (l *Learner) use(m *infer.Model) error {
	rel, err := filepath.Rel(l.cfg.WorkDir, m.Path)
	if err != nil {
		return err
	}
	l.slot.Store(m)
	l.state.Version, l.state.Model = m.Version, rel
	if err := l.saveState(); err != nil {
		return err
	}
	if err := l.pruneModels(); err != nil {
		l.log.Warn("old models stay in the working directory", "dir", l.modelsDir(), "err", err)
	}
	return nil
}

// pruneModels removes the files of the experiment's models older than the
// newest KeepModels, with the leftovers of older models that a crash cut
// short (files without their metadata). Each model's metadata goes first,
// so that no model is ever found in part. Files of later versions than the
// one in use (a model being written when alfd stopped) are overwritten by
// the next training.
func (l *Learner) pruneModels() error {
	if l.cfg.KeepModels == 0 {
		return nil
	}
	entries, err := os.ReadDir(l.modelsDir())
	if err != nil {
		return err
	}
	// A model's files are model-VERSION.json and model-VERSION.K.txt.
	files := map[uint32][]string{}
	var whole []uint32
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "model-")
		number, suffix, dot := strings.Cut(rest, ".")
		v64, err := strconv.ParseUint(number, 10, 32)
		v := uint32(v64)
		if !ok || !dot || err != nil || fmt.Sprintf("%06d", v) != number {
			continue
		}
		if suffix == "json" {
			whole = append(whole, v)
			files[v] = append([]string{e.Name()}, files[v]...)
		} else {
			files[v] = append(files[v], e.Name())
		}
	}
	slices.Sort(whole)
	oldest := l.state.Version
	if n := len(whole); n > 0 {
		oldest = min(oldest, whole[max(0, n-l.cfg.KeepModels)])
	}
	var errs []error
	for v, names := range files {
		if v >= oldest {
			continue
		}
		for _, name := range names {
			if err := os.Remove(filepath.Join(l.modelsDir(), name)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (l *Learner) saveState() error {
	data, err := json.MarshalIndent(l.state, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(l.statePath(), append(data, '\n'))
}

// appendReport appends the report to the metrics file and syncs it.
func (l *Learner) appendReport(r *Report) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return appendSynced(l.metricsPath(), nil, append(data, '\n'))
}

// queriesHeader heads queries.ID.csv; its columns are those --labels
// reads, so that a person can correct the class of the flows asked and
// give the file back as their labels.
var queriesHeader = []string{"generation", "SRC_IP", "DST_IP", "SRC_PORT", "DST_PORT", "TLS_SNI", "DOH_PROBA", "class"}

// queryRow is a flow asked about, with the oracle's label: True, False,
// or empty when it did not know.
func queryRow(generation int, c *Candidate, doh, known bool) []string {
	class := "" // the oracle did not know
	switch {
	case known && doh:
		class = "True"
	case known:
		class = "False"
	}
	f := &c.Flow
	return []string{strconv.Itoa(generation), f.Src.String(), f.Dst.String(), strconv.Itoa(int(f.SrcPort)), strconv.Itoa(int(f.DstPort)),
		f.SNI, strconv.FormatFloat(c.S.Proba, 'g', -1, 64), class}
}

// appendQueries adds a generation's flows asked to queries.ID.csv.
func (l *Learner) appendQueries(rows [][]string) error {
	if len(rows) == 0 {
		return nil
	}
	var head, body bytes.Buffer
	if err := writeCSV(&head, [][]string{queriesHeader}); err != nil {
		return err
	}
	if err := writeCSV(&body, rows); err != nil {
		return err
	}
	return appendSynced(l.queriesPath(), head.Bytes(), body.Bytes())
}

func writeCSV(w io.Writer, rows [][]string) error {
	cw := csv.NewWriter(w)
	cw.WriteAll(rows)
	return cw.Error()
}

// appendSynced appends data to the file at path, synced, starting a new
// file with head: a crash loses at most the line being written.
func appendSynced(path string, head, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if fi, statErr := f.Stat(); statErr == nil && fi.Size() == 0 {
		data = append(head, data...)
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Sync(), f.Close())
}

// reportTail is how much of the end of the metrics file a restart reads
// for the last report: the file grows by a line a generation for as long
// as the experiment runs.
const reportTail = 1 << 20

// restoreReport takes the last report from the metrics file, so that the
// model's last scores are known before the next generation. A line cut
// short by a crash is passed over.
func (l *Learner) restoreReport() {
	data, err := readTail(l.metricsPath(), reportTail)
	if err != nil {
		return
	}
	var last *Report
	bad, _ := ScanReports(bytes.NewReader(data), func(r *Report) { last = new(*r) })
	for _, n := range bad {
		l.log.Warn("a line of the metrics file does not parse", "file", l.metricsPath(), "line_of_tail", n)
	}
	if last != nil {
		l.lastReport.Store(last)
	}
}

// readTail reads the last n bytes of the file at path, from the start of
// a line.
func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	start := max(0, fi.Size()-n)
	data, err := io.ReadAll(io.NewSectionReader(f, start, fi.Size()-start))
	if err != nil || start == 0 {
		return data, err
	}
	_, rest, _ := bytes.Cut(data, []byte{'\n'})
	return rest, nil
}

// DB returns D_i. It belongs to the learner's goroutine.
func (l *Learner) DB() *dataset.Dataset { return l.db }

// Version is the running model's version.
func (l *Learner) Version() uint32 { return l.state.Version }
