package infer

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/alfd/alfd/features"
)

// FuzzLoadEnsemble feeds any bytes to the model readers (LightGBM text and
// JSON through leaves, XGBoost JSON through alfd's own, XGBoost binary):
// they refuse or load, never panic; and what loads scores any flow, NaN and
// infinities included, the same in a batch (the compiled walk) as one by
// one.
func FuzzLoadEnsemble(f *testing.F) {
	f.Add([]byte(handModel), []byte{})
	f.Add([]byte(lightgbmJSON), []byte{1, 2, 3})
	rng := rand.New(rand.NewPCG(1, 1))
	for _, special := range []bool{false, true} {
		forest := randomForest(rng, forestSpec{trees: 3, leaves: 5, classes: 1, objective: "binary sigmoid:1", special: special}, syntheticVectors(rng, 64))
		var buf bytes.Buffer
		if err := forest.WriteLightGBM(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes(), []byte{0xff, 0xf8, 0, 0, 0, 0, 0, 0}) // a NaN
	}
	f.Add([]byte("tree\nversion=v4\nnum_class=1\n"), []byte{})
	f.Fuzz(func(t *testing.T, model, values []byte) {
		e, _, err := loadEnsemble(model)
		if err != nil || e.NFeatures() > features.N || e.NClasses() != 2 {
			return // refused, here or by Load's checks
		}
		m := &Model{Members: []*Ensemble{e}}
		xs := make([]features.Vector, 9) // eight walk together, one alone
		for i := range xs {
			for j := range xs[i] {
				var b [8]byte
				copy(b[:], values)
				if len(values) > 8 {
					values = values[8:]
				}
				switch v := math.Float64frombits(binary.LittleEndian.Uint64(b[:])); {
				case (i+j)%5 == 0:
					xs[i][j] = v
				default:
					xs[i][j] = float64(int(b[0])-128) * float64(i+1)
				}
			}
		}
		out := make([]Scores, len(xs))
		m.ScoreBatch(xs, out)
		for i := range xs {
			want := e.Proba(xs[i][:])
			if got := out[i].Members[0]; math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
				t.Fatalf("flow %d: batch %v, one by one %v", i, got, want)
			}
		}
	})
}
