package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alfd/alfd/classify"
	"github.com/alfd/alfd/trap"
)

// parseIfcs parses the IFC_SPEC of option opt (-i, NEMEA's, for most) for
// a command with a fixed number of input and output interfaces.
func parseIfcs(cmd, opt, list string, inputs, outputs int) ([]trap.IfcSpec, error) {
	if list == "" {
		return nil, fmt.Errorf("%s: %s is required", cmd, opt)
	}
	specs, err := trap.ParseIfcSpecs(list)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", cmd, opt, err)
	}
	if len(specs) != inputs+outputs {
		return nil, fmt.Errorf("%s: %s: %d interfaces given, want %d input(s) and %d output(s)", cmd, opt, len(specs), inputs, outputs)
	}
	for _, s := range specs[:inputs] {
		if s.Kind == 'b' {
			return nil, fmt.Errorf("%s: %s: %s is an output-only interface", cmd, opt, s)
		}
	}
	return specs, nil
}

func runDump(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "dump", "-i IFC [options]")
	ifc := fs.String("i", "", "input interface (IFC_SPEC), e.g. u:alf_socket or f:flows.trapcap")
	format := fs.String("format", "csv", "output format: csv (with a header) or json (JSON lines)")
	count := fs.Int("c", 0, "stop after this many records (0: read to the end of the stream)")
	fields := fs.String("fields", "", "comma-separated fields to print (default: all, in record order)")
	noHeader := fs.Bool("no-header", false, "omit the CSV header")
	outPath := fs.String("o", "-", "write to this file (- is standard output)")
	log, err := parseLogged(e, fs, args, nil)
	if err != nil {
		return err
	}
	if *format != "csv" && *format != "json" {
		return fmt.Errorf("dump: --format %q: want csv or json", *format)
	}
	specs, err := parseIfcs("dump", "-i", *ifc, 1, 0)
	if err != nil {
		return err
	}
	spec := specs[0]
	if (spec.Kind == 'u' || spec.Kind == 't') && spec.Timeout == trap.Wait {
		// Wake up now and then to show what came, while the sender idles.
		spec.Timeout = trap.Timeout(200 * time.Millisecond)
	}
	r, err := trap.OpenInput(spec, trap.InputConfig{})
	if err != nil {
		return err
	}
	defer r.Close()
	defer context.AfterFunc(ctx, func() { r.Close() })()

	w, err := createOutput(e, *outPath)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	defer w.Close()
	p := trap.Printer{JSON: *format == "json", Header: !*noHeader}
	if *fields != "" {
		p.Fields = strings.Split(*fields, ",")
	}
	n, skipped := 0, 0
	var broken classify.BrokenLog
read:
	for *count == 0 || n < *count {
		rec, err := r.Next()
		switch {
		case err == nil:
		case errors.Is(err, trap.ErrTimeout):
			if err := w.Flush(); err != nil {
				return fmt.Errorf("dump: %w", err)
			}
			continue
		case trap.Skipped(err):
			broken.Skipped(log, err)
			skipped++
			continue
		case errors.Is(err, io.EOF), ctx.Err() != nil:
			break read
		default:
			return fmt.Errorf("dump: %w", err)
		}
		if err := p.Print(w, rec); err != nil {
			return fmt.Errorf("dump: %w", err)
		}
		n++
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	broken.Flush(log)
	st := r.Stats()
	log.Info("dump finished", "input", r.Name(), "records", n, "skipped", skipped,
		"connections", st.Streams, "missed", st.Missed, "not_ready", st.NotReady)
	if st.Missed > 0 {
		log.Warn("records the sender sent never arrived (a reader that connects again starts at the sender's newest)", "missed", st.Missed)
	}
	if skipped > 0 {
		return fmt.Errorf("dump: %d broken containers or records skipped", skipped)
	}
	return nil
}

func runReplay(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "replay", "-i IN,OUT [options]")
	ifc := fs.String("i", "", "input and output interface (IFC_SPEC), e.g. f:flows.trapcap,u:alf_socket")
	count := fs.Int("c", 0, "stop after this many records (0: to the end of the input)")
	progress := fs.Duration("progress", time.Second, "how often to show progress on stderr for file inputs (0: never)")
	log, err := parseLogged(e, fs, args, nil)
	if err != nil {
		return err
	}
	specs, err := parseIfcs("replay", "-i", *ifc, 1, 1)
	if err != nil {
		return err
	}
	r, err := trap.OpenInput(specs[0], trap.InputConfig{})
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := trap.OpenOutput(specs[1])
	if err != nil {
		r.Close()
		return err
	}
	// On a signal, stop reading, and give readers of the output a moment.
	defer context.AfterFunc(ctx, func() {
		r.Close()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		w.CloseContext(shutdown)
	})()

	var meter *progressLine
	if specs[0].Kind == 'f' && *progress > 0 {
		meter = newProgressLine(e.stderr, *progress)
	}
	n, skipped := 0, 0
	var broken classify.BrokenLog
	var bytesIn int64
	var sent trap.Format
	for *count == 0 || n < *count {
		msg, err := r.Recv()
		if trap.Skipped(err) {
			broken.Skipped(log, err)
			skipped++
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				break
			}
			w.Close()
			return fmt.Errorf("replay: %w", err)
		}
		if f := r.Format(); f.Type != sent.Type || f.Spec != sent.Spec {
			if err := w.SetFormat(f); err != nil {
				if ctx.Err() != nil {
					break
				}
				w.Close()
				return fmt.Errorf("replay: %w", err)
			}
			sent = f
		}
		if err := w.Send(msg); err != nil {
			if ctx.Err() != nil {
				break
			}
			w.Close()
			return fmt.Errorf("replay: %w", err)
		}
		n++
		bytesIn += int64(len(msg))
		meter.update(n, bytesIn, r.Stream())
	}
	meter.done(n, bytesIn)
	if err := w.Close(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	broken.Flush(log)
	st := w.Stats()
	log.Info("replay finished", "records", n, "skipped", skipped, "dropped", st.Dropped)
	if st.Dropped > 0 {
		log.Warn("records dropped by the output (no reader, or readers too slow for its timeout)", "dropped", st.Dropped)
	}
	if skipped > 0 {
		return fmt.Errorf("replay: %d broken containers or records skipped", skipped)
	}
	return nil
}

// progressLine shows how far an offline job has come, on a terminal in
// place, elsewhere as a line now and then.
type progressLine struct {
	w      io.Writer
	every  time.Duration
	start  time.Time
	next   time.Time
	inTerm bool
}

func newProgressLine(w io.Writer, every time.Duration) *progressLine {
	p := &progressLine{w: w, every: every, start: time.Now()}
	p.next = p.start.Add(every)
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.inTerm = true
		}
	}
	if !p.inTerm {
		p.every *= 10
		p.next = p.start.Add(p.every)
	}
	return p
}

func (p *progressLine) update(n int, bytes int64, stream string) {
	// Look at the clock every 1024 records only.
	if p == nil || n&1023 != 0 {
		return
	}
	now := time.Now()
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(p.every)
	p.show(p.counts(n, bytes, now, stream))
}

func (p *progressLine) counts(n int, bytes int64, now time.Time, stream string) string {
	secs := now.Sub(p.start).Seconds()
	return fmt.Sprintf("%d records, %.1f MB, %.0f records/s, %s", n, float64(bytes)/1e6, float64(n)/secs, stream)
}

// show prints line: in place on a terminal, else as a line of its own.
func (p *progressLine) show(line string) {
	end := "\n"
	if p.inTerm {
		end = "\x1b[K\r"
	}
	fmt.Fprint(p.w, line, end)
}

// finish ends the line in place on a terminal.
func (p *progressLine) finish() {
	if p.inTerm {
		fmt.Fprintln(p.w)
	}
}

func (p *progressLine) done(n int, bytes int64) {
	if p == nil {
		return
	}
	p.show(p.counts(n, bytes, time.Now(), "done"))
	p.finish()
}

// runStats is NEMEA's trap_stats: the counters of a running module's TRAP
// interfaces, from its service interface.
func runStats(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "stats", "PID|SOCKET [options]")
	format := fs.String("format", "text", "output format: text, or json (the counters under libtrap's names)")
	every := fs.Duration("every", 0, "ask again this often until interrupted (0: once)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the module's reply")
	modules, err := parseWithArgs(fs, args)
	if err != nil {
		return err
	}
	if len(modules) != 1 {
		return errors.New("stats: give the module's PID, or the path of its service socket (trap-service_PID.sock)")
	}
	target := modules[0]
	if *format != "text" && *format != "json" {
		return fmt.Errorf("stats: --format %q: want text or json", *format)
	}
	path := target
	if pid, err := strconv.Atoi(target); err == nil {
		path = trap.ServicePath(pid)
	}
	for {
		st, err := trap.QueryService(path, *timeout)
		if err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		if *format == "json" {
			if err := json.NewEncoder(e.stdout).Encode(st); err != nil {
				return err
			}
		} else {
			printServiceStats(e.stdout, st)
		}
		if *every <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

// printServiceStats prints a module's counters a line an interface.
func printServiceStats(w io.Writer, st trap.ServiceStats) {
	fmt.Fprintf(w, "input interfaces: %d\n", st.InCount)
	for _, in := range st.In {
		state := "not connected"
		if in.State != 0 {
			state = "connected"
		}
		fmt.Fprintf(w, "  %c:%s  %s  messages %d  buffers %d  last wait %d µs  waited %d s\n",
			in.Type, in.ID, state, in.Messages, in.Buffers, in.DelayLast, in.DelayTotal)
	}
	fmt.Fprintf(w, "output interfaces: %d\n", st.OutCount)
	for _, out := range st.Out {
		fmt.Fprintf(w, "  %c:%s  clients %d  sent %d  dropped %d  buffers %d  autoflushes %d\n",
			out.Type, out.ID, out.Clients, out.Sent, out.Dropped, out.Buffers, out.Autoflushes)
	}
}
