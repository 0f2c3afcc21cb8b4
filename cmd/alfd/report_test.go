package main

import (
	"context"
	"encoding/csv"
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReport runs two experiments on the same flows in one working
// directory and reports them: the CSV and the plot give each generation's
// metric as its metrics file has it, and the table sums them up.
func TestReport(t *testing.T) {
	trapcap, blacklist, d0 := synthSetup(t, 3000)
	workdir := filepath.Join(t.TempDir(), "w")
	ids := []string{"random", "uncertainty_unranked"}
	for _, id := range ids {
		if _, stderr, err := runCmd(t, context.Background(), "-i", "f:"+trapcap, "--id", id, "--workdir", workdir, "--blacklist", blacklist,
			"--dpath", d0, "--query_strategy", id, "--query_nmax", "20", "--generation-flows", "1000", "--progress", "0"); err != nil {
			t.Fatalf("%s: %v\n%s", id, err, stderr)
		}
	}
	const metric = "test_all_predicted.mcc"
	want := map[string][]float64{}
	for _, id := range ids {
		for _, r := range reports(t, filepath.Join(workdir, "metrics."+id+".jsonl")) {
			v, ok := r.Metric("test_all_predicted", "mcc")
			if !ok {
				t.Fatalf("%s generation %d has no %s", id, r.Generation, metric)
			}
			want[id] = append(want[id], v)
		}
		if len(want[id]) < 3 {
			t.Fatalf("%s: %d generations, want 3", id, len(want[id]))
		}
	}

	out, stderr, err := runCmd(t, context.Background(), "report", "--workdir", workdir, "--metric", metric, "--format", "csv")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != "id" || rows[0][len(rows[0])-1] != metric {
		t.Errorf("header %v", rows[0])
	}
	got := map[string][]float64{}
	for _, row := range rows[1:] {
		v, err := strconv.ParseFloat(row[len(row)-1], 64)
		if err != nil {
			t.Fatal(err)
		}
		got[row[0]] = append(got[row[0]], v)
	}
	for _, id := range ids {
		if !slices.Equal(got[id], want[id]) {
			t.Errorf("%s: CSV %v, metrics file %v", id, got[id], want[id])
		}
	}

	// The table: a line an experiment, its generations and last value.
	svg := filepath.Join(t.TempDir(), "plot.svg")
	table, _, err := runCmd(t, context.Background(), "report", "--workdir", workdir, "--metric", metric, "--svg", svg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 1+len(ids) {
		t.Fatalf("table:\n%s", table)
	}
	for i, id := range ids {
		f := strings.Fields(lines[1+i])
		last := want[id][len(want[id])-1]
		if f[0] != id || f[1] != strconv.Itoa(len(want[id])) || f[len(f)-3] != strconv.FormatFloat(last, 'f', 4, 64) {
			t.Errorf("table line %q: want %s, %d generations, last %.4f", lines[1+i], id, len(want[id]), last)
		}
	}

	// The plot: a line an experiment, a point a generation, where the
	// metric's value puts it on the axis from -1 to 1.
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	var img struct {
		Lines []struct {
			ID     string `xml:"data-id,attr"`
			Points string `xml:"points,attr"`
		} `xml:"polyline"`
	}
	if err := xml.Unmarshal(data, &img); err != nil {
		t.Fatal(err)
	}
	if len(img.Lines) != len(ids) {
		t.Fatalf("%d lines drawn, want %d", len(img.Lines), len(ids))
	}
	gens := max(len(want[ids[0]]), len(want[ids[1]]))
	for _, l := range img.Lines {
		points := strings.Fields(l.Points)
		if len(points) != len(want[l.ID]) {
			t.Errorf("%s: %d points, want %d", l.ID, len(points), len(want[l.ID]))
			continue
		}
		for g, p := range points {
			xs, ys, _ := strings.Cut(p, ",")
			x, _ := strconv.ParseFloat(xs, 64)
			y, _ := strconv.ParseFloat(ys, 64)
			wx, wy := plotX+float64(g)/float64(gens-1)*plotW, plotY+(1-want[l.ID][g])/2*plotH
			if math.Abs(x-wx) > 0.01 || math.Abs(y-wy) > 0.01 {
				t.Errorf("%s generation %d at (%v, %v), want (%.2f, %.2f)", l.ID, g+1, x, y, wx, wy)
			}
		}
	}

	// A line cut short by a crash is passed over, and said to be.
	f, err := os.OpenFile(filepath.Join(workdir, "metrics.random.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"generation":4,"fl`)
	f.Close()
	out, stderr, err = runCmd(t, context.Background(), "report", "--workdir", workdir, "--id", "random", "--format", "csv")
	if err != nil || strings.Count(out, "\n") != 1+len(want["random"]) || !strings.Contains(stderr, "do not parse were passed over") {
		t.Errorf("a cut line: %v, %d lines\n%s", err, strings.Count(out, "\n"), stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--workdir", t.TempDir()}, "no experiment in"},
		{[]string{"report", "--workdir", workdir, "--id", "nothing"}, "metrics.nothing.jsonl: no such file"},
		{[]string{"report", "--workdir", workdir, "--metric", "test_testset.auc"}, `--metric "test_testset.auc": want SET.NAME`},
		{[]string{"report", "--workdir", workdir, "--format", "xml"}, `--format "xml"`},
	} {
		if _, _, err := runCmd(t, context.Background(), tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestThin: a long experiment is drawn with at most two points a column
// of pixels, its lowest and highest kept, and its gaps.
func TestThin(t *testing.T) {
	const gens = 100_000
	var points []point
	for g := 1; g <= gens; g++ {
		v := 0.9 + 0.05*math.Sin(float64(g)/300)
		switch {
		case g == 54_321:
			v = 0.2 // a drift's dip, one generation long
		case g >= 70_000 && g < 71_000:
			v = math.NaN() // generations without the dry run
		}
		points = append(points, point{g, v})
	}
	thinned := thin(points, gens)
	if len(thinned) > 2*plotW+2 {
		t.Errorf("%d points of %d kept", len(thinned), gens)
	}
	var dip, gap bool
	for i, p := range thinned {
		if i > 0 && p.generation <= thinned[i-1].generation {
			t.Fatalf("point %d, generation %d, after %d", i, p.generation, thinned[i-1].generation)
		}
		dip = dip || p.generation == 54_321
		gap = gap || math.IsNaN(p.value)
	}
	if !dip || !gap {
		t.Errorf("the dip kept: %v, the gap: %v", dip, gap)
	}
	if short := points[:100]; len(thin(short, gens)) != len(short) {
		t.Error("a short experiment thinned")
	}
}
