package classify

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/internal/shareddata"
	"github.com/alfd/alfd/learner"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/learner/dataset"
	"github.com/alfd/alfd/trap"
)

// trainModel trains a model of kind on d and loads it as alfd would.
func trainModel(tb testing.TB, kind string, d *dataset.Dataset) *infer.Model {
	tb.Helper()
	forests, err := learner.TrainModel(context.Background(), kind, d, 1)
	if err != nil {
		tb.Fatal(err)
	}
	k := infer.KindSingle
	if kind == "committee" {
		k = infer.KindCommittee
	}
	path, err := learner.WriteModel(tb.TempDir(), 1, k, features.SetALF, forests, d.Len())
	if err != nil {
		tb.Fatal(err)
	}
	m, err := infer.Load(path, features.SetALF)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// d0Model is a model trained on ALF's D_0.
func d0Model(tb testing.TB, kind string) *infer.Model {
	d, err := dataset.ReadFile(shareddata.Path(tb, "alf", "doh_D0.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	return trainModel(tb, kind, d)
}

func alfBlacklist(tb testing.TB) *annotate.Blacklist {
	b, _, err := annotate.LoadBlacklist(shareddata.Path(tb, "alf", "blacklist.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func openInput(tb testing.TB, ifc string) *trap.Reader {
	tb.Helper()
	spec, err := trap.ParseIfcSpec(ifc)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := trap.OpenInput(spec, trap.InputConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

func openOutput(tb testing.TB, ifc string) *trap.Writer {
	tb.Helper()
	spec, err := trap.ParseIfcSpec(ifc)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := trap.OpenOutput(spec)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	return w
}

// TestGoldenTrapcaps classifies ALF's trapcaps: every flow ALF kept comes
// out, in order, with the model's verdict on the features ALF computed for
// it, and the dry run labels each against the blacklist.
func TestGoldenTrapcaps(t *testing.T) {
	m := d0Model(t, "single")
	var slot infer.Slot
	slot.Store(m)
	blacklist := alfBlacklist(t)
	dir := shareddata.Path(t, "alf", "trapcaps")
	for _, name := range []string{"data.trapcap.202112021705", "data.trapcap.202112071115"} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			var gens []learner.GenerationStats
			p := New(Config{Set: features.SetALF, Slot: &slot, Oracle: blacklist, Output: NewTextOutput(&out, false),
				OnGeneration: func(s learner.GenerationStats) { gens = append(gens, s) }})
			in := openInput(t, "f:"+filepath.Join(dir, name))
			if err := p.Run(context.Background(), TrapSource{in}); err != nil {
				t.Fatal(err)
			}
			golden := readCSV(t, shareddata.Path(t, "alf", "golden", name+".features.csv"))
			got := csvRows(t, &out)
			if len(got) != len(golden) {
				t.Fatalf("%d flows out, %d in ALF's golden features", len(got)-1, len(golden)-1)
			}
			col := columns(got[0])
			dohTruth := 0
			for i, g := range golden[1:] {
				row := got[i+1]
				for k, name := range []string{"SRC_IP", "DST_IP", "SRC_PORT", "DST_PORT"} {
					if row[col[name]] != g[1+k] {
						t.Fatalf("flow %d: %s %s, golden %s", i, name, row[col[name]], g[1+k])
					}
				}
				var x features.Vector
				for k := range features.N {
					x[k] = parseFloat(t, g[5+k])
				}
				var s infer.Scores
				m.Score(&x, &s)
				wantDoH := "0"
				if s.DoH() {
					wantDoH = "1"
				}
				if proba := parseFloat(t, row[col["DOH_PROBA"]]); proba != s.Proba || row[col["DOH"]] != wantDoH || row[col["MODEL_VERSION"]] != "1" {
					t.Fatalf("flow %d: DOH %s DOH_PROBA %v MODEL_VERSION %s; the model says %v on ALF's features",
						i, row[col["DOH"]], proba, row[col["MODEL_VERSION"]], s.Proba)
				}
				if g[len(g)-1] == "True" {
					dohTruth++
				}
			}
			st := p.Stats()
			kept := uint64(len(golden) - 1)
			if st.Classified.Load() != kept || st.Sent.Load() != kept || st.BadInput.Load() != 0 {
				t.Errorf("classified %d, sent %d, bad input %d; want %d, %d, 0", st.Classified.Load(), st.Sent.Load(), st.BadInput.Load(), kept, kept)
			}
			skipped := uint64(0)
			for r := range st.Skipped {
				skipped += st.Skipped[r].Load()
			}
			if st.Records.Load() != in.Stats().Messages || st.Records.Load() != kept+skipped {
				t.Errorf("%d records read, %d in the file; %d kept and %d skipped", st.Records.Load(), in.Stats().Messages, kept, skipped)
			}
			if len(gens) != 1 || gens[0].Flows != st.Records.Load() || gens[0].All.N() != int(kept) {
				t.Fatalf("generations %+v", gens)
			}
			if c := gens[0].All; c.TP+c.FN != dohTruth {
				t.Errorf("the dry run found %d DoH flows, ALF's labels %d", c.TP+c.FN, dohTruth)
			}
		})
	}
}

func parseFloat(tb testing.TB, s string) float64 {
	tb.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func readCSV(tb testing.TB, path string) [][]string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	return csvRows(tb, f)
}

func csvRows(tb testing.TB, r io.Reader) [][]string {
	tb.Helper()
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

func columns(header []string) map[string]int {
	col := make(map[string]int)
	for i, name := range header {
		col[name] = i
	}
	return col
}
