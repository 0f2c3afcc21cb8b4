//go:build !race

// The experiment trains dozens of models: too slow under the race detector,
// which learner_test.go's concurrency tests run under instead.

package learner

import (
	"context"
	"encoding/csv"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/internal/shareddata"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/learner/evaluate"
	"github.com/alfd/alfd/learner/query"
)

// streamFlow is one kept flow of a shared trapcap: its endpoints and the
// features ALF computed (which alfd computes identically).
type streamFlow struct {
	flow annotate.Flow
	x    features.Vector
}

func readStream(t *testing.T, name string) []streamFlow {
	t.Helper()
	f, err := os.Open(shareddata.Path(t, "alf", "golden", "data.trapcap."+name+".features.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]streamFlow, len(rows)-1)
	for i, r := range rows[1:] {
		sf := &out[i]
		sf.flow.Src, sf.flow.Dst = netip.MustParseAddr(r[1]), netip.MustParseAddr(r[2])
		sp, _ := strconv.Atoi(r[3])
		dp, _ := strconv.Atoi(r[4])
		sf.flow.SrcPort, sf.flow.DstPort = uint16(sp), uint16(dp)
		for k := range features.N {
			sf.x[k], _ = strconv.ParseFloat(r[5+k], 64)
		}
	}
	return out
}

// f1On is the DoH class's F1 of the model on flows labelled by the oracle.
func f1On(m *infer.Model, flows []streamFlow, oracle annotate.Oracle) float64 {
	var c evaluate.Confusion
	var s infer.Scores
	for i := range flows {
		m.Score(&flows[i].x, &s)
		truth, _ := oracle.Label(&flows[i].flow)
		c.Add(s.DoH(), truth)
	}
	return c.Metrics(0.5).F1DoH
}

// TestActiveLearningOnSharedTrapcaps starts from D_0 and learns from four
// of the shared trapcaps in time order, one generation each, asking
// ALF's blacklist about at most 100 flows a generation; then measures F1 on
// the fifth. The model trained on D_0 alone does not transfer to this
// stream; every strategy must lift F1 well above it.
func TestActiveLearningOnSharedTrapcaps(t *testing.T) {
	if testing.Short() {
		t.Skip("trains dozens of models")
	}
	blacklist, _, err := annotate.LoadBlacklist(shareddata.Path(t, "alf", "blacklist.txt"))
	if err != nil {
		t.Fatal(err)
	}
	d0 := shareddata.Path(t, "alf", "doh_D0.csv")
	var stream [][]streamFlow
	total := 0
	for _, name := range []string{"202112021705", "202112021735", "202112031435", "202112031450"} {
		g := readStream(t, name)
		stream = append(stream, g)
		total += len(g)
	}
	test := readStream(t, "202112071115")
	for _, tc := range []struct {
		strategy, model string
	}{
		{"random", "single"},
		{"uncertainty_unranked", "single"},
		{"uncertainty_ranked", "single"},
		{"margin_unranked", "single"},
		{"entropy_ranked", "single"},
		{"density_unranked", "single"},
		{"kldiv", "committee"},
		{"ral", "committee"},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			var slot infer.Slot
			l, err := New(context.Background(), Config{
				ID: "exp", WorkDir: t.TempDir(), Model: tc.model, FeatureSet: features.SetALF,
				Strategy: tc.strategy, Params: query.Params{NMax: 100, Seed: 1, RAL: query.RALParams{Budget: 0.1}},
				MaxDBSize: 10000, D0: d0, Oracle: blacklist, Seed: 1,
			}, &slot)
			if err != nil {
				t.Fatal(err)
			}
			before := f1On(slot.Load(), test, blacklist)
			gate := l.NewGate(1)
			asked := 0
			for _, gen := range stream {
				var stats GenerationStats
				m := slot.Load()
				for i := range gen {
					c := Candidate{Flow: gen[i].flow}
					c.X = gen[i].x
					m.Score(&c.X, &c.S)
					stats.Flows++
					truth, _ := blacklist.Label(&c.Flow)
					stats.All.Add(c.S.DoH(), truth)
					if gate.Consider(&c) {
						l.Add(&c)
					}
				}
				r, err := l.Generation(context.Background(), stats)
				if err != nil {
					t.Fatal(err)
				}
				asked += r.Asked
			}
			after := f1On(slot.Load(), test, blacklist)
			t.Logf("%-22s F1 on 202112071115: %.4f from D_0 alone, %.4f after 4 generations; %d of %d flows labelled (%.1f%%), model v%d",
				tc.strategy, before, after, asked, total, 100*float64(asked)/float64(total), l.Version())
			if after < before+0.3 || after < 0.8 {
				t.Errorf("F1 %.4f after learning, %.4f before", after, before)
			}
		})
	}
}
