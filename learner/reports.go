package learner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// ReadReports reads the reports of an experiment's metrics file
// (metrics.ID.jsonl), one a generation, in order. A line that does not
// parse, as one cut short by a crash, is passed over; bad holds its
// number.
func ReadReports(path string) (rs []Report, bad []int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	rs, bad = parseReports(data)
	return rs, bad, nil
}

// parseReports parses the lines of data as reports, passing over those
// that do not parse (bad: their numbers, from 1) and blank ones.
func parseReports(data []byte) (rs []Report, bad []int) {
	for n, line := range bytes.Split(data, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Report
		if err := json.Unmarshal(line, &r); err != nil {
			bad = append(bad, n+1)
			continue
		}
		rs = append(rs, r)
	}
	return rs, bad
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
