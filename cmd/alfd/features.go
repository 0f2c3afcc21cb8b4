package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/alfd/alfd/classify"
	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/trap"
)

// alfBatchRecords is how many records ALF reads from a socket per batch
// (pytrap.read_nemea(nrows=50000)); a trapcap file is one batch.
const alfBatchRecords = 50000

func runFeatures(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "features", "-i IFC [--blacklist FILE] [--domains FILE] [--labels FILE] [-o FILE]")
	ifc := fs.String("i", "", "input interface (IFC_SPEC), e.g. f:data.trapcap or u:ipfixprobe")
	var lists oracleFlags
	lists.register(fs, "label flows by this blacklist of DoH resolvers (adds the class column; flows no list knows are left out and counted)")
	outPath := fs.String("o", "-", "write the CSV to this file (- is standard output)")
	setp := setFlag(fs, "feature set: alf (as ALF computes them, quirks included) or fixed")
	batch := fs.Int("batch", alfBatchRecords, "records per batch on a socket input, as ALF reads them (a file is one batch)")
	log, err := parseLogged(e, fs, args, nil)
	if err != nil {
		return err
	}
	set := *setp
	var oracle annotate.Oracle
	if lists.given() {
		if oracle, _, err = lists.load(log); err != nil {
			return fmt.Errorf("features: %w", err)
		}
	}
	fr, err := openFlowReader(ctx, "features", *ifc, set, *batch)
	if err != nil {
		return err
	}
	defer fr.close()
	out, err := createOutput(e, *outPath)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	defer out.Close()
	var line []byte
	header := false
	unknown := 0 // kept flows no list knows, left out
	for {
		ok, err := fr.next(log)
		if err != nil {
			return fmt.Errorf("features: %w", err)
		}
		if !ok {
			break
		}
		if !fr.kept {
			continue
		}
		f := &fr.flow
		doh, known := false, true
		if oracle != nil {
			if doh, known = oracle.Label(f); !known {
				unknown++
				continue
			}
		}
		line = line[:0]
		if !header {
			line = append(line, "row,SRC_IP,DST_IP,SRC_PORT,DST_PORT"...)
			for _, name := range features.Names {
				line = append(append(line, ','), name...)
			}
			if oracle != nil {
				line = append(line, ",class"...)
			}
			line = append(line, '\n')
			header = true
		}
		line = strconv.AppendInt(line, int64(fr.row), 10)
		line = append(f.Src.AppendTo(append(line, ',')), ',')
		line = append(f.Dst.AppendTo(line), ',')
		line = append(strconv.AppendUint(line, uint64(f.SrcPort), 10), ',')
		line = strconv.AppendUint(line, uint64(f.DstPort), 10)
		for i := range features.N {
			line = fr.ex.AppendValue(append(line, ','), &fr.vec, i)
		}
		if oracle != nil {
			line = append(append(line, ','), pythonBool(doh)...)
		}
		line = append(line, '\n')
		if _, err := out.Write(line); err != nil {
			return fmt.Errorf("features: %w", err)
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if unknown > 0 {
		log.Warn("flows no list could label were left out", "flows", unknown)
	}
	return fr.finish(log)
}

// pythonBool is b as ALF's CSVs write it.
func pythonBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// flowReader reads UniRec flows from a TRAP input and computes their
// features batch by batch as ALF does: a new batch at every file or
// connection, and every ALF-sized chunk of a socket input.
type flowReader struct {
	ctx       context.Context
	cmd       string
	in        *trap.Reader
	stop      func() bool
	fileInput bool
	batch     int

	ex        *features.Extractor
	reader    *classify.RecordReader
	stream    uint64
	records   int
	skipped   int
	broken    classify.BrokenLog
	truncated int
	rawFlow   features.Flow
	flow      annotate.Flow // the endpoints of the flow read last
	row       int           // its index in the batch
	kept      bool          // whether ALF's filters kept it
	vec       features.Vector
}

func openFlowReader(ctx context.Context, cmd, ifc string, set features.Set, batch int) (*flowReader, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("%s: --batch must be positive", cmd)
	}
	specs, err := parseIfcs(cmd, "-i", ifc, 1, 0)
	if err != nil {
		return nil, err
	}
	in, err := trap.OpenInput(specs[0], trap.InputConfig{})
	if err != nil {
		return nil, err
	}
	fr := &flowReader{ctx: ctx, cmd: cmd, in: in, fileInput: specs[0].Kind == 'f', batch: batch,
		ex: features.NewExtractor(set), row: -1}
	fr.stop = context.AfterFunc(ctx, func() { in.Close() })
	return fr, nil
}

func (fr *flowReader) close() {
	fr.stop()
	fr.in.Close()
}

// next reads the next record; false at the end of the input. Broken input
// is skipped with a warning and counted.
func (fr *flowReader) next(log *slog.Logger) (bool, error) {
	for {
		rec, err := fr.in.Next()
		switch {
		case err == nil:
		case trap.Skipped(err):
			fr.broken.Skipped(log, err)
			fr.skipped++
			fr.row++
			continue
		case errors.Is(err, io.EOF), fr.ctx.Err() != nil:
			return false, nil
		default:
			return false, err
		}
		if st := fr.in.Stats().Streams; st != fr.stream || !fr.fileInput && fr.row+1 >= fr.batch {
			fr.stream = st
			fr.ex.NewBatch()
			fr.row = -1
		}
		fr.row++
		if err := fr.read(rec); err != nil {
			return false, fmt.Errorf("input %s at byte %d: %w", fr.in.Name(), fr.in.Offset(), err)
		}
		fr.records++
		return true, nil
	}
}

// read computes a record's features and notes its endpoints.
func (fr *flowReader) read(rec trap.Record) error {
	if fr.reader == nil || fr.reader.Template() != rec.Template() {
		r, err := classify.NewRecordReader(rec.Template())
		if err != nil {
			return err
		}
		fr.reader = r
	}
	if fr.reader.Read(rec, &fr.rawFlow, &fr.flow) {
		fr.truncated++
	}
	fr.flow.SNI = string(fr.reader.SNI(rec))
	fr.kept = fr.ex.Compute(&fr.rawFlow, &fr.vec) == features.Kept
	return nil
}

// finish logs what was read and reports broken input as an error.
func (fr *flowReader) finish(log *slog.Logger) error {
	fr.broken.Flush(log)
	st := fr.ex.Stats()
	args := []any{"input", fr.in.Name(), "records", fr.records, "kept", st.Kept}
	for r := features.NoForward; r <= features.TooFewPackets; r++ {
		args = append(args, "skipped_"+r.String(), st.Skipped[r])
	}
	log.Info("flows read", args...)
	if fr.truncated > 0 {
		log.Warn("per-packet arrays longer than 30 entries were cut at 30", "flows", fr.truncated)
	}
	if fr.skipped > 0 {
		return fmt.Errorf("%s: %d broken containers or records skipped", fr.cmd, fr.skipped)
	}
	return nil
}
