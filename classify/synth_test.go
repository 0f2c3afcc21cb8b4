package classify

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/learner"
	"github.com/alfd/alfd/learner/dataset"
	"github.com/alfd/alfd/learner/query"
	"github.com/alfd/alfd/synth"
	"github.com/alfd/alfd/trap"
)

// synthD0 writes a synthetic D_0 and returns its path and the data.
func synthD0(tb testing.TB) (string, *dataset.Dataset) {
	tb.Helper()
	cfg := synth.DefaultConfig()
	cfg.Flows, cfg.DriftAt = 600, 1
	d := synth.Dataset(cfg, features.SetALF)
	path := filepath.Join(tb.TempDir(), "d0.csv")
	if err := d.WriteFile(path); err != nil {
		tb.Fatal(err)
	}
	return path, d
}

// synthRecords returns n generated flows as UniRec records, as alfd's flow
// meter makes them of the generated packets, the template, and what each
// flow's features are computed from; seed 2 differs from D_0's.
func synthRecords(tb testing.TB, n int) (*trap.Template, [][]byte, []features.Flow) {
	tb.Helper()
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Flows = 2, n
	enc := flowmeter.NewEncoder()
	var recs [][]byte
	var flows []features.Flow
	err := synth.MeterTraffic(cfg, func(f *flowmeter.Flow) {
		b, err := enc.Append(nil, f)
		if err != nil {
			tb.Fatal(err)
		}
		var ff features.Flow
		f.FeatureFlow(&ff)
		recs, flows = append(recs, b), append(flows, ff)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return enc.Template(), recs, flows
}

// TestSocketToSocket runs the pipeline between two unix sockets, as alfd
// runs between ipfixprobe and a NEMEA reader: a few flows are passed on at
// once, without waiting for a full batch; every flow with features comes
// out with the model's verdict; the sender's end of stream ends a
// generation; and cancelling stops it.
func TestSocketToSocket(t *testing.T) {
	t.Setenv("TRAP_SOCKET_DIR", t.TempDir())
	_, d0 := synthD0(t)
	m := trainModel(t, "gbdt", d0)
	var slot infer.Slot
	slot.Store(m)
	tmpl, recs, flows := synthRecords(t, 1010)

	up := openOutput(t, "u:up")
	if err := up.SetFormat(trap.UniRecFormat(tmpl)); err != nil {
		t.Fatal(err)
	}
	down := openOutput(t, "u:down")
	gens := make(chan learner.GenerationStats, 4)
	p := New(Config{Set: features.SetALF, Slot: &slot, Output: TrapOutput{W: down},
		OnGeneration: func(s learner.GenerationStats) { gens <- s }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx, TrapSource{openInput(t, "u:up")}) }()

	// The reader of alfd's output.
	spec, _ := trap.ParseIfcSpec("u:down")
	reader, err := trap.OpenInput(spec, trap.InputConfig{RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	type verdict struct {
		doh   uint8
		proba float64
	}
	got := make(chan verdict, len(recs))
	readErr := make(chan error, 1)
	go func() {
		for {
			rec, err := reader.Next()
			if err != nil {
				readErr <- err
				return
			}
			t := rec.Template()
			got <- verdict{rec.Uint8(t.Field("DOH")), rec.Double(t.Field("DOH_PROBA"))}
		}
	}()

	// What the output should carry: the verdicts on the flows with features.
	ex := features.NewExtractor(features.SetALF)
	var want []verdict
	for i := range flows {
		var x features.Vector
		if ex.Compute(&flows[i], &x) != features.Kept {
			continue
		}
		var s infer.Scores
		m.Score(&x, &s)
		v := verdict{proba: s.Proba}
		if s.DoH() {
			v.doh = 1
		}
		want = append(want, v)
	}
	receive := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			select {
			case v := <-got:
				if v != want[i] {
					t.Fatalf("flow %d: %+v, want %+v", i, v, want[i])
				}
			case err := <-readErr:
				t.Fatalf("reading alfd's output: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatalf("flow %d did not come out", i)
			}
		}
	}

	// A few flows first: they come out although the batch is not full.
	waitReaders(t, up, 1)
	first := 0
	for _, r := range recs[:10] {
		if err := up.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := up.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if features.Filter(flows[i].Packets, flows[i].PacketsRev) == features.Kept {
			first++
		}
	}
	receive(0, first)
	if err := up.SendBatch(recs[10:]); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := up.Close(); err != nil { // the end of stream
		t.Fatal(err)
	}
	receive(first, len(want))
	if d := time.Since(t0); d > time.Second {
		t.Errorf("the last flows came out after %v: the output waited for its autoflush", d)
	}
	select {
	case g := <-gens:
		if g.Flows != uint64(len(recs)) {
			t.Errorf("the generation had %d flows, %d were sent", g.Flows, len(recs))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the end of stream did not end a generation")
	}
	start := time.Now()
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the pipeline took %v to stop", d)
	}
	st := p.Stats()
	if st.Sent.Load() != uint64(len(want)) || st.Records.Load() != uint64(len(recs)) {
		t.Errorf("sent %d of %d, read %d of %d", st.Sent.Load(), len(want), st.Records.Load(), len(recs))
	}
}

func waitReaders(t *testing.T, w *trap.Writer, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); w.Stats().Clients < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers connected, want %d", w.Stats().Clients, n)
		}
	}
}

// runOnRecords runs a pipeline with a model trained on a synthetic D_0 over
// a trapcap of msgs, records of the template spec, and returns it with
// what it logged and output.
func runOnRecords(t *testing.T, spec string, msgs [][]byte) (p *Pipeline, logs, out string) {
	t.Helper()
	tmpl, err := trap.ParseTemplate(spec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "records.trapcap")
	w := openOutput(t, "f:"+path)
	if err := w.SetFormat(trap.UniRecFormat(tmpl)); err != nil {
		t.Fatal(err)
	}
	for _, msg := range msgs {
		if err := w.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, d0 := synthD0(t)
	var slot infer.Slot
	slot.Store(trainModel(t, "gbdt", d0))
	var logBuf, outBuf bytes.Buffer
	p = New(Config{Set: features.SetALF, Slot: &slot, Output: NewTextOutput(&outBuf, true),
		Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if err := p.Run(context.Background(), TrapSource{openInput(t, "f:"+path)}); err != nil {
		t.Fatal(err)
	}
	return p, logBuf.String(), outBuf.String()
}

// TestRecordsWithoutFeatures: records of a template that lacks what the
// features need are counted as bad input and logged once, not guessed at.
func TestRecordsWithoutFeatures(t *testing.T) {
	spec := "ipaddr SRC_IP,ipaddr DST_IP,uint16 SRC_PORT,uint16 DST_PORT,uint32 PACKETS"
	tmpl, err := trap.ParseTemplate(spec)
	if err != nil {
		t.Fatal(err)
	}
	b := trap.NewBuilder(tmpl)
	var msgs [][]byte
	for range 500 {
		b.Reset()
		b.SetUint(tmpl.Field("PACKETS"), 9)
		msg, _ := b.Append(nil)
		msgs = append(msgs, msg)
	}
	p, logs, out := runOnRecords(t, spec, msgs)
	if st := p.Stats(); st.BadInput.Load() != 500 || st.Classified.Load() != 0 || st.Records.Load() != 500 {
		t.Errorf("bad input %d, classified %d, records %d", st.BadInput.Load(), st.Classified.Load(), st.Records.Load())
	}
	if n := strings.Count(logs, "cannot be classified"); n != 1 || !strings.Contains(logs, "PPI_PKT_LENGTHS") {
		t.Errorf("logged %d times:\n%s", n, logs)
	}
	if out != "" {
		t.Errorf("output: %s", out)
	}
}

// TestOfflineGenerationsWaitForTheLearner: each file of an offline input
// is a generation, which the learner runs before the next file is read.
func TestOfflineGenerationsWaitForTheLearner(t *testing.T) {
	d0Path, _ := synthD0(t)
	tmpl, recs, _ := synthRecords(t, 1500)
	dir := t.TempDir()
	for k := range 3 {
		w := openOutput(t, "f:"+filepath.Join(dir, "part"+string(rune('a'+k))+".trapcap"))
		if err := w.SetFormat(trap.UniRecFormat(tmpl)); err != nil {
			t.Fatal(err)
		}
		if err := w.SendBatch(recs[k*500 : (k+1)*500]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var slot infer.Slot
	oracle := synth.Blacklist()
	l, err := learner.New(context.Background(), learner.Config{ID: "t", WorkDir: t.TempDir(), Model: "gbdt", FeatureSet: features.SetALF,
		Strategy: "uncertainty_unranked", Params: query.Params{NMax: 20}, MaxDBSize: 5000, D0: d0Path, Oracle: oracle, Seed: 1}, &slot)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	learnerDone := make(chan error)
	go func() { learnerDone <- l.Run(ctx) }()
	var reports []*learner.Report
	p := New(Config{Set: features.SetALF, Slot: &slot, Learner: l, Oracle: oracle,
		OnGeneration: func(learner.GenerationStats) {
			// The last generation has run by the time the next one ends.
			if r := l.LastReport(); r != nil {
				reports = append(reports, r)
			}
		}})
	if err := p.Run(ctx, TrapSource{openInput(t, "f:"+filepath.Join(dir, "part*.trapcap"))}); err != nil {
		t.Fatal(err)
	}
	r := l.LastReport()
	cancel()
	if err := <-learnerDone; err != nil {
		t.Fatal(err)
	}
	if r == nil || r.Generation != 3 || len(reports) != 2 || reports[1].Generation != 2 {
		t.Fatalf("last report %+v; reports seen before the 2nd and 3rd ends: %d", r, len(reports))
	}
	if r.Flows != 500 || r.Asked == 0 || r.Metrics["test_all_predicted"].Accuracy == 0 {
		t.Errorf("report %+v", r)
	}
	if p.Stats().Offered.Load() == 0 {
		t.Error("nothing was offered to the learner")
	}
}

// TestNoAllocationsPerFlow: reading, scoring, labelling, gating and sending
// a flow allocates nothing (the flows the learner takes allocate their
// server name; the gate here takes none).
func TestNoAllocationsPerFlow(t *testing.T) {
	d0Path, _ := synthD0(t)
	tmpl, recs, _ := synthRecords(t, 1024)
	var slot infer.Slot
	l, err := learner.New(context.Background(), learner.Config{ID: "t", WorkDir: t.TempDir(), Model: "gbdt", FeatureSet: features.SetALF,
		Strategy: "uncertainty_unranked", Params: query.Params{NMax: 20, Threshold: 0.9999}, MaxDBSize: 5000,
		D0: d0Path, Oracle: synth.Blacklist(), Seed: 1}, &slot)
	if err != nil {
		t.Fatal(err)
	}
	bench := newBenchPipeline(t, &slot, l, tmpl, recs)
	bench.runOnce(t) // warm up: buffers grow to their size
	if n := testing.AllocsPerRun(5, func() { bench.runOnce(t) }); n != 0 {
		t.Errorf("%.1f allocations per %d records", n, len(recs))
	}
	if bench.p.Stats().Classified.Load() == 0 {
		t.Error("nothing was classified")
	}
	// The same through the reading loop, which a source's error ends (a
	// live one's, whose generations do not wait for the learner).
	src := &sliceSource{tmpl: tmpl, recs: recs, end: errors.New("end of test"), live: true}
	n := testing.AllocsPerRun(5, func() {
		src.next = 0
		if err := bench.w.read(context.Background(), src); err != src.end {
			t.Fatal(err)
		}
	})
	if n > 2 {
		t.Errorf("reading: %.1f allocations per %d records", n, len(recs))
	}
}

// benchPipeline feeds records from memory to a pipeline whose output is a
// TRAP blackhole.
type benchPipeline struct {
	p    *Pipeline
	w    *worker
	tmpl *trap.Template
	recs [][]byte
}

func newBenchPipeline(tb testing.TB, slot *infer.Slot, l *learner.Learner, tmpl *trap.Template, recs [][]byte) *benchPipeline {
	tb.Helper()
	cfg := Config{Set: features.SetALF, Slot: slot, Output: TrapOutput{W: openOutput(tb, "b:")}, Oracle: synth.Blacklist()}
	if l != nil {
		cfg.Learner = l
	}
	p := New(cfg)
	return &benchPipeline{p: p, w: p.newWorker(0), tmpl: tmpl, recs: recs}
}

func (b *benchPipeline) runOnce(tb testing.TB) {
	for _, msg := range b.recs {
		rec, err := b.tmpl.Decode(msg)
		if err == nil {
			err = b.w.take(context.Background(), rec)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := b.w.flush(); err != nil {
		tb.Fatal(err)
	}
}

// sliceSource yields records from memory, as one offline stream (or a
// live one), then io.EOF, or end when set.
type sliceSource struct {
	tmpl   *trap.Template
	recs   [][]byte
	next   int
	end    error
	live   bool
	closed atomic.Bool
}

func (s *sliceSource) Next() (trap.Record, error) {
	switch {
	case s.closed.Load():
		return trap.Record{}, trap.ErrClosed
	case s.next == len(s.recs):
		return trap.Record{}, cmp.Or(s.end, io.EOF)
	}
	s.next++
	return s.tmpl.Decode(s.recs[s.next-1])
}
func (s *sliceSource) Buffered() bool  { return true }
func (s *sliceSource) Streams() uint64 { return 1 }
func (s *sliceSource) Live() bool      { return s.live }
func (s *sliceSource) Close() error    { s.closed.Store(true); return nil }

// TestRunAll: sources read side by side send every flow once, as one
// source would, to their one output; their generations count the records
// of all, each record in one generation, and end when full. (The fixed
// features: ALF's type a column by the first flow of each source's batch,
// so there a flow's features may depend on which source read it.)
func TestRunAll(t *testing.T) {
	_, d0 := synthD0(t)
	tmpl, recs, _ := synthRecords(t, 3000)
	var slot infer.Slot
	slot.Store(trainModel(t, "gbdt", d0))
	run := func(sources int) (lines []string, gens []uint64, st *Stats) {
		var out bytes.Buffer
		p := New(Config{Set: features.SetFixed, Slot: &slot, Output: NewTextOutput(&out, true), BatchSize: 64,
			GenerationFlows: 700, OnGeneration: func(s learner.GenerationStats) { gens = append(gens, s.Flows) }})
		var ins []Source
		per := len(recs) / sources
		for i := range sources {
			ins = append(ins, &sliceSource{tmpl: tmpl, recs: recs[i*per : (i+1)*per]})
		}
		if err := p.RunAll(context.Background(), ins); err != nil {
			t.Fatal(err)
		}
		lines = strings.Split(strings.TrimSpace(out.String()), "\n")
		slices.Sort(lines)
		return lines, gens, p.Stats()
	}
	wantLines, wantGens, wantStats := run(1)
	if !slices.Equal(wantGens, []uint64{700, 700, 700, 700, 200}) {
		t.Errorf("one source: generations of %v records", wantGens)
	}
	lines, gens, st := run(3)
	if len(lines) < 1000 || !slices.Equal(lines, wantLines) {
		t.Errorf("three sources sent %d records, one sent %d; the same: %v", len(lines), len(wantLines), slices.Equal(lines, wantLines))
	}
	if st.Records.Load() != 3000 || st.Classified.Load() != wantStats.Classified.Load() || st.Sent.Load() != uint64(len(wantLines)) {
		t.Errorf("records %d, classified %d (one source: %d), sent %d", st.Records.Load(), st.Classified.Load(), wantStats.Classified.Load(), st.Sent.Load())
	}
	// Only a source's end ends a generation short of full: once a source.
	sum, short := uint64(0), 0
	for _, n := range gens {
		sum += n
		if n < 700 {
			short++
		}
	}
	if sum != 3000 || short > 3 || st.Generations.Load() != uint64(len(gens)) {
		t.Errorf("three sources: generations of %v records (%d counted)", gens, st.Generations.Load())
	}
}

// TestOutputRecordTooLong: a record that alfd's fields would make too long
// for UniRec is counted as bad input and skipped; the others go on.
func TestOutputRecordTooLong(t *testing.T) {
	_, d0 := synthD0(t)
	tmpl, recs, _ := synthRecords(t, 200)
	var slot infer.Slot
	slot.Store(trainModel(t, "gbdt", d0))
	// A kept flow's record, its server name grown to fill UniRec's limit.
	b := trap.NewBuilder(tmpl)
	var long []byte
	for _, raw := range recs {
		rec, err := tmpl.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if features.Filter(rec.Uint(tmpl.Field("PACKETS")), rec.Uint(tmpl.Field("PACKETS_REV"))) != features.Kept {
			continue
		}
		b.Reset()
		b.CopyFrom(rec)
		b.SetString(tmpl.Field("TLS_SNI"), "")
		b.SetString(tmpl.Field("TLS_SNI"), strings.Repeat("a", trap.MaxRecordLen-b.Len()))
		if long, err = b.Append(nil); err != nil {
			t.Fatal(err)
		}
		break
	}
	var out bytes.Buffer
	p := New(Config{Set: features.SetALF, Slot: &slot, Output: NewTextOutput(&out, true)})
	in := append(slices.Clone(recs[:100]), append([][]byte{long}, recs[100:]...)...)
	if err := p.Run(context.Background(), &sliceSource{tmpl: tmpl, recs: in}); err != nil {
		t.Fatal(err)
	}
	one := New(Config{Set: features.SetALF, Slot: &slot, Output: NewTextOutput(io.Discard, true)})
	if err := one.Run(context.Background(), &sliceSource{tmpl: tmpl, recs: recs}); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.BadInput.Load() != 1 || st.Sent.Load() != one.Stats().Sent.Load() || st.Sent.Load() == 0 ||
		strings.Count(out.String(), "\n") != int(st.Sent.Load()) {
		t.Errorf("bad input %d, sent %d (without the long record %d), lines %d", st.BadInput.Load(), st.Sent.Load(),
			one.Stats().Sent.Load(), strings.Count(out.String(), "\n"))
	}
}

// TestBrokenRecordsLogged: of 500 broken records (shorter than their
// template's fixed part), each is counted, the first ten are logged one by
// one, and the rest in one line with their count.
func TestBrokenRecordsLogged(t *testing.T) {
	msgs := make([][]byte, 500)
	for i := range msgs {
		msgs[i] = []byte{1, 2, 3}
	}
	p, logs, _ := runOnRecords(t, "uint32 PACKETS,uint32 PACKETS_REV", msgs)
	if st := p.Stats(); st.BadInput.Load() != 500 {
		t.Errorf("bad input %d, want 500", st.BadInput.Load())
	}
	if one, rest := strings.Count(logs, `msg="skipped broken input"`), strings.Count(logs, `msg="skipped more broken input" count=490 `); one != 10 || rest != 1 {
		t.Errorf("%d lines of one, %d of the rest:\n%s", one, rest, logs)
	}
}
