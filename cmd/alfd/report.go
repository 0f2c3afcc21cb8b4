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

// experiment is what a report says of one experiment id: sums over its
// generations, the metric's, and for a plot the metric's value at each
// generation (NaN where it has none).
type experiment struct {
	id                                   string
	generations                          int
	flows                                uint64
	asked, unknown, added, swaps, dbSize int
	model                                uint32
	first, last, sum, low                float64
	values                               int // generations with the metric
	points                               []point
}

type point struct {
	generation int
	value      float64
}

// add accounts generation r, whose metric is v.
func (x *experiment) add(r *learner.Report, v float64, keepPoints bool) {
	x.generations++
	x.flows += r.Flows
	x.asked, x.unknown, x.added = x.asked+r.Asked, x.unknown+r.Unknown, x.added+r.NewInDB
	if r.Swapped {
		x.swaps++
	}
	x.dbSize, x.model = r.DBSize, r.ModelVersion
	if keepPoints {
		x.points = append(x.points, point{r.Generation, v})
	}
	if math.IsNaN(v) {
		return
	}
	if x.values == 0 {
		x.first, x.low = v, v
	}
	x.values++
	x.last, x.sum, x.low = v, x.sum+v, min(x.low, v)
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
	out, err := createOutput(e, *outPath)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer out.Close()
	var csvOut io.Writer
	if *format == "csv" {
		csvOut = out
		writeReportCSVHeader(out, metric)
	}
	exps, err := readExperiments(*workdir, ids, metric, *svg != "", csvOut, log)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if *svg != "" {
		if err := atomicfile.WriteWith(*svg, func(w io.Writer) error { return drawReports(w, exps, metric) }); err != nil {
			return fmt.Errorf("report: --svg: %w", err)
		}
	}
	if csvOut == nil {
		writeReportTable(out, exps, metric)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// readExperiments reads the metrics files of ids in workdir, or of every
// experiment there when ids is empty, in the order of their ids, a report
// at a time: it sums each up, keeps the metric's points for a plot, and
// writes each generation to csv when it is not nil.
func readExperiments(workdir string, ids []string, metric reportMetric, keepPoints bool, csv io.Writer, log *slog.Logger) ([]experiment, error) {
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
	exps := make([]experiment, len(ids))
	for i, id := range ids {
		x := &exps[i]
		x.id = id
		path := filepath.Join(workdir, "metrics."+id+".jsonl")
		bad, err := learner.ScanReportFile(path, func(r *learner.Report) {
			v := metric.value(r)
			x.add(r, v, keepPoints)
			if csv != nil {
				writeReportCSVLine(csv, id, r, v)
			}
		})
		if err != nil {
			return nil, err
		}
		if len(bad) > 0 {
			log.Warn("lines of the metrics file that do not parse were passed over", "file", path, "lines", bad)
		}
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
		first, last, mean, low := "-", "-", "-", "-"
		if x.values > 0 {
			first, last = fmtMetric(x.first), fmtMetric(x.last)
			mean, low = fmtMetric(x.sum/float64(x.values)), fmtMetric(x.low)
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n",
			width, x.id, x.generations, x.flows, x.asked, x.unknown, x.added, x.dbSize, x.swaps, x.model, first, last, mean, low)
	}
	tw.Flush()
}

func fmtMetric(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// writeReportCSVHeader and writeReportCSVLine write a line for each
// generation of each experiment; the metric is empty where a generation
// has none.
func writeReportCSVHeader(w io.Writer, metric reportMetric) {
	fmt.Fprintf(w, "id,generation,time,flows,asked,unknown_labels,new_in_db,db_size,model_version,swapped,%s\n", metric)
}

func writeReportCSVLine(w io.Writer, id string, r *learner.Report, v float64) {
	value := ""
	if !math.IsNaN(v) {
		value = strconv.FormatFloat(v, 'g', -1, 64)
	}
	fmt.Fprintf(w, "%s,%d,%s,%d,%d,%d,%d,%d,%d,%t,%s\n", csvField(id), r.Generation, r.Time.Format("2006-01-02T15:04:05.000Z07:00"),
		r.Flows, r.Asked, r.Unknown, r.NewInDB, r.DBSize, r.ModelVersion, r.Swapped, value)
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
		for _, p := range x.points {
			gens = max(gens, p.generation)
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
		for _, p := range thin(x.points, gens) {
			if math.IsNaN(p.value) {
				line()
				continue
			}
			px, py := plotPoint(p.generation, gens, max(lo, min(hi, p.value)), lo, hi)
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

// thin keeps of points, generations 1 to gens, those a plot can show
// apart: with more than two a column of pixels, each column's lowest and
// highest, in order, or one without a value where the column has none.
// (A year's generations, every 5 s, are six million points.)
func thin(points []point, gens int) []point {
	if len(points) <= 2*plotW {
		return points
	}
	var out []point
	for i := 0; i < len(points); {
		col := (points[i].generation - 1) * plotW / max(1, gens-1)
		lowest, highest := -1, -1
		j := i
		for ; j < len(points) && (points[j].generation-1)*plotW/max(1, gens-1) == col; j++ {
			v := points[j].value
			if math.IsNaN(v) {
				continue
			}
			if lowest < 0 || v < points[lowest].value {
				lowest = j
			}
			if highest < 0 || v > points[highest].value {
				highest = j
			}
		}
		switch {
		case lowest < 0:
			out = append(out, points[i])
		case lowest == highest:
			out = append(out, points[lowest])
		default:
			out = append(out, points[min(lowest, highest)], points[max(lowest, highest)])
		}
		i = j
	}
	return out
}

// escapeXML escapes s for an XML attribute or text.
func escapeXML(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // a Builder takes every write
	return b.String()
}
