package classify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	// OnGeneration, when set, hears of each generation's end.
	OnGeneration func(learner.GenerationStats)
	Seed         uint64
	Log          *slog.Logger
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

// A Pipeline is alfd's fast path for one input: it reads flow records,
// computes their features, scores them batch by batch with the model in
// the slot, and sends them on with their verdicts. It is for one goroutine.
type Pipeline struct {
	cfg   Config
	log   *slog.Logger
	ex    *features.Extractor
	gate  *learner.Gate
	stats Stats

	// The template being read and what reads and writes it.
	tmpl    *trap.Template
	reader  *RecordReader
	out     *trap.Template
	builder *trap.Builder
	doh     *trap.Field
	proba   *trap.Field
	version *trap.Field
	refused *trap.Template // the last template refused, to log it once

	// The batch: kept flows, their records copied back to back in arena.
	n      int
	arena  []byte
	recs   []trap.Record // recs[i] is record i, a view of its copy in arena
	flows  []annotate.Flow
	x      []features.Vector
	scores []infer.Scores
	// What is sent: output records back to back, and views of each.
	outArena []byte
	outRecs  [][]byte

	raw       features.Flow
	candidate learner.Candidate

	// The generation.
	genRecords uint64
	genStart   time.Time
	genAll     evaluate.Confusion
	stream     uint64
	offline    bool // generations wait for the learner, as in ALF

	// Counts not yet added to stats.
	local struct {
		records, badInput, truncated uint64
		skipped                      [features.TooFewPackets + 1]uint64
	}
}

// New returns a pipeline.
func New(cfg Config) *Pipeline {
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 256)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{
		cfg:     cfg,
		log:     cfg.Log,
		ex:      features.NewExtractor(cfg.Set),
		recs:    make([]trap.Record, cfg.BatchSize),
		flows:   make([]annotate.Flow, cfg.BatchSize),
		x:       make([]features.Vector, cfg.BatchSize),
		scores:  make([]infer.Scores, cfg.BatchSize),
		outRecs: make([][]byte, 0, cfg.BatchSize),
	}
	if cfg.Learner != nil {
		p.gate = cfg.Learner.NewGate(cfg.Seed)
	}
	return p
}

// Stats are the pipeline's counters.
func (p *Pipeline) Stats() *Stats { return &p.stats }

// A Source yields flow records: a TRAP input (TrapSource), or the flows of
// alfd's own meters (flowmeter.Records).
type Source interface {
	// Next returns the next record, valid until the next call; io.EOF at
	// the end of a stream, after which a live source may go on;
	// trap.ErrTimeout when it waited and nothing came; a *trap.StreamError
	// for broken input it skipped.
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
	defer context.AfterFunc(ctx, func() { in.Close() })()
	err := p.read(ctx, in)
	// What is held goes out, whatever stopped the reading.
	return errors.Join(err, p.sendHeld())
}

func (p *Pipeline) read(ctx context.Context, in Source) error {
	p.genStart = time.Now()
	socket := in.Live()
	p.offline = !socket
	for {
		rec, err := in.Next()
		var se *trap.StreamError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, trap.ErrTimeout):
			if err := p.idle(ctx); err != nil {
				return err
			}
			continue
		case errors.As(err, &se):
			p.local.badInput++
			p.log.Warn("skipped broken input", "err", err)
			continue
		case errors.Is(err, io.EOF):
			if err := p.endGeneration(ctx); err != nil || !socket {
				return err
			}
			if err := p.sendHeld(); err != nil {
				return err
			}
			continue
		default:
			return err
		}
		if st := in.Streams(); st != p.stream {
			// A new file or connection: a new batch for ALF.
			p.stream = st
			if err := p.endGeneration(ctx); err != nil {
				return err
			}
		}
		if err := p.take(ctx, rec); err != nil {
			return err
		}
		if socket && !in.Buffered() {
			// Reading on would wait for the sender: send what is here.
			if err := p.idle(ctx); err != nil {
				return err
			}
		}
	}
}

// take reads one record into the batch.
func (p *Pipeline) take(ctx context.Context, rec trap.Record) error {
	if rec.Template() != p.tmpl {
		if err := p.flush(); err != nil {
			return err
		}
		p.setTemplate(rec.Template())
	}
	p.local.records++
	p.genRecords++
	if p.reader == nil {
		p.local.badInput++
	} else {
		i := p.n
		// Records ALF skips are not read further: about half of a link's.
		r := p.reader.Filter(rec)
		if r == features.Kept {
			if p.reader.Read(rec, &p.raw, &p.flows[i]) {
				p.local.truncated++
			}
			r = p.ex.Compute(&p.raw, &p.x[i])
		}
		if r != features.Kept {
			p.local.skipped[r]++
		} else {
			if i == 0 {
				p.arena = p.arena[:0]
			}
			p.arena, p.recs[i] = rec.AppendTo(p.arena)
			p.n++
			if p.n == len(p.x) {
				if err := p.flush(); err != nil {
					return err
				}
				if p.timeUp() {
					return p.endGeneration(ctx)
				}
			}
		}
	}
	if p.cfg.GenerationFlows > 0 && p.genRecords >= p.cfg.GenerationFlows {
		return p.endGeneration(ctx)
	}
	return nil
}

// setTemplate prepares for records of template t: a template without the
// fields alfd needs is refused, its records counted as bad input.
func (p *Pipeline) setTemplate(t *trap.Template) {
	p.tmpl, p.reader = t, nil
	r, err := NewRecordReader(t)
	if err == nil {
		p.out, err = outputTemplate(t)
	}
	if err != nil {
		if p.refused == nil || !p.refused.Equal(t) {
			p.log.Error("records of this template cannot be classified; they are skipped", "template", t.Spec(), "err", err)
			p.refused = t
		}
		return
	}
	p.reader = r
	p.builder = trap.NewBuilder(p.out)
	p.doh, p.proba, p.version = p.out.Field("DOH"), p.out.Field("DOH_PROBA"), p.out.Field("MODEL_VERSION")
}

// flush scores the batch, sends it, labels it and offers the learner what
// the gate lets through.
func (p *Pipeline) flush() error {
	defer p.publish()
	n := p.n
	if n == 0 {
		return nil
	}
	p.n = 0
	m := p.cfg.Slot.Load()
	m.ScoreBatch(p.x[:n], p.scores[:n])
	p.outArena, p.outRecs = p.outArena[:0], p.outRecs[:0]
	var doh, labelled, offered uint64
	for i := range n {
		rec := p.recs[i]
		s := &p.scores[i]
		isDoH := s.DoH()
		if isDoH {
			doh++
		}
		flow := &p.flows[i]
		if p.cfg.Oracle != nil {
			// The oracle only looks: a view of the record will do.
			flow.SNI = unsafeString(p.reader.SNI(rec))
			if truth, known := p.cfg.Oracle.Label(flow); known {
				p.genAll.Add(isDoH, truth)
				labelled++
			}
		}
		if p.gate != nil {
			c := &p.candidate
			c.S = *s
			if p.gate.Consider(c) {
				c.X, c.Flow = p.x[i], *flow
				c.Flow.SNI = string(p.reader.SNI(rec))
				if p.cfg.Learner.Offer(c) {
					offered++
				}
			}
		}
		if p.cfg.Output != nil {
			b := p.builder
			b.Reset()
			b.CopyFrom(rec)
			var v uint64
			if isDoH {
				v = 1
			}
			b.SetUint(p.doh, v)
			b.SetDouble(p.proba, s.Proba)
			b.SetUint(p.version, uint64(m.Version))
			at := len(p.outArena)
			var err error
			if p.outArena, err = b.Append(p.outArena); err != nil {
				return fmt.Errorf("output record: %w", err)
			}
			p.outRecs = append(p.outRecs, p.outArena[at:])
		}
	}
	p.stats.Classified.Add(uint64(n))
	p.stats.DoH.Add(doh)
	p.stats.Labelled.Add(labelled)
	p.stats.Offered.Add(offered)
	if p.cfg.Output != nil {
		if err := p.cfg.Output.Write(p.out, p.outRecs); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		p.stats.Sent.Add(uint64(len(p.outRecs)))
	}
	return nil
}

// publish adds the local counts to the stats.
func (p *Pipeline) publish() {
	l := &p.local
	p.stats.Records.Add(l.records)
	p.stats.BadInput.Add(l.badInput)
	p.stats.Truncated.Add(l.truncated)
	for r := range l.skipped {
		p.stats.Skipped[r].Add(l.skipped[r])
	}
	*l = struct {
		records, badInput, truncated uint64
		skipped                      [features.TooFewPackets + 1]uint64
	}{}
}

// idle sends what the batch holds, as the input has nothing more now, and
// ends the generation when its time is up.
func (p *Pipeline) idle(ctx context.Context) error {
	if err := p.sendHeld(); err != nil {
		return err
	}
	if p.timeUp() {
		return p.endGeneration(ctx)
	}
	return nil
}

// sendHeld classifies the batch and has the output send what it holds.
func (p *Pipeline) sendHeld() error {
	if err := p.flush(); err != nil {
		return err
	}
	if p.cfg.Output != nil {
		if err := p.cfg.Output.Flush(); err != nil {
			return fmt.Errorf("output: %w", err)
		}
	}
	return nil
}

func (p *Pipeline) timeUp() bool {
	return p.cfg.GenerationTime > 0 && time.Since(p.genStart) >= p.cfg.GenerationTime
}

// endGeneration sends the batch and ends the generation, if it had any
// records: the learner is told, and for offline inputs waited for as ALF
// would (unless ctx ends); features start a new ALF batch.
func (p *Pipeline) endGeneration(ctx context.Context) error {
	if err := p.flush(); err != nil {
		return err
	}
	if p.genRecords == 0 {
		return nil
	}
	s := learner.GenerationStats{Flows: p.genRecords, All: p.genAll}
	p.genRecords, p.genAll, p.genStart = 0, evaluate.Confusion{}, time.Now()
	p.ex.NewBatch()
	p.stats.Generations.Add(1)
	if p.cfg.OnGeneration != nil {
		p.cfg.OnGeneration(s)
	}
	switch {
	case p.cfg.Learner == nil:
	case p.offline:
		start := time.Now()
		if err := p.cfg.Learner.RunGeneration(ctx, s); err != nil && ctx.Err() == nil {
			// The learner logged it; classifying goes on with the old model.
			p.log.Debug("generation failed", "err", err)
		}
		p.stats.LearnerWait.Add(int64(time.Since(start)))
	default:
		p.cfg.Learner.EndGeneration(s)
	}
	return nil
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
