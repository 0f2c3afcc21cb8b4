package learner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// ScanReports calls fn with each report of an experiment's metrics file
// (metrics.ID.jsonl) read from r, one a generation, in order, without
// holding them: the file grows for as long as the experiment runs. A line
// that does not parse, as one cut short by a crash, is passed over; bad
// holds its number (from 1). fn's report is reused for the next.
func ScanReports(r io.Reader, fn func(*Report)) (bad []int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var rep Report
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		rep = Report{}
		if err := json.Unmarshal(line, &rep); err != nil {
			bad = append(bad, n)
			continue
		}
		fn(&rep)
	}
	return bad, sc.Err()
}

// ScanReportFile is ScanReports of the file at path.
func ScanReportFile(path string, fn func(*Report)) (bad []int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	bad, err = ScanReports(f, fn)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", path, err)
	}
	return bad, nil
}

// ReportSets name the flows a report scores models on: in Metrics, D_i's
// held-out rows (test_testset), the flows asked about (test_only_anotated)
// and all the generation's flows, labelled (test_all_predicted); and the
// running model on held-out rows it has not trained on
// (running_model_unseen, CurrentTest).
var ReportSets = []string{"test_testset", "test_only_anotated", "test_all_predicted", "running_model_unseen"}

// Metric is the figure name (one of evaluate.MetricNames) on the set of
// flows named set (one of ReportSets); ok is false when the report has
// none, as test_all_predicted without ALF's dry run.
func (r *Report) Metric(set, name string) (v float64, ok bool) {
	m, ok := r.Metrics[set]
	if set == "running_model_unseen" {
		m, ok = r.CurrentTest, r.CompareRows > 0
	}
	if !ok {
		return 0, false
	}
	return m.Value(name)
}
