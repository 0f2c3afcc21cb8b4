package learner

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/alfd/alfd/learner/evaluate"
)

func TestScanReports(t *testing.T) {
	var data []byte
	for g := 1; g <= 3; g++ {
		r := Report{Generation: g, Flows: 1000, Metrics: map[string]evaluate.Metrics{"test_testset": {F1: 0.5 + float64(g)/10}}}
		if g == 2 {
			r.Metrics["test_all_predicted"] = evaluate.Metrics{MCC: -0.25}
			r.CurrentTest, r.CompareRows = evaluate.Metrics{Recall: 0.75}, 60
		}
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if g == 3 {
			line = line[:len(line)/2] // cut short by a crash
		}
		data = append(append(data, line...), '\n', '\n')
	}
	path := filepath.Join(t.TempDir(), "metrics.x.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var rs []Report
	bad, err := ScanReportFile(path, func(r *Report) { rs = append(rs, *r) })
	if err != nil || len(rs) != 2 || !slices.Equal(bad, []int{5}) {
		t.Fatalf("%d reports, bad lines %v, %v; want 2 and line 5", len(rs), bad, err)
	}
	for _, tc := range []struct {
		r         int
		set, name string
		v         float64
		ok        bool
	}{
		{0, "test_testset", "f1", 0.6, true},
		{0, "test_all_predicted", "mcc", 0, false}, // no dry run
		{0, "running_model_unseen", "recall", 0, false},
		{1, "test_all_predicted", "mcc", -0.25, true},
		{1, "running_model_unseen", "recall", 0.75, true},
		{1, "test_testset", "auc", 0, false},
	} {
		if v, ok := rs[tc.r].Metric(tc.set, tc.name); v != tc.v || ok != tc.ok {
			t.Errorf("generation %d %s.%s: %v %v, want %v %v", tc.r+1, tc.set, tc.name, v, ok, tc.v, tc.ok)
		}
	}
	if _, err := ScanReportFile(filepath.Join(t.TempDir(), "none.jsonl"), func(*Report) {}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
