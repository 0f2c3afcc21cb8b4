package dataset

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/internal/shareddata"
)

func TestReadALFD0(t *testing.T) {
	path := shareddata.Path(t, "alf", "doh_D0.csv")
	d, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doh, other := d.Counts()
	// data/README.md: 999 rows, 486 DoH, 513 not.
	if d.Len() != 999 || doh != 486 || other != 513 {
		t.Errorf("%d rows, %d DoH, %d other", d.Len(), doh, other)
	}
	// The first row: False,2802,925,8,7,15,0.3301213418986438,...
	if d.Y[0] || d.X[0][features.BytesRev] != 2802 || d.X[0][features.BytesRation] != 0.3301213418986438 || d.X[0][features.AvgDelay] != 29.491499999999995 {
		t.Errorf("first row %v %v", d.Y[0], d.X[0])
	}
	// Written back in ALF's format, it reads as the file does, byte for byte.
	var buf bytes.Buffer
	if err := d.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(path)
	if !bytes.Equal(buf.Bytes(), orig) {
		a, b := strings.Split(buf.String(), "\n"), strings.Split(string(orig), "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("line %d differs:\n ours %s\n ALF's %s", i+1, a[i], b[i])
			}
		}
		t.Fatalf("%d lines, ALF's %d", len(a), len(b))
	}
}

func TestReadCSVErrors(t *testing.T) {
	header := "class," + strings.Join(features.Names[:], ",")
	row := func(class string, first string) string {
		vals := make([]string, features.N)
		for i := range vals {
			vals[i] = "1"
		}
		vals[0] = first
		return class + "," + strings.Join(vals, ",")
	}
	for _, tc := range []struct {
		name, csv, want string
	}{
		{"missing columns", "class,bytes_rev\nTrue,1\n", "line 1: no column [bytes packets"},
		{"no class", strings.TrimPrefix(header, "class,") + "\n", "no column [class]"},
		{"not a number", header + "\n" + row("True", "1") + "\n" + row("False", "x") + "\n", `line 3: bytes_rev is "x", not a finite number`},
		{"not finite", header + "\n" + row("True", "inf") + "\n", `line 2: bytes_rev is "inf"`},
		{"NaN", header + "\n" + row("True", "nan") + "\n", `line 2: bytes_rev is "nan"`},
		{"unknown class", header + "\n" + row("Maybe", "1") + "\n", `line 2: class "Maybe" is neither True nor False`},
		{"short row", header + "\nTrue,1\n", "wrong number of fields"},
	} {
		_, err := ReadCSV(strings.NewReader(tc.csv), "d0.csv")
		if !errors.Is(err, ErrBadCSV) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "d0.csv") {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestUndersampleAndSplit(t *testing.T) {
	d := &Dataset{}
	var x features.Vector
	for i := range 1000 {
		x[0] = float64(i)
		d.Add(&x, i%4 == 0) // 250 DoH, 750 other
	}
	rng := rand.New(rand.NewPCG(1, 1))
	c := d.Clone()
	c.Undersample(0, rng)
	if doh, other := c.Counts(); doh != 250 || other != 250 {
		t.Errorf("balanced: %d DoH, %d other", doh, other)
	}
	c = d.Clone()
	c.Undersample(100, rng)
	if c.Len() != 100 {
		t.Errorf("capped at %d rows", c.Len())
	}
	seen := map[float64]bool{}
	for i := range c.X {
		if seen[c.X[i][0]] || c.Y[i] != (int(c.X[i][0])%4 == 0) {
			t.Fatal("a row was duplicated or lost its label")
		}
		seen[c.X[i][0]] = true
	}
	train, test := d.Split(0.7, rand.New(rand.NewPCG(2, 2)))
	if train.Len() != 700 || test.Len() != 300 {
		t.Errorf("split %d/%d", train.Len(), test.Len())
	}
	again, _ := d.Split(0.7, rand.New(rand.NewPCG(2, 2)))
	if again.X[0] != train.X[0] || again.X[699] != train.X[699] {
		t.Error("the same seed splits differently")
	}
}

func TestWriteFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db.csv")
	d := &Dataset{}
	var x features.Vector
	d.Add(&x, true)
	if err := d.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil || back.Len() != 1 || !back.Y[0] {
		t.Fatalf("read back: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
