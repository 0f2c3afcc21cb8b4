// Package dataset holds the training database D_i: flows' feature vectors
// with their labels, read from and written to ALF's CSV format, persisted
// crash-safely, trimmed by ALF's postprocessors and split for training.
package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/internal/atomicfile"
)

// Dataset is a set of labelled flows. Y[i] is true for DoH. ID[i] names
// the row for as long as the process runs (they are not saved), so that a
// model's training rows can be told from the others.
type Dataset struct {
	X  []features.Vector
	Y  []bool
	ID []uint64
	// next is the ID of the next row added.
	next uint64
}

// Len is the number of rows.
func (d *Dataset) Len() int { return len(d.X) }

// Add appends a row with a new ID.
func (d *Dataset) Add(x *features.Vector, doh bool) {
	d.next++
	d.add(x, doh, d.next)
}

func (d *Dataset) add(x *features.Vector, doh bool, id uint64) {
	d.X = append(d.X, *x)
	d.Y = append(d.Y, doh)
	d.ID = append(d.ID, id)
}

// Counts returns the number of rows of each class.
func (d *Dataset) Counts() (doh, other int) {
	for _, y := range d.Y {
		if y {
			doh++
		}
	}
	return doh, len(d.Y) - doh
}

// Clone returns a copy that shares nothing with d.
func (d *Dataset) Clone() *Dataset {
	return &Dataset{X: append([]features.Vector(nil), d.X...), Y: append([]bool(nil), d.Y...),
		ID: append([]uint64(nil), d.ID...), next: d.next}
}

// Without returns the rows whose ID is not in ids.
func (d *Dataset) Without(ids map[uint64]bool) *Dataset {
	out := &Dataset{next: d.next}
	for i := range d.X {
		if !ids[d.ID[i]] {
			out.add(&d.X[i], d.Y[i], d.ID[i])
		}
	}
	return out
}

// IDs returns the set of the rows' IDs.
func (d *Dataset) IDs() map[uint64]bool {
	ids := make(map[uint64]bool, len(d.ID))
	for _, id := range d.ID {
		ids[id] = true
	}
	return ids
}

// ErrBadCSV is wrapped by every error about a CSV's content.
var ErrBadCSV = errors.New("bad dataset CSV")

// ReadCSV reads ALF's CSV format: a header naming the column "class" and
// the 24 features (in any order, other columns ignored, so ALF's D_0 and
// its golden feature files both read), then one row per flow, class True
// or False (1 or 0 also do). A missing column, a value that is not a
// finite number or a class that is neither is an error naming the line.
func ReadCSV(r io.Reader, name string) (*Dataset, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w %s: header: %w", ErrBadCSV, name, err)
	}
	classCol := -1
	var cols [features.N]int
	for i := range cols {
		cols[i] = -1
	}
	for c, h := range header {
		if h == "class" {
			classCol = c
		}
		for i, n := range features.Names {
			if h == n {
				cols[i] = c
			}
		}
	}
	var missing []string
	if classCol < 0 {
		missing = append(missing, "class")
	}
	for i, c := range cols {
		if c < 0 {
			missing = append(missing, features.Names[i])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w %s: line 1: no column %v", ErrBadCSV, name, missing)
	}
	d := &Dataset{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return d, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrBadCSV, name, err)
		}
		var x features.Vector
		for i, c := range cols {
			v, err := strconv.ParseFloat(rec[c], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w %s: line %d: %s is %q, not a finite number", ErrBadCSV, name, line, features.Names[i], rec[c])
			}
			x[i] = v
		}
		var y bool
		switch rec[classCol] {
		case "True", "true", "1", "1.0":
			y = true
		case "False", "false", "0", "0.0":
		default:
			return nil, fmt.Errorf("%w %s: line %d: class %q is neither True nor False", ErrBadCSV, name, line, rec[classCol])
		}
		d.Add(&x, y)
	}
}

// ReadFile reads a CSV file in ALF's format.
func ReadFile(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	return ReadCSV(f, path)
}

// WriteCSV writes d in ALF's format (D_0's): class, then the features,
// counts as integers and the rest as Python writes floats.
func (d *Dataset) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	line := []byte("class")
	for _, n := range features.Names {
		line = append(append(line, ','), n...)
	}
	line = append(line, '\n')
	if _, err := bw.Write(line); err != nil {
		return err
	}
	for r := range d.X {
		line = line[:0]
		if d.Y[r] {
			line = append(line, "True"...)
		} else {
			line = append(line, "False"...)
		}
		for i, v := range d.X[r] {
			line = append(line, ',')
			if features.IsIntFeature(i) && v == math.Trunc(v) && math.Abs(v) < 1<<53 {
				line = strconv.AppendInt(line, int64(v), 10)
			} else {
				line = features.AppendFloat(line, v)
			}
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteFile writes d to path crash-safely: to a temporary file beside it,
// synced, then renamed over it, so that path holds the old or the new
// dataset whole.
func (d *Dataset) WriteFile(path string) error {
	var buf bytes.Buffer
	if err := d.WriteCSV(&buf); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

// Undersample is ALF's undersampling postprocessor: it drops rows of the
// larger class at random until both classes are as large, then, if more
// than max rows remain (max > 0), keeps a random max of them.
func (d *Dataset) Undersample(max int, rng *rand.Rand) {
	var doh, other []int
	for i, y := range d.Y {
		if y {
			doh = append(doh, i)
		} else {
			other = append(other, i)
		}
	}
	n := min(len(doh), len(other))
	rng.Shuffle(len(doh), func(i, j int) { doh[i], doh[j] = doh[j], doh[i] })
	rng.Shuffle(len(other), func(i, j int) { other[i], other[j] = other[j], other[i] })
	keep := append(doh[:n], other[:n]...)
	if max > 0 && len(keep) > max {
		rng.Shuffle(len(keep), func(i, j int) { keep[i], keep[j] = keep[j], keep[i] })
		keep = keep[:max]
	}
	d.keep(keep)
}

// keep keeps the rows at the given indexes, in index order.
func (d *Dataset) keep(rows []int) {
	mark := make([]bool, len(d.X))
	for _, r := range rows {
		mark[r] = true
	}
	j := 0
	for i := range d.X {
		if mark[i] {
			d.X[j], d.Y[j], d.ID[j] = d.X[i], d.Y[i], d.ID[i]
			j++
		}
	}
	d.X, d.Y, d.ID = d.X[:j], d.Y[:j], d.ID[:j]
}

// Split divides d at random into a training part of the given fraction and
// a test part (ALF: 70/30), both new datasets.
func (d *Dataset) Split(trainFrac float64, rng *rand.Rand) (train, test *Dataset) {
	perm := rng.Perm(len(d.X))
	nTrain := int(math.Round(trainFrac * float64(len(d.X))))
	train, test = &Dataset{next: d.next}, &Dataset{next: d.next}
	for k, i := range perm {
		if k < nTrain {
			train.add(&d.X[i], d.Y[i], d.ID[i])
		} else {
			test.add(&d.X[i], d.Y[i], d.ID[i])
		}
	}
	return train, test
}
