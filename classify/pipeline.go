package classify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/learner"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/learner/evaluate"
	"github.com/alfd/alfd/trap"
)

// Config sets up a Pipeline.
type Config struct {
	// Set is the feature set of the models the slot holds.
	Set  features.Set
	Slot *infer.Slot
	// Learner, when set, is offered the flows its gate lets through, and
	// told of each generation's end. Its Run must be running.
	Learner *learner.Learner
	// Oracle, when set, labels every classified flow, so that each
	// generation reports the model on all of them (ALF's dry run).
	Oracle annotate.Oracle
	// Output, when set, gets every classified flow.
	Output Output
	// BatchSize is how many flows are scored together (default 256).
	BatchSize int
	// GenerationFlows ends a generation after this many records (ALF's
	// 50,000); zero ends generations only at the end of each stream and
	// by GenerationTime.
	GenerationFlows uint64
	// GenerationTime ends a generation when it has lasted this long; zero
	// never.
	GenerationTime time.Duration
	// OnGeneration, when set, hears of each generation's end, in order,
	// on the goroutine of the source that ended it.
	OnGeneration func(learner.GenerationStats)
	// OnLabelled, when set, hears of every flow the Oracle labels, with
	// its probability of DoH and its label, on its source's goroutine
	// (alfd eval's ranking measures).
	OnLabelled func(proba float64, doh bool)
	Seed       uint64
	Log        *slog.Logger
}

// Stats counts what a Pipeline did. Its counters may be read at any time
// from any goroutine; the pipeline adds to them once per batch.
type Stats struct {
	Records atomic.Uint64 // flow records read
	// Skipped counts the records without features, by ALF's reasons.
	Skipped [features.TooFewPackets + 1]atomic.Uint64
	// BadInput counts broken containers, files, connections and records
	// that the input skipped, and records of a template without the fields
	// alfd needs.
	BadInput    atomic.Uint64
	Truncated   atomic.Uint64 // kept flows with per-packet arrays cut at 30
	Classified  atomic.Uint64
	DoH         atomic.Uint64 // flows classified as DoH
	Labelled    atomic.Uint64 // flows the dry run's oracle knew
	Offered     atomic.Uint64 // flows handed to the learner
	Sent        atomic.Uint64 // records given to the output
	Generations atomic.Uint64 // generations ended
	// LearnerWait is the time, in nanoseconds, that an offline input
	// waited for the learner to run its generations.
	LearnerWait atomic.Int64
}

// A Pipeline is alfd's fast path: it reads flow records, computes their
// features, scores them batch by batch with the model in the slot, and
// sends them on with their verdicts. Run reads one source; RunAll reads
// several side by side (the meters of a fanout group), a goroutine each,
// which share the counters, the output and the generations. One run at a
// time.
type Pipeline struct {
	cfg     Config
	stats   Stats
	out     sync.Mutex // the workers' turns at the output
	gen     generation
	workers []*worker // kept from run to run, with their buffers
}

// generation is the generation under way, as the workers have published
// it: they add their records and the dry run's counts at each batch.
type generation struct {
	mu      sync.Mutex
	records uint64
	all     evaluate.Confusion
	ranks   evaluate.Histogram // the labelled flows' probabilities
	start   time.Time
	number  uint64 // generations ended before this one
}

// started is when the generation began.
func (g *generation) started() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.start
}

// A worker classifies one source, for one goroutine.
type worker struct {
	p     *Pipeline
	cfg   *Config
	log   *slog.Logger
	ex    *features.Extractor
	gate  *learner.Gate
	stats *Stats

	// The template being read and what reads and writes it.
	tmpl    *trap.Template
	reader  *RecordReader
	out     *trap.Template
	builder *trap.Builder
	doh     *trap.Field
	proba   *trap.Field
	version *trap.Field
	refused *trap.Template // the last template refused, to log it once
	broken  BrokenLog

	// The batch: kept flows, their server names back to back in sni (flow
	// i's ends at sniEnds[i]), and, when there is an output, their output
	// records back to back in outArena, the verdicts left to fill.
	n        int
	flows    []annotate.Flow
	x        []features.Vector
	scores   []infer.Scores
	sni      []byte
	sniEnds  []int
	outArena []byte
	outEnds  []int
	outRecs  [][]byte // views of the output records, as they are sent

	raw       features.Flow
	candidate learner.Candidate

	// The generation: what this worker has not published yet, the records
	// of all as of its last look, and which generation that was.
	genRecords uint64
	genAll     evaluate.Confusion
	genRanks   evaluate.Histogram
	genSeen    uint64
	genNumber  uint64
	genStart   time.Time
	stream     uint64
	offline    bool // generations wait for the learner, as in ALF

	// Counts not yet added to stats.
	local struct {
		records, badInput, truncated uint64
		skipped                      [features.TooFewPackets + 1]uint64
	}
}

// BrokenLog warns of the broken input a reader skips (trap.Skipped): each
// of the first ten of a minute by itself, then how many more there were,
// so that a sender whose every record is broken does not flood the log.
// The zero value is ready.
type BrokenLog struct {
	since time.Time
	told  int
	more  int
	last  error
}

// brokenWarnings is how many a minute BrokenLog tells of one by one.
const brokenWarnings = 10

// Skipped tells of err, or counts it to tell of later.
func (b *BrokenLog) Skipped(log *slog.Logger, err error) {
	if now := time.Now(); now.Sub(b.since) >= time.Minute {
		b.Flush(log)
		*b = BrokenLog{since: now}
	}
	if b.told < brokenWarnings {
		b.told++
		log.Warn("skipped broken input", "err", err)
		return
	}
	b.more, b.last = b.more+1, err
}

// Flush tells how many more were skipped than were told of, if any: at
// the end of the input, or when the minute is over.
func (b *BrokenLog) Flush(log *slog.Logger) {
	if b.more > 0 {
		log.Warn("skipped more broken input", "count", b.more, "last_err", b.last)
		b.more = 0
	}
}

// New returns a pipeline.
func New(cfg Config) *Pipeline {
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 256)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{cfg: cfg}
}

// newWorker returns the pipeline's worker number i.
func (p *Pipeline) newWorker(i int) *worker {
	w := &worker{
		p:       p,
		cfg:     &p.cfg,
		log:     p.cfg.Log,
		ex:      features.NewExtractor(p.cfg.Set),
		stats:   &p.stats,
		sniEnds: make([]int, p.cfg.BatchSize),
		outEnds: make([]int, p.cfg.BatchSize),
		flows:   make([]annotate.Flow, p.cfg.BatchSize),
		x:       make([]features.Vector, p.cfg.BatchSize),
		scores:  make([]infer.Scores, p.cfg.BatchSize),
		outRecs: make([][]byte, 0, p.cfg.BatchSize),
	}
	if p.cfg.Learner != nil {
		w.gate = p.cfg.Learner.NewGate(p.cfg.Seed + uint64(i))
	}
	return w
}

// Stats are the pipeline's counters.
func (p *Pipeline) Stats() *Stats { return &p.stats }

// A Source yields flow records: a TRAP input (TrapSource), or the flows of
// alfd's own meters (flowmeter.Records).
type Source interface {
	// Next returns the next record, valid until the next call; io.EOF at
	// the end of a stream, after which a live source may go on;
	// trap.ErrClosed once it has ended for good; trap.ErrTimeout when it
	// waited and nothing came; a *trap.StreamError for broken input it
	// skipped.
	Next() (trap.Record, error)
	// Buffered reports whether Next would return without waiting.
	Buffered() bool
	// Streams counts the streams (files, connections) begun.
	Streams() uint64
	// Live reports a source that runs until stopped (a socket, a live
	// capture), not to its end (files).
	Live() bool
	// Close makes a waiting Next return.
	Close() error
}

// TrapSource is a TRAP input as a Source.
type TrapSource struct{ R *trap.Reader }

func (s TrapSource) Next() (trap.Record, error) { return s.R.Next() }
func (s TrapSource) Buffered() bool             { return s.R.Buffered() }
func (s TrapSource) Streams() uint64            { return s.R.Stats().Streams }
func (s TrapSource) Close() error               { return s.R.Close() }

// Live is true for socket inputs.
func (s TrapSource) Live() bool { return s.R.Spec().Kind == 'u' || s.R.Spec().Kind == 't' }

// Run reads in until its end (files) or until ctx ends (live sources), and
// classifies what it reads. At each stream's end (a file, or a sender's
// end of stream) the generation ends, as ALF ends a batch. Broken input is
// counted, logged and skipped. Run closes in when ctx ends, and returns
// after the flows it holds are sent.
func (p *Pipeline) Run(ctx context.Context, in Source) error {
	return p.RunAll(ctx, []Source{in})
}

// RunAll is Run for several sources at once, a goroutine each. A
// generation ends for all of them when they have read, together, the
// records of a generation or it has lasted its time. When one fails, the
// others stop.
func (p *Pipeline) RunAll(ctx context.Context, ins []Source) error {
	p.gen.mu.Lock()
	p.gen.start = time.Now()
	p.gen.mu.Unlock()
	for len(p.workers) < len(ins) {
		p.workers = append(p.workers, p.newWorker(len(p.workers)))
	}
	if len(ins) == 1 {
		return p.workers[0].run(ctx, ins[0])
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		w := p.workers[i]
		wg.Go(func() {
			if errs[i] = w.run(ctx, in); errs[i] != nil {
				cancel(errs[i])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// run is Run for the worker's source.
func (w *worker) run(ctx context.Context, in Source) error {
	defer context.AfterFunc(ctx, func() { in.Close() })()
	w.stream = 0 // a new source
	err := w.read(ctx, in)
	// What is held goes out, whatever stopped the reading.
	return errors.Join(err, w.sendHeld())
}

func (w *worker) read(ctx context.Context, in Source) error {
	defer w.broken.Flush(w.log)
	w.genStart = w.p.gen.started()
	socket := in.Live()
	w.offline = !socket
	for {
		rec, err := in.Next()
		switch {
		case err == nil:
		case ctx.Err() != nil, errors.Is(err, trap.ErrClosed):
			return nil
		case errors.Is(err, trap.ErrTimeout):
			if err := w.idle(ctx); err != nil {
				return err
			}
			continue
		case trap.Skipped(err):
			w.local.badInput++
			w.broken.Skipped(w.log, err)
			continue
		case errors.Is(err, io.EOF):
			if err := w.endGeneration(ctx, generationStreamEnd); err != nil || !socket {
				return err
			}
			if err := w.sendHeld(); err != nil {
				return err
			}
			continue
		default:
			return err
		}
		if st := in.Streams(); st != w.stream {
			// A new file or connection: a new batch for ALF. The source's
			// first stream ends nothing: the records of the generation
			// under way are other sources'.
			first := w.stream == 0
			w.stream = st
			if !first {
				if err := w.endGeneration(ctx, generationStreamEnd); err != nil {
					return err
				}
			}
		}
		if err := w.take(ctx, rec); err != nil {
			return err
		}
		if socket && !in.Buffered() {
			// Reading on would wait for the sender: send what is here.
			if err := w.idle(ctx); err != nil {
				return err
			}
		}
	}
}

// take reads one record into the batch.
func (w *worker) take(ctx context.Context, rec trap.Record) error {
	if rec.Template() != w.tmpl {
		if err := w.flush(); err != nil {
			return err
		}
		w.setTemplate(rec.Template())
	}
	w.local.records++
	w.genRecords++
	if w.reader == nil {
		w.local.badInput++
	} else {
		i := w.n
		// Records ALF skips are not read further: about half of a link's.
		r := w.reader.Filter(rec)
		if r == features.Kept {
			if w.reader.Read(rec, &w.raw, &w.flows[i]) {
				w.local.truncated++
			}
			r = w.ex.Compute(&w.raw, &w.x[i])
		}
		if r != features.Kept {
			w.local.skipped[r]++
		} else if w.keep(rec) {
			w.n++
			if w.n == len(w.x) {
				if err := w.flush(); err != nil {
					return err
				}
				if w.timeUp() {
					return w.endGeneration(ctx, generationTimeUp)
				}
			}
		}
	}
	if w.cfg.GenerationFlows > 0 && w.genSeen+w.genRecords >= w.cfg.GenerationFlows {
		return w.endGeneration(ctx, generationFull)
	}
	return nil
}

// setTemplate prepares for records of template t: a template without the
// fields alfd needs is refused, its records counted as bad input.
func (w *worker) setTemplate(t *trap.Template) {
	w.tmpl, w.reader = t, nil
	r, err := NewRecordReader(t)
	if err == nil {
		w.out, err = outputTemplate(t)
	}
	if err != nil {
		if w.refused == nil || !w.refused.Equal(t) {
			w.log.Error("records of this template cannot be classified; they are skipped", "template", t.Spec(), "err", err)
			w.refused = t
		}
		return
	}
	w.reader = r
	w.builder = trap.NewBuilder(w.out)
	w.doh, w.proba, w.version = w.out.Field("DOH"), w.out.Field("DOH_PROBA"), w.out.Field("MODEL_VERSION")
}

// keep keeps what the batch needs of rec, a record with features, to be
// flow w.n: its server name and its output record, copied straight from
// rec (rec is not kept: it is the input's, valid until its next record).
// A record too long for UniRec with alfd's fields added is counted as bad
// input and not kept.
func (w *worker) keep(rec trap.Record) bool {
	i := w.n
	if i == 0 {
		w.sni, w.outArena = w.sni[:0], w.outArena[:0]
	}
	if w.cfg.Output != nil {
		var err error
		at := len(w.outArena)
		if w.outArena, err = w.builder.AppendCopy(w.outArena, rec); err != nil {
			w.outArena = w.outArena[:at]
			w.local.badInput++
			w.log.Debug("record skipped", "err", err)
			return false
		}
		w.outEnds[i] = len(w.outArena)
	}
	w.sni = append(w.sni, w.reader.SNI(rec)...)
	w.sniEnds[i] = len(w.sni)
	return true
}

// flush scores the batch, sends it, labels it and offers the learner what
// the gate lets through.
func (w *worker) flush() error {
	defer w.publish()
	n := w.n
	if n == 0 {
		return nil
	}
	w.n = 0
	m := w.cfg.Slot.Load()
	m.ScoreBatch(w.x[:n], w.scores[:n])
	w.outRecs = w.outRecs[:0]
	var doh, labelled, offered uint64
	sniStart, outStart := 0, 0
	for i := range n {
		s := &w.scores[i]
		isDoH := s.DoH()
		if isDoH {
			doh++
		}
		flow := &w.flows[i]
		// The oracle only looks: a view of the batch's copy will do.
		flow.SNI = unsafeString(w.sni[sniStart:w.sniEnds[i]])
		sniStart = w.sniEnds[i]
		if w.cfg.Oracle != nil {
			if truth, known := w.cfg.Oracle.Label(flow); known {
				w.genAll.Add(isDoH, truth)
				w.genRanks.Add(s.Proba, truth)
				labelled++
				if w.cfg.OnLabelled != nil {
					w.cfg.OnLabelled(s.Proba, truth)
				}
			}
		}
		if w.gate != nil {
			c := &w.candidate
			c.S = *s
			if w.gate.Consider(c) {
				c.X, c.Flow = w.x[i], *flow
				c.Flow.SNI = strings.Clone(flow.SNI)
				if w.cfg.Learner.Offer(c) {
					offered++
				}
			}
		}
		if w.cfg.Output != nil {
			out := w.outArena[outStart:w.outEnds[i]]
			outStart = w.outEnds[i]
			var v uint64
			if isDoH {
				v = 1
			}
			w.doh.PutUint(out, v)
			w.proba.PutDouble(out, s.Proba)
			w.version.PutUint(out, uint64(m.Version))
			w.outRecs = append(w.outRecs, out)
		}
	}
	w.stats.Classified.Add(uint64(n))
	w.stats.DoH.Add(doh)
	w.stats.Labelled.Add(labelled)
	w.stats.Offered.Add(offered)
	if w.cfg.Output != nil {
		w.p.out.Lock()
		err := w.cfg.Output.Write(w.out, w.outRecs)
		w.p.out.Unlock()
		if err != nil {
			return fmt.Errorf("output: %w", err)
		}
		w.stats.Sent.Add(uint64(len(w.outRecs)))
	}
	return nil
}

// publish adds the local counts to the stats, and the generation's to the
// pipeline's; it notes a generation that another worker ended.
func (w *worker) publish() {
	g := &w.p.gen
	g.mu.Lock()
	if g.number != w.genNumber {
		w.genNumber = g.number
		w.ex.NewBatch()
	}
	g.records += w.genRecords
	g.all.Merge(w.genAll)
	w.genRanks.Drain(&g.ranks)
	w.genSeen, w.genStart = g.records, g.start
	g.mu.Unlock()
	w.genRecords, w.genAll = 0, evaluate.Confusion{}

	l := &w.local
	w.stats.Records.Add(l.records)
	w.stats.BadInput.Add(l.badInput)
	w.stats.Truncated.Add(l.truncated)
	for r := range l.skipped {
		w.stats.Skipped[r].Add(l.skipped[r])
	}
	*l = struct {
		records, badInput, truncated uint64
		skipped                      [features.TooFewPackets + 1]uint64
	}{}
}

// idle sends what the batch holds, as the input has nothing more now, and
// ends the generation when its time is up.
func (w *worker) idle(ctx context.Context) error {
	if err := w.sendHeld(); err != nil {
		return err
	}
	if w.timeUp() {
		return w.endGeneration(ctx, generationTimeUp)
	}
	return nil
}

// sendHeld classifies the batch and has the output send what it holds.
func (w *worker) sendHeld() error {
	if err := w.flush(); err != nil {
		return err
	}
	if w.cfg.Output != nil {
		w.p.out.Lock()
		err := w.cfg.Output.Flush()
		w.p.out.Unlock()
		if err != nil {
			return fmt.Errorf("output: %w", err)
		}
	}
	return nil
}

// timeUp reports whether the generation has lasted its time, as the worker
// last looked.
func (w *worker) timeUp() bool {
	return w.cfg.GenerationTime > 0 && time.Since(w.genStart) >= w.cfg.GenerationTime
}

// Why a worker ends a generation: its stream ended, which always ends it,
// or it saw the generation full or its time up, which another worker may
// have acted on first.
type generationCause uint8

const (
	generationStreamEnd generationCause = iota
	generationFull
	generationTimeUp
)

// endGeneration sends the batch and ends the generation, if it had any
// records and still has cause to end: the learner is told, and for offline
// inputs waited for as ALF would (unless ctx ends); features start a new
// ALF batch.
func (w *worker) endGeneration(ctx context.Context, cause generationCause) error {
	if err := w.flush(); err != nil {
		return err
	}
	g := &w.p.gen
	g.mu.Lock()
	ended := g.records > 0
	switch cause {
	case generationFull:
		ended = ended && g.records >= w.cfg.GenerationFlows
	case generationTimeUp:
		ended = ended && time.Since(g.start) >= w.cfg.GenerationTime
	}
	if !ended {
		g.mu.Unlock()
		return nil
	}
	s := learner.GenerationStats{Flows: g.records, All: g.all}
	if g.all.N() > 0 {
		s.Ranks = new(evaluate.Histogram)
		g.ranks.Drain(s.Ranks)
	}
	g.records, g.all, g.start = 0, evaluate.Confusion{}, time.Now()
	g.number++
	w.genNumber, w.genSeen, w.genStart = g.number, 0, g.start
	w.ex.NewBatch()
	w.stats.Generations.Add(1)
	if w.cfg.OnGeneration != nil {
		// Under the lock, so that it hears of generations in order.
		w.cfg.OnGeneration(s)
	}
	g.mu.Unlock()
	switch {
	case w.cfg.Learner == nil:
	case w.offline:
		start := time.Now()
		if err := w.cfg.Learner.RunGeneration(ctx, s); err != nil && ctx.Err() == nil {
			// The learner logged it; classifying goes on with the old model.
			w.log.Debug("generation failed", "err", err)
		}
		w.stats.LearnerWait.Add(int64(time.Since(start)))
	default:
		w.cfg.Learner.EndGeneration(s)
	}
	return nil
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
