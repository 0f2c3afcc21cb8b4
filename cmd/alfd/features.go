package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/trap"
)

// alfBatchRecords is how many records ALF reads from a socket per batch
// (pytrap.read_nemea(nrows=50000)); a trapcap file is one batch.
const alfBatchRecords = 50000

func runFeatures(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "features", "-i IFC [--blacklist FILE] [-o FILE]")
	ifc := fs.String("i", "", "input interface (IFC_SPEC), e.g. f:data.trapcap or u:ipfixprobe")
	blacklistPath := fs.String("blacklist", "", "label flows by this blacklist of DoH resolvers (adds the class column)")
	outPath := fs.String("o", "-", "write the CSV to this file (- is standard output)")
	setName := fs.String("set", "alf", "feature set: alf (as ALF computes them, quirks included) or fixed")
	batch := fs.Int("batch", alfBatchRecords, "records per batch on a socket input, as ALF reads them (a file is one batch)")
	var v verbosity
	v.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := v.logger(e.stderr)
	set, err := features.ParseSet(*setName)
	if err != nil {
		return fmt.Errorf("features: --set: %w", err)
	}
	if *batch <= 0 {
		return errors.New("features: --batch must be positive")
	}
	var blacklist *annotate.Blacklist
	if *blacklistPath != "" {
		var bad []*annotate.LineError
		if blacklist, bad, err = annotate.LoadBlacklist(*blacklistPath); err != nil {
			return fmt.Errorf("features: %w", err)
		}
		for _, le := range bad {
			log.Warn("blacklist line skipped", "err", le)
		}
	}
	specs, err := parseIfcs("features", *ifc, 1, 0)
	if err != nil {
		return err
	}
	in, err := trap.OpenInput(specs[0], trap.InputConfig{})
	if err != nil {
		return err
	}
	defer in.Close()
	defer context.AfterFunc(ctx, func() { in.Close() })()

	dst := e.stdout
	if *outPath != "-" {
		f, err := os.Create(*outPath)
		if err != nil {
			return fmt.Errorf("features: %w", err)
		}
		defer f.Close()
		dst = f
	}
	w := &featureCSV{out: bufio.NewWriterSize(dst, 64<<10), ex: features.NewExtractor(set), blacklist: blacklist}
	fileInput := specs[0].Kind == 'f'
	records, skipped := 0, 0
	stream := uint64(0)
	for {
		rec, err := in.Next()
		var se *trap.StreamError
		switch {
		case err == nil:
		case errors.As(err, &se):
			log.Warn("skipped broken input", "err", err)
			skipped++
			w.row++
			continue
		case errors.Is(err, io.EOF), ctx.Err() != nil:
			if err := w.out.Flush(); err != nil {
				return fmt.Errorf("features: %w", err)
			}
			logFeatureStats(log, w.ex.Stats(), records, w.truncated)
			if skipped > 0 {
				return fmt.Errorf("features: %d broken containers or records skipped", skipped)
			}
			return nil
		default:
			return fmt.Errorf("features: %w", err)
		}
		// A new file, connection or ALF-sized chunk is a new batch.
		if st := in.Stats().Streams; st != stream || !fileInput && w.row >= *batch {
			stream = st
			w.newBatch()
		}
		if err := w.write(rec); err != nil {
			return fmt.Errorf("features: input %s at byte %d: %w", in.Name(), in.Offset(), err)
		}
		records++
	}
}

func logFeatureStats(log *slog.Logger, st features.Stats, records, truncated int) {
	args := []any{"records", records, "kept", st.Kept}
	for r := features.NoForward; r <= features.TooFewPackets; r++ {
		args = append(args, "skipped_"+r.String(), st.Skipped[r])
	}
	log.Info("features computed", args...)
	if truncated > 0 {
		log.Warn("per-packet arrays longer than 30 entries were cut at 30", "flows", truncated)
	}
}

// featureCSV writes kept flows as ALF's golden feature files have them.
type featureCSV struct {
	out       *bufio.Writer
	ex        *features.Extractor
	blacklist *annotate.Blacklist
	reader    *features.RecordReader
	src, dst  *trap.Field
	sport     *trap.Field
	dport     *trap.Field
	row       int
	header    bool
	truncated int
	flow      features.Flow
	vec       features.Vector
	line      []byte
}

func (w *featureCSV) newBatch() {
	w.ex.NewBatch()
	w.row = 0
}

func (w *featureCSV) write(rec trap.Record) error {
	defer func() { w.row++ }()
	if w.reader == nil || w.reader.Template() != rec.Template() {
		t := rec.Template()
		r, err := features.NewRecordReader(t)
		if err != nil {
			return err
		}
		if w.src, err = t.Lookup("SRC_IP", trap.TypeIP); err == nil {
			if w.dst, err = t.Lookup("DST_IP", trap.TypeIP); err == nil {
				if w.sport, err = t.Lookup("SRC_PORT", trap.TypeUint16); err == nil {
					w.dport, err = t.Lookup("DST_PORT", trap.TypeUint16)
				}
			}
		}
		if err != nil {
			return err
		}
		w.reader = r
	}
	if w.reader.Read(rec, &w.flow) {
		w.truncated++
	}
	if w.ex.Compute(&w.flow, &w.vec) != features.Kept {
		return nil
	}
	line := w.line[:0]
	if !w.header {
		line = append(line, "row,SRC_IP,DST_IP,SRC_PORT,DST_PORT"...)
		for _, name := range features.Names {
			line = append(append(line, ','), name...)
		}
		if w.blacklist != nil {
			line = append(line, ",class"...)
		}
		line = append(line, '\n')
		w.header = true
	}
	src, dst := rec.IP(w.src), rec.IP(w.dst)
	sport, dport := rec.Uint16(w.sport), rec.Uint16(w.dport)
	line = strconv.AppendInt(line, int64(w.row), 10)
	line = append(src.AppendTo(append(line, ',')), ',')
	line = append(dst.AppendTo(line), ',')
	line = append(strconv.AppendUint(line, uint64(sport), 10), ',')
	line = strconv.AppendUint(line, uint64(dport), 10)
	for i := range features.N {
		line = w.ex.AppendValue(append(line, ','), &w.vec, i)
	}
	if w.blacklist != nil {
		if w.blacklist.IsDoH(src, dst, sport, dport) {
			line = append(line, ",True"...)
		} else {
			line = append(line, ",False"...)
		}
	}
	w.line = append(line, '\n')
	_, err := w.out.Write(w.line)
	return err
}
