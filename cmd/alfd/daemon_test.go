package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/internal/shareddata"
	"github.com/alfd/alfd/learner"
	"github.com/alfd/alfd/learner/dataset"
	"github.com/alfd/alfd/trap"
)

// syncBuffer is a bytes.Buffer for output written by several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startDaemon runs alfd with args until ctx ends; the result comes on the
// channel.
func startDaemon(ctx context.Context, args ...string) (<-chan error, *syncBuffer) {
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &out, &errOut) }()
	return done, &errOut
}

// freeAddr is a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// reports reads the metrics file of a working directory.
func reports(t *testing.T, path string) []learner.Report {
	t.Helper()
	var rs []learner.Report
	bad, err := learner.ScanReportFile(path, func(r *learner.Report) { rs = append(rs, *r) })
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil || len(bad) > 0 {
		t.Fatalf("%s: %v, lines %v do not parse", path, err, bad)
	}
	return rs
}

// checkWorkdir checks that a working directory holds a readable D_i, state,
// metrics and model, and returns the reports.
func checkWorkdir(t *testing.T, dir, id string) []learner.Report {
	t.Helper()
	d, err := dataset.ReadFile(filepath.Join(dir, "db."+id+".csv"))
	if err != nil || d.Len() == 0 {
		t.Fatalf("D_i: %v (%d rows)", err, d.Len())
	}
	var state struct {
		Generation int    `json:"generation"`
		Version    uint32 `json:"model_version"`
		Model      string `json:"model"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "state."+id+".json"))
	if err == nil {
		err = json.Unmarshal(data, &state)
	}
	if err != nil {
		t.Fatalf("state: %v", err)
	}
	m, err := infer.Load(filepath.Join(dir, state.Model), features.SetALF)
	if err != nil || m.Version != state.Version {
		t.Fatalf("model %s: %v (version %d, state says %d)", state.Model, err, m.Version, state.Version)
	}
	return reports(t, filepath.Join(dir, "metrics."+id+".jsonl"))
}

// TestDaemonOverSockets is the first acceptance test: a trapcap
// replayed over u: into alfd started with ALF's command line; a reader of
// alfd's output gets every kept flow with its prediction; the working
// directory then holds D_i, models and metrics; a restart goes on.
func TestDaemonOverSockets(t *testing.T) {
	trapcap := shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112071115")
	golden := shareddata.Path(t, "alf", "golden", "data.trapcap.202112071115.features.csv")
	blacklist := shareddata.Path(t, "alf", "blacklist.txt")
	d0 := shareddata.Path(t, "alf", "doh_D0.csv")
	t.Setenv("TRAP_SOCKET_DIR", t.TempDir())
	workdir := filepath.Join(t.TempDir(), "workdir")
	metricsAddr := freeAddr(t)
	alfArgs := []string{"--id", "test_random", "--workdir", workdir, "--model", "single",
		"--query_strategy", "random", "--blacklist", blacklist, "--query_nmax", "1", "--max_db_size", "10000", "--dpath", d0}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, logs := startDaemon(ctx, append([]string{"--i", "u:alf_socket,u:alfd_out", "--metrics", metricsAddr}, alfArgs...)...)

	// A NEMEA module reading alfd's output.
	spec, _ := trap.ParseIfcSpec("u:alfd_out")
	out, err := trap.OpenInput(spec, trap.InputConfig{RetryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	type flow struct{ src, dst, doh, proba, version string }
	got := make(chan flow, 1000)
	go func() {
		defer close(got)
		for {
			rec, err := out.Next()
			if err != nil {
				return
			}
			tm := rec.Template()
			text := func(name string) string { return string(rec.AppendValue(nil, tm.Field(name))) }
			got <- flow{text("SRC_IP"), text("DST_IP"), text("DOH"), text("DOH_PROBA"), text("MODEL_VERSION")}
		}
	}()

	// traffic_repeater's part.
	if _, stderr, err := runCmd(t, ctx, "replay", "-i", "f:"+trapcap+",u:alf_socket"); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}
	rows := readCSVFile(t, golden)[1:]
	for i, want := range rows {
		select {
		case f := <-got:
			if f.src != want[1] || f.dst != want[2] || (f.doh != "0" && f.doh != "1") || f.proba == "" || f.version != "1" {
				t.Fatalf("flow %d out: %+v; ALF kept %v", i, f, want[1:5])
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d flows came out\n%s", i, len(rows), logs)
		}
	}
	// The end of the replay's stream ends a generation.
	metricsFile := filepath.Join(workdir, "metrics.test_random.jsonl")
	waitFor(t, "the first generation", 60*time.Second, func() bool { return len(reports(t, metricsFile)) == 1 })

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"alfd_records_total 745\n", fmt.Sprintf("alfd_flows_classified_total %d\n", len(rows)),
		`alfd_flows_dropped_total{reason="no_reverse_packets"}`, "alfd_output_records_total 368\n",
		"alfd_queries_total 1\n", "alfd_generation 1\n", "alfd_model_f1 0.", "alfd_generation_errors_total 0\n",
		"alfd_generation_roc_auc_all_predicted 0.",
		"alfd_queries_unknown_total 0\n", `alfd_oracle_entries{list="blacklist"} 225` + "\n", // data/README.md: 225 unique addresses
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	// NEMEA's supervisor (and trap_stats, and alfd stats) see the same
	// counts on the service interface.
	stats, stderr, err := runCmd(t, ctx, "stats", "--format", "json", strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Fatalf("stats: %v\n%s", err, stderr)
	}
	var svc trap.ServiceStats
	if err := json.Unmarshal([]byte(stats), &svc); err != nil {
		t.Fatal(err)
	}
	if svc.InCount != 1 || svc.OutCount != 1 || svc.In[0].ID != "alf_socket" || svc.In[0].Messages != 745 || svc.In[0].Buffers == 0 ||
		svc.Out[0].ID != "alfd_out" || svc.Out[0].Sent != 368 || svc.Out[0].Clients != 1 || svc.Out[0].Type != 'u' {
		t.Errorf("service interface: %+v", svc)
	}
	// When the generation ran, for an alert on a learner that stopped.
	began := reports(t, metricsFile)[0].Time
	_, value, _ := strings.Cut(string(body), "\nalfd_generation_timestamp_seconds ")
	value, _, _ = strings.Cut(value, "\n")
	if at, err := strconv.ParseFloat(value, 64); err != nil || math.Abs(at-float64(began.UnixNano())/1e9) > 1e-3 {
		t.Errorf("alfd_generation_timestamp_seconds %q, want %v", value, began)
	}

	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("alfd: %v\n%s", err, logs)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("alfd took %v to stop", d)
	}
	if _, err := os.Stat(trap.ServicePath(os.Getpid())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the service socket is left behind: %v", err)
	}
	first := checkWorkdir(t, workdir, "test_random")
	if r := first[0]; r.Generation != 1 || r.Flows != 745 || r.Asked != 1 || r.Metrics["test_all_predicted"].Accuracy == 0 {
		t.Errorf("first generation: %+v", r)
	}

	// A restart goes on from the working directory; this time from a file,
	// which ends by itself.
	other := shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112031435")
	stdout, stderr, err := runCmd(t, context.Background(), append([]string{"--i", "f:" + other}, alfArgs...)...)
	if err != nil {
		t.Fatalf("restart: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "continuing from the working directory") || strings.Contains(stderr, "training the first model") {
		t.Errorf("the restart did not continue:\n%s%s", stdout, stderr)
	}
	all := checkWorkdir(t, workdir, "test_random")
	if len(all) != 2 || all[1].Generation != 2 || all[1].DBSize < first[0].DBSize || all[1].ModelVersion < first[0].ModelVersion {
		t.Errorf("after the restart: %+v", all)
	}
}

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rows = append(rows, strings.Split(sc.Text(), ","))
	}
	return rows
}

// synthSetup writes a synthetic trapcap, its blacklist and a D_0 with
// alfd generate, for tests that need no shared data.
func synthSetup(t *testing.T, flows int) (trapcap, blacklist, d0 string) {
	t.Helper()
	dir := t.TempDir()
	trapcap, blacklist, d0 = filepath.Join(dir, "synth.trapcap"), filepath.Join(dir, "blacklist.txt"), filepath.Join(dir, "d0.csv")
	if _, stderr, err := runCmd(t, context.Background(), "generate", "-o", "f:"+trapcap, "--flows", fmt.Sprint(flows),
		"--blacklist", blacklist, "--d0", d0, "--d0-flows", "600"); err != nil {
		t.Fatalf("generate: %v\n%s", err, stderr)
	}
	return trapcap, blacklist, d0
}

// TestDaemonSIGTERM is the acceptance test for stopping: alfd, a
// process of its own, is sent SIGTERM while it classifies a stream and
// trains, exits within 2 s, and a restart finds D_i, models and metrics
// intact. Before, SIGHUP reloads its blacklist, reopens its --output that
// was moved away, and leaves it running.
func TestDaemonSIGTERM(t *testing.T) {
	bin := buildAlfd(t)
	// The binary makes the stream: faster than this test's build, which
	// may have the race detector.
	dir := t.TempDir()
	trapcap, blacklist, d0 := filepath.Join(dir, "synth.trapcap"), filepath.Join(dir, "blacklist.txt"), filepath.Join(dir, "d0.csv")
	if out, err := exec.Command(bin, "generate", "-o", "f:"+trapcap, "--flows", "60000", "--blacklist", blacklist,
		"--d0", d0, "--d0-flows", "600").CombinedOutput(); err != nil {
		t.Fatalf("generate: %v\n%s", err, out)
	}
	sockets := t.TempDir()
	t.Setenv("TRAP_SOCKET_DIR", sockets)
	workdir := filepath.Join(t.TempDir(), "workdir")
	args := []string{"--id", "stop", "--workdir", workdir, "--model", "single", "--query_strategy", "uncertainty_unranked",
		"--blacklist", blacklist, "--dpath", d0, "--query_nmax", "200", "--generation-flows", "5000"}
	output := filepath.Join(dir, "flows.csv")
	cmd := exec.Command(bin, append([]string{"-i", "u:alfd_in,b:", "--output", output, "--output-format", "csv"}, args...)...)
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Feed it until it has run a generation and is busy with more.
	ctx, stopFeed := context.WithCancel(context.Background())
	defer stopFeed()
	// Four copies: the stream lasts past the SIGHUP below.
	copies := t.TempDir()
	data, err := os.ReadFile(trapcap)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := os.WriteFile(filepath.Join(copies, fmt.Sprintf("%d.trapcap", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fed := make(chan error, 1)
	go func() {
		_, _, err := runCmd(t, ctx, "replay", "-i", "f:"+filepath.Join(copies, "*.trapcap")+",u:alfd_in")
		fed <- err
	}()
	metricsFile := filepath.Join(workdir, "metrics.stop.jsonl")
	waitFor(t, "a generation", 60*time.Second, func() bool { return len(reports(t, metricsFile)) >= 1 })

	// SIGHUP reloads the blacklist (the file has not changed: only the
	// signal reloads it), and opens --output anew, moved away as logrotate
	// does; alfd goes on.
	rotated := output + ".1"
	if err := os.Rename(output, rotated); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the blacklist to reload on SIGHUP", 10*time.Second, func() bool { return strings.Contains(logs.String(), "blacklist reloaded") })
	waitFor(t, "flows in the reopened output", 20*time.Second, func() bool {
		fi, err := os.Stat(output)
		return err == nil && fi.Size() > 0
	})

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("alfd exited with %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("alfd still runs 10 s after SIGTERM\n%s", logs.String())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("alfd took %v to stop after SIGTERM", d)
	}
	stopFeed()
	<-fed
	if !strings.Contains(logs.String(), "alfd stopped") {
		t.Errorf("no summary in the log:\n%s", logs.String())
	}
	// Every flow classified is in one file or the other, each file
	// starting with the CSV header.
	_, summary, _ := strings.Cut(logs.String(), `msg="alfd stopped"`)
	_, classified, _ := strings.Cut(summary, " classified=")
	classified, _, _ = strings.Cut(classified, " ")
	var rows int
	for _, path := range []string{rotated, output} {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(text), "DST_IP,") {
			t.Errorf("%s starts %.40q, not with the header", path, text)
		}
		rows += strings.Count(string(text), "\n") - 1
	}
	if strconv.Itoa(rows) != classified {
		t.Errorf("%d flows in the output files, %s classified", rows, classified)
	}
	before := checkWorkdir(t, workdir, "stop")

	// The restart reads all of it and goes on.
	small, _, _ := synthSetup(t, 3000)
	_, stderr, err := runCmd(t, context.Background(), append([]string{"-i", "f:" + small}, args...)...)
	if err != nil {
		t.Fatalf("restart: %v\n%s", err, stderr)
	}
	after := checkWorkdir(t, workdir, "stop")
	if len(after) != len(before)+1 || after[len(after)-1].Generation != before[len(before)-1].Generation+1 {
		t.Errorf("%d reports before the restart, %d after", len(before), len(after))
	}
}

// TestDaemonOptions: ALF's and alfd's options are checked before anything
// runs, with errors that say what is wrong; a YAML file holds settings that
// flags override; -h shows the options and the commands.
func TestDaemonOptions(t *testing.T) {
	trapcap, blacklist, d0 := synthSetup(t, 2000)
	dir := t.TempDir()
	base := []string{"-i", "f:" + trapcap, "--workdir", filepath.Join(dir, "w"), "--blacklist", blacklist, "--dpath", d0}
	yamlFile := func(text string) string {
		path := filepath.Join(t.TempDir(), "alfd.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--blacklist", blacklist}, "-i is required"},
		{[]string{"-i", "b:", "--blacklist", blacklist}, "output-only"},
		{[]string{"-i", "f:" + trapcap}, "--blacklist is required"},
		{[]string{"-i", "f:" + trapcap, "--domains", blacklist, "--blacklist-ports", "443"}, "--blacklist-ports needs --blacklist"},
		{append(base, "--blacklist-ports", "443,0"), `"0" is not a port number`},
		{append(base, "--domains-decide"), "--domains-decide needs --domains"},
		{append(base, "--domains", filepath.Join(dir, "none.txt")), "domains: open"},
		{append(base, "--labels", blacklist), "no column SRC_IP"},
		{append(base, "--query_strategy", "psychic"), `unknown query strategy "psychic"`},
		{append(base, "--model", "deep"), `unknown model "deep"`},
		{append(base, "--query_strategy", "kldiv"), "kldiv needs --model committee"},
		{append(base, "--postprocessor", "magic"), `unknown postprocessor "magic"`},
		{append(base, "--keep-models", "-1"), "--keep-models -1"},
		{append(base, "--id", "../elsewhere"), `experiment id "../elsewhere"`},
		{append(base, "--query_nmax", "0.5"), "a fraction is for the random strategy"},
		{[]string{"-i", "f:" + trapcap, "--blacklist", filepath.Join(dir, "none.txt")}, "no such file"},
		{[]string{"-i", "f:" + trapcap, "--workdir", filepath.Join(dir, "w2"), "--blacklist", blacklist}, "no D_0 (--dpath)"},
		{append(base, "--output-format", "xml"), `--output-format "xml"`},
		{append(base, "--input", "socket"), "not both"},
		{append(base, "--config", yamlFile("query_stratgy: random\n")), `unknown setting "query_stratgy"`},
		{append(base, "--config", yamlFile("query_strategy: [a, b]\n")), "want a single value"},
		{append(base, "stray"), `unexpected argument "stray"`},
	} {
		if _, _, err := runCmd(t, context.Background(), tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}

	// The YAML file's strategy is overridden by the flag; its other
	// settings hold. ALF's --input/--input_def name a folder. Progress
	// lines come often, beside the logs (the race detector watches the two
	// share standard error).
	// The folder holds the trapcap alone: alfd reads every file there.
	folder := t.TempDir()
	if err := os.Rename(trapcap, filepath.Join(folder, "flows.trapcap")); err != nil {
		t.Fatal(err)
	}
	config := yamlFile("query_strategy: psychic\nquery_nmax: 7\nid: fromyaml\ngeneration-flows: 1000\n")
	workdir := filepath.Join(dir, "yaml")
	outFile := filepath.Join(dir, "out.csv")
	_, stderr, err := runCmd(t, context.Background(), "--config", config, "--query_strategy", "random",
		"--input", "folder", "--input_def", folder, "--workdir", workdir, "--blacklist", blacklist, "--dpath", d0,
		"--output", outFile, "--output-format", "csv", "--progress", "1ms")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rs := reports(t, filepath.Join(workdir, "metrics.fromyaml.jsonl"))
	if len(rs) != 2 || rs[0].Asked != 7 {
		t.Errorf("reports %+v, want 2 generations of 1000 flows asking 7 each", rs)
	}
	lines := readCSVFile(t, outFile)
	if len(lines) < 1000 || !strings.HasSuffix(strings.Join(lines[0], ","), ",DOH,DOH_PROBA,MODEL_VERSION") {
		t.Errorf("%d lines of CSV output, header %v", len(lines), lines[0])
	}

	var help bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, io.Discard, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, want := range []string{"--query_strategy", "-max_db_size", "Commands:", "replay"} {
		if !strings.Contains(help.String(), strings.TrimLeft(want, "-")) {
			t.Errorf("-h does not mention %s", want)
		}
	}
}

// TestConfigFileLists: a YAML list sets an option that may be given several
// times, in order; for any other option a list is refused, and a key
// without a value leaves the default.
func TestConfigFileLists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alfd.yaml")
	for _, tc := range []struct {
		yaml  string
		pcaps []string // nil: an error
		model string
	}{
		{"pcap: [a.pcap, b.pcap]\nmodel: gbdt\n", []string{"a.pcap", "b.pcap"}, "gbdt"},
		{"pcap: c.pcap\nmodel:\n", []string{"c.pcap"}, "single"},
		{"model: [gbdt, single]\n", nil, ""},
		{"pcap: [a.pcap, [b.pcap]]\n", nil, ""},
	} {
		if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var pcaps listFlag
		fs.Var(&pcaps, "pcap", "")
		model := fs.String("model", "single", "")
		err := applyConfigFile(fs, path)
		switch {
		case tc.pcaps == nil && err == nil:
			t.Errorf("%q: no error", tc.yaml)
		case tc.pcaps != nil && (err != nil || !slices.Equal(pcaps, tc.pcaps) || *model != tc.model):
			t.Errorf("%q: pcaps %q, model %q, %v; want %q, %q", tc.yaml, pcaps, *model, err, tc.pcaps, tc.model)
		}
	}
}

// buildAlfd builds alfd, for tests that run it as a process of its own.
func buildAlfd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "alfd")
	// The commit stamped where git can tell it, as make build does (git
	// may refuse a checkout another user owns: then none).
	if _, err := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".").CombinedOutput(); err != nil {
		if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	return bin
}

// TestRALPool: RAL, which asks as its budget lets it, gets a pool of twice
// its budget's share of a generation (at least 1000) unless --pool says;
// other strategies keep the learner's default (10 times --query_nmax).
func TestRALPool(t *testing.T) {
	for _, tc := range []struct {
		strategy   string
		budget     float64
		genFlows   uint64
		pool, want int
	}{
		{"ral", 0.05, 50000, 0, 5000},
		{"ral", 0.05, 0, 0, 5000}, // generations only at a stream's end: ALF's batch
		{"ral", 0.05, 5000, 0, 1000},
		{"ral", 0.2, 50000, 0, 20000},
		{"ral", 0.05, 50000, 300, 300},
		{"uncertainty_unranked", 0.05, 50000, 0, 0},
	} {
		c := daemonConfig{strategy: tc.strategy, budget: tc.budget, generationFlows: tc.genFlows, poolSize: tc.pool}
		if got := c.pool(); got != tc.want {
			t.Errorf("%+v: pool %d, want %d", tc, got, tc.want)
		}
	}
}

// TestDaemonBrokenFile: of a trapcap that is not one and a good one, the
// good one is classified and learnt from, and alfd's exit status says that
// input was skipped.
func TestDaemonBrokenFile(t *testing.T) {
	trapcap, blacklist, d0 := synthSetup(t, 2000)
	broken := filepath.Join(filepath.Dir(trapcap), "broken.trapcap")
	if err := os.WriteFile(broken, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	workdir := filepath.Join(t.TempDir(), "w")
	_, stderr, err := runCmd(t, context.Background(), "-i", "f:"+filepath.Join(filepath.Dir(trapcap), "*.trapcap"),
		"--workdir", workdir, "--blacklist", blacklist, "--dpath", d0)
	if err == nil || !strings.Contains(err.Error(), "1 broken containers, files or records skipped") || !strings.Contains(stderr, "broken.trapcap") {
		t.Errorf("alfd on a broken file: %v\n%s", err, stderr)
	}
	if rs := reports(t, filepath.Join(workdir, "metrics.alfd.jsonl")); len(rs) == 0 || rs[len(rs)-1].Flows == 0 {
		t.Errorf("the good file was not learnt from: %+v", rs)
	}
}

// TestDaemonQuietSocket: on a socket, which does not end, without
// --generation-flows nor --generation-time nothing would ever be learnt:
// alfd says so as it starts. Meanwhile it logs its status every
// --status-every.
func TestDaemonQuietSocket(t *testing.T) {
	_, blacklist, d0 := synthSetup(t, 10)
	t.Setenv("TRAP_SOCKET_DIR", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, stderr, err := runCmd(t, ctx, "-i", "u:alfd_quiet", "--generation-flows", "0", "--status-every", "50ms",
		"--workdir", filepath.Join(t.TempDir(), "w"), "--blacklist", blacklist, "--dpath", d0)
	if err != nil || !strings.Contains(stderr, "no generation ends, and nothing is learnt, until the input ends") ||
		strings.Count(stderr, "msg=status records=0 classified=0") < 2 {
		t.Errorf("%v\n%s", err, stderr)
	}
}
