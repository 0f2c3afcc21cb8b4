package features

import (
	"encoding/csv"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
	"github.com/alfd/alfd/trap"
)

var goldenFiles = []string{
	"data.trapcap.202112021705",
	"data.trapcap.202112021735",
	"data.trapcap.202112031435",
	"data.trapcap.202112031450",
	"data.trapcap.202112071115",
}

// readGolden returns the golden rows of a trapcap by record index.
func readGolden(t *testing.T, name string) (header []string, rows map[int][]string) {
	f, err := os.Open(shareddata.Path(t, "alf", "golden", name+".features.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows = make(map[int][]string)
	for _, r := range all[1:] {
		i, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatal(err)
		}
		rows[i] = r
	}
	return all[0], rows
}

func TestGoldenFeatures(t *testing.T) {
	for _, name := range goldenFiles {
		t.Run(name, func(t *testing.T) {
			header, golden := readGolden(t, name)
			if strings.Join(header[5:5+N], ",") != strings.Join(Names[:], ",") {
				t.Fatalf("golden columns %v", header[5:5+N])
			}
			e := NewExtractor(SetALF)
			e.NewBatch()
			var v Vector
			kept, mismatches := 0, 0
			flows := trapcapFlows(t, name)
			for row := range flows {
				want, inGolden := golden[row]
				if e.Compute(&flows[row], &v) != Kept {
					if inGolden {
						t.Errorf("record %d: skipped, but ALF kept it", row)
					}
					continue
				}
				kept++
				if !inGolden {
					t.Errorf("record %d: kept, but ALF dropped it", row)
					continue
				}
				for i := range N {
					text := want[5+i]
					if wantInt := !strings.ContainsAny(text, ".en"); wantInt != e.IsInt(i) {
						t.Errorf("record %d: %s: golden %q, our column is int=%v", row, Names[i], text, e.IsInt(i))
					}
					wantV, err := strconv.ParseFloat(text, 64)
					if err != nil {
						t.Fatal(err)
					}
					if !close(v[i], wantV, e.IsInt(i)) {
						mismatches++
						if mismatches < 20 {
							t.Errorf("record %d: %s = %v, golden %v", row, Names[i], v[i], wantV)
						}
					}
					// The text is the golden text too.
					if got := string(e.AppendValue(nil, &v, i)); got != text && mismatches < 20 && close(v[i], wantV, true) {
						t.Errorf("record %d: %s written %s, golden %s", row, Names[i], got, text)
					}
				}
			}
			if kept != len(golden) {
				t.Errorf("kept %d flows, golden has %d", kept, len(golden))
			}
			if mismatches > 0 {
				t.Errorf("%d values differ", mismatches)
			}
		})
	}
}

// trapcapFlows reads every record of a shared trapcap as a Flow, in order.
func trapcapFlows(tb testing.TB, name string) []Flow {
	tb.Helper()
	spec, err := trap.ParseIfcSpec("f:" + filepath.Join(shareddata.Path(tb, "alf", "trapcaps"), name))
	if err != nil {
		tb.Fatal(err)
	}
	in, err := trap.OpenInput(spec, trap.InputConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	var rr *RecordReader
	var flows []Flow
	for {
		rec, err := in.Next()
		if errors.Is(err, io.EOF) {
			return flows
		}
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		if rr == nil {
			if rr, err = NewRecordReader(rec.Template()); err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
		}
		var f Flow
		rr.Read(rec, &f)
		flows = append(flows, f)
	}
}

// close compares integers exactly and floats within 1e-9 relative.
func close(got, want float64, exact bool) bool {
	if exact || want == 0 {
		return got == want
	}
	return math.Abs(got-want) <= 1e-9*math.Abs(want)
}
