package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/alfd/alfd/internal/atomicfile"
	"github.com/alfd/alfd/learner"
	"github.com/alfd/alfd/learner/evaluate"
)

// experiment is the reports of one experiment id.
type experiment struct {
	id      string
	reports []learner.Report
}

// reportMetric is a figure on a set of flows, as test_all_predicted.f1.
type reportMetric struct{ set, name string }

func (m reportMetric) String() string { return m.set + "." + m.name }

func parseReportMetric(s string) (reportMetric, error) {
	set, name, _ := strings.Cut(s, ".")
	if !slices.Contains(learner.ReportSets, set) || !slices.Contains(evaluate.MetricNames, name) {
		return reportMetric{}, fmt.Errorf("--metric %q: want SET.NAME, SET one of %s, NAME one of %s",
			s, strings.Join(learner.ReportSets, ", "), strings.Join(evaluate.MetricNames, ", "))
	}
	return reportMetric{set, name}, nil
}

// value is the metric in r, NaN when r has none.
func (m reportMetric) value(r *learner.Report) float64 {
	if v, ok := r.Metric(m.set, m.name); ok {
		return v
	}
	return math.NaN()
}

func runReport(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report", "[--workdir DIR] [--id ID]... [--metric SET.NAME] [--format table|csv] [--svg FILE]")
	workdir := fs.String("workdir", "./workdir", "the working directory whose experiments to report")
	var ids listFlag
	fs.Var(&ids, "id", "report this experiment id (may be given several times; default: every one in --workdir)")
	metricName := fs.String("metric", "test_all_predicted.f1", "the figure to report and draw: SET.NAME, SET one of "+strings.Join(learner.ReportSets, ", ")+
		"; NAME one of "+strings.Join(evaluate.MetricNames, ", "))
	format := fs.String("format", "table", "table (a summary of each experiment) or csv (every generation of each, for plotting elsewhere)")
	svg := fs.String("svg", "", "also draw the metric over the generations of each experiment, as an SVG image in this file")
	outPath := fs.String("o", "-", "write the table or CSV to this file (- is standard output)")
	log, err := parseLogged(e, fs, args, nil)
	if err != nil {
		return err
	}
	metric, err := parseReportMetric(*metricName)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if *format != "table" && *format != "csv" {
		return fmt.Errorf("report: --format %q: want table or csv", *format)
	}
	exps, err := readExperiments(*workdir, ids, log)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if *svg != "" {
		if err := atomicfile.WriteWith(*svg, func(w io.Writer) error { return drawReports(w, exps, metric) }); err != nil {
			return fmt.Errorf("report: --svg: %w", err)
		}
	}
	out, err := createOutput(e, *outPath)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer out.Close()
	if *format == "csv" {
		writeReportCSV(out, exps, metric)
	} else {
		writeReportTable(out, exps, metric)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// readExperiments reads the metrics files of ids in workdir, or of every
// experiment there when ids is empty, in the order of their ids.
func readExperiments(workdir string, ids []string, log *slog.Logger) ([]experiment, error) {
	if len(ids) == 0 {
		paths, err := filepath.Glob(filepath.Join(workdir, "metrics.*.jsonl"))
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "metrics."), ".jsonl"))
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("no experiment in %s: it has no metrics.ID.jsonl", workdir)
		}
	}
	var exps []experiment
	for _, id := range ids {
		path := filepath.Join(workdir, "metrics."+id+".jsonl")
		rs, bad, err := learner.ReadReports(path)
		if err != nil {
			return nil, err
		}
		if len(bad) > 0 {
			log.Warn("lines of the metrics file that do not parse were passed over", "file", path, "lines", bad)
		}
		exps = append(exps, experiment{id, rs})
	}
	return exps, nil
}

// writeReportTable sums each experiment up: its generations, the flows
// they read, asked about and added to D_i, its swaps and last model, and
// the metric's first, last, mean and lowest value.
func writeReportTable(w io.Writer, exps []experiment, metric reportMetric) {
	// Numbers to the right; ids to the left, padded to the longest.
	width := len("id")
	for _, x := range exps {
		width = max(width, len(x.id))
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tgenerations\tflows\tasked\tunknown\tnew_in_db\tdb_size\tswaps\tmodel\t%s first\tlast\tmean\tmin\t\n", width, "id", metric)
	for _, x := range exps {
		var flows uint64
		var asked, unknown, added, swaps, dbSize, model int
		var vs []float64
		for i := range x.reports {
			r := &x.reports[i]
			flows += r.Flows
			asked, unknown, added = asked+r.Asked, unknown+r.Unknown, added+r.NewInDB
			if r.Swapped {
				swaps++
			}
			dbSize, model = r.DBSize, int(r.ModelVersion)
			if v := metric.value(r); !math.IsNaN(v) {
				vs = append(vs, v)
			}
		}
		first, last, mean, low := "-", "-", "-", "-"
		if len(vs) > 0 {
			sum := 0.0
			for _, v := range vs {
				sum += v
			}
			first, last = fmtMetric(vs[0]), fmtMetric(vs[len(vs)-1])
			mean, low = fmtMetric(sum/float64(len(vs))), fmtMetric(slices.Min(vs))
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n",
			width, x.id, len(x.reports), flows, asked, unknown, added, dbSize, swaps, model, first, last, mean, low)
	}
	tw.Flush()
}

func fmtMetric(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// writeReportCSV writes a line for each generation of each experiment;
// the metric is empty where a generation has none.
func writeReportCSV(w io.Writer, exps []experiment, metric reportMetric) {
	fmt.Fprintf(w, "id,generation,time,flows,asked,unknown_labels,new_in_db,db_size,model_version,swapped,%s\n", metric)
	for _, x := range exps {
		for i := range x.reports {
			r := &x.reports[i]
			v := ""
			if m := metric.value(r); !math.IsNaN(m) {
				v = strconv.FormatFloat(m, 'g', -1, 64)
			}
			fmt.Fprintf(w, "%s,%d,%s,%d,%d,%d,%d,%d,%d,%t,%s\n", csvField(x.id), r.Generation, r.Time.Format("2006-01-02T15:04:05.000Z07:00"),
				r.Flows, r.Asked, r.Unknown, r.NewInDB, r.DBSize, r.ModelVersion, r.Swapped, v)
		}
	}
}

// csvField quotes s when CSV needs it to.
func csvField(s string) string {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// The image: a plot of plotW × plotH at (plotX, plotY), the legend to its
// right.
const (
	svgW, svgH   = 880, 460
	plotX, plotY = 70, 40
	plotW, plotH = 620, 360
)

// palette tells experiments apart (Tableau 10).
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

// metricRange is the range the metric's axis shows: [0, 1], [-1, 1] for
// MCC.
func metricRange(metric reportMetric) (lo, hi float64) {
	if metric.name == "mcc" {
		return -1, 1
	}
	return 0, 1
}

// plotPoint is where generation g, whose metric is v, is drawn among
// generations 1 to gens.
func plotPoint(g, gens int, v, lo, hi float64) (x, y float64) {
	x = plotX + plotW/2
	if gens > 1 {
		x = plotX + float64(g-1)/float64(gens-1)*plotW
	}
	return x, plotY + (hi-v)/(hi-lo)*plotH
}

// drawReports draws the metric of each experiment over its generations as
// an SVG image: a line each, broken where a generation has no value.
func drawReports(w io.Writer, exps []experiment, metric reportMetric) error {
	gens := 1
	for _, x := range exps {
		for _, r := range x.reports {
			gens = max(gens, r.Generation)
		}
	}
	lo, hi := metricRange(metric)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="14">%s over generations</text>`+"\n", plotX, escapeXML(metric.String()))
	// Horizontal grid lines and their values, a tenth of the range apart.
	for i := 0; i <= 10; i++ {
		v := lo + (hi-lo)*float64(i)/10
		_, y := plotPoint(1, gens, v, lo, hi)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.2f" x2="%d" y2="%.2f" stroke="#ddd"/>`+"\n", plotX, y, plotX+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.2f" text-anchor="end">%s</text>`+"\n", plotX-6, y+4, strconv.FormatFloat(v, 'f', 1, 64))
	}
	// Generations along the bottom, at most about ten of them named.
	step := max(1, (gens+9)/10)
	for g := 1; g <= gens; g += step {
		x, _ := plotPoint(g, gens, lo, lo, hi)
		fmt.Fprintf(&b, `<text x="%.2f" y="%d" text-anchor="middle">%d</text>`+"\n", x, plotY+plotH+18, g)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">generation</text>`+"\n", plotX+plotW/2, plotY+plotH+40)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", plotX, plotY, plotW, plotH)
	for i, x := range exps {
		color, id := palette[i%len(palette)], escapeXML(x.id)
		var points []string
		line := func() {
			if len(points) > 0 {
				fmt.Fprintf(&b, `<polyline data-id="%s" points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", id, strings.Join(points, " "), color)
				points = points[:0]
			}
		}
		for _, r := range x.reports {
			v := metric.value(&r)
			if math.IsNaN(v) {
				line()
				continue
			}
			px, py := plotPoint(r.Generation, gens, max(lo, min(hi, v)), lo, hi)
			points = append(points, fmt.Sprintf("%.2f,%.2f", px, py))
		}
		line()
		ly := plotY + 10 + 20*i
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/>`+"\n", plotX+plotW+16, ly-4, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", plotX+plotW+36, ly+1, id)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// escapeXML escapes s for an XML attribute or text.
func escapeXML(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // a Builder takes every write
	return b.String()
}
