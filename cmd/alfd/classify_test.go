package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dmitryikh/leaves"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/internal/shareddata"
)

// trainModel trains a model of kind on the CSV dpath with alfd train and
// writes it to path, a LightGBM text file; bare, without alfd's metadata
// beside it, it stands for a model trained elsewhere.
func trainModel(t *testing.T, dpath, kind, path string, bare bool) {
	t.Helper()
	if _, stderr, err := runCmd(t, context.Background(), "train", "--dpath", dpath, "--model", kind, "-o", path); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	if bare {
		if err := os.Remove(path + ".meta.json"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClassify runs alfd classify on CESNET's flows with a LightGBM model
// from elsewhere: every flow ALF keeps comes out with the probability
// leaves gives for the features alfd features computes for it, DOH when
// above one half, and MODEL_VERSION 1, the model's first load.
func TestClassify(t *testing.T) {
	trapcap := shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112021705")
	golden := shareddata.Path(t, "alf", "golden", "data.trapcap.202112021735.features.csv")
	dir := t.TempDir()
	model, out := filepath.Join(dir, "gbdt.txt"), filepath.Join(dir, "out.trapcap")
	trainModel(t, golden, "gbdt", model, true)

	_, stderr, err := runCmd(t, context.Background(), "classify", "--model", model, "-i", "f:"+trapcap+",f:"+out)
	if err != nil {
		t.Fatalf("classify: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "no metadata file") || !strings.Contains(stderr, "classified=921 ") {
		t.Errorf("no warning of the missing metadata, or not 921 flows classified:\n%s", stderr)
	}
	dumped, stderr, err := runCmd(t, context.Background(), "dump", "-i", "f:"+out, "--fields", "SRC_IP,DST_IP,SRC_PORT,DST_PORT,DOH,DOH_PROBA,MODEL_VERSION")
	if err != nil {
		t.Fatalf("dump: %v\n%s", err, stderr)
	}
	features, stderr, err := runCmd(t, context.Background(), "features", "-i", "f:"+trapcap)
	if err != nil {
		t.Fatalf("features: %v\n%s", err, stderr)
	}
	lv, err := leaves.LGEnsembleFromFile(model, true)
	if err != nil {
		t.Fatal(err)
	}
	outRows, featureRows := csvRows(t, dumped), csvRows(t, features)
	if len(outRows) != 921 || len(featureRows) != 921 {
		t.Fatalf("%d flows out, %d with features; ALF keeps 921", len(outRows), len(featureRows))
	}
	var doh int
	for i, o := range outRows {
		f := featureRows[i]
		if strings.Join(o[:4], ",") != strings.Join(f[1:5], ",") {
			t.Fatalf("flow %d out is %v, its features' %v", i, o[:4], f[1:5])
		}
		x := make([]float64, 0, 24)
		for _, v := range f[5:] {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			x = append(x, n)
		}
		want := lv.PredictSingle(x, 0)
		proba, _ := strconv.ParseFloat(o[5], 64)
		if math.Abs(proba-want) > 1e-12 || o[4] != map[bool]string{true: "1", false: "0"}[proba > 0.5] || o[6] != "1" {
			t.Errorf("flow %d: DOH %s, DOH_PROBA %s, MODEL_VERSION %s; leaves says %v", i, o[4], o[5], o[6], want)
		}
		if o[4] == "1" {
			doh++
		}
	}
	if doh == 0 || doh == len(outRows) {
		t.Errorf("%d of %d flows DoH: the model tells nothing apart", doh, len(outRows))
	}

	// With a blacklist, alfd classify measures the model as alfd eval
	// does, at the end of the stream.
	blacklist := shareddata.Path(t, "alf", "blacklist.txt")
	_, stderr, err = runCmd(t, context.Background(), "classify", "--model", model, "-i", "f:"+trapcap, "--blacklist", blacklist)
	if err != nil {
		t.Fatalf("classify --blacklist: %v\n%s", err, stderr)
	}
	evalOut, evalErr, err := runCmd(t, context.Background(), "eval", "--model", model, "-i", "f:"+trapcap, "--blacklist", blacklist)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, evalErr)
	}
	var res evalResult
	if err := json.Unmarshal([]byte(evalOut), &res); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`msg="the model on the flows the oracle labelled" flows=%d labelled=921 doh=%d f1=%.4f f1_doh=%.4f precision=%.4f recall=%.4f mcc=%.4f false_positives=%d false_negatives=%d`,
		res.Records, res.DoH, res.Metrics.F1, res.Metrics.F1DoH, res.Metrics.Precision, res.Metrics.Recall, res.Metrics.MCC, res.Confusion.FP, res.Confusion.FN)
	if !strings.Contains(stderr, want) {
		t.Errorf("classify's measure is not eval's %s:\n%s", want, stderr)
	}
}

// csvRows are the rows of a CSV text, its header left out.
func csvRows(t *testing.T, text string) [][]string {
	t.Helper()
	var rows [][]string
	for line := range strings.Lines(text) {
		rows = append(rows, strings.Split(strings.TrimSpace(line), ","))
	}
	if len(rows) == 0 {
		t.Fatal("no CSV header")
	}
	return rows[1:]
}

// TestClassifyReloads runs alfd classify on a socket with a bare LightGBM
// model and replaces the model's file as an operator would (a new file
// renamed over it): the flows sent after the reload carry the next
// version; a file that does not load keeps the model in use and is
// counted; a good one after it is loaded. With a blacklist, the model is
// measured every --report-every.
func TestClassifyReloads(t *testing.T) {
	trapcap, blacklist, d0 := synthSetup(t, 2000)
	dir := t.TempDir()
	model := filepath.Join(dir, "model.txt")
	trainModel(t, d0, "single", model, true)
	replace := func(text string) {
		t.Helper()
		tmp := filepath.Join(dir, "new.txt")
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, model); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TRAP_SOCKET_DIR", t.TempDir())
	outPath, metricsAddr := filepath.Join(dir, "out.jsonl"), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, logs := startDaemon(ctx, "classify", "--model", model, "-i", "u:classify_in", "--model-reload", "20ms",
		"--output", outPath, "--metrics", metricsAddr, "--status-every", "0", "--blacklist", blacklist, "--report-every", "50ms")
	metric := func(name string) string {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		_, v, _ := strings.Cut(string(body), "\n"+name+" ")
		v, _, _ = strings.Cut(v, "\n")
		return v
	}
	waitFor(t, "the metrics", 10*time.Second, func() bool { return metric("alfd_model_version") == "1" })

	// Each replay's flows come out with the version in use.
	dumped, stderr, err := runCmd(t, ctx, "dump", "-i", "f:"+trapcap, "--fields", "SRC_PORT")
	if err != nil {
		t.Fatalf("dump: %v\n%s", err, stderr)
	}
	perReplay, replays, seen := strings.Count(dumped, "\n")-1, 0, 0
	replayVersion := func(want string) {
		t.Helper()
		if _, stderr, err := runCmd(t, ctx, "replay", "-i", "f:"+trapcap+",u:classify_in"); err != nil {
			t.Fatalf("replay: %v\n%s", err, stderr)
		}
		replays++
		var lines []string
		waitFor(t, "the flows out", 20*time.Second, func() bool {
			data, _ := os.ReadFile(outPath)
			lines = strings.Split(strings.TrimSpace(string(data)), "\n")
			return metric("alfd_records_total") == strconv.Itoa(replays*perReplay) && metric("alfd_flows_classified_total") == strconv.Itoa(len(lines))
		})
		if len(lines)-seen < perReplay*9/10 {
			t.Fatalf("%d of %d flows out", len(lines)-seen, perReplay)
		}
		for _, line := range lines[seen:] {
			var rec map[string]json.RawMessage
			if err := json.Unmarshal([]byte(line), &rec); err != nil || string(rec["MODEL_VERSION"]) != want {
				t.Fatalf("a flow after the reload: %v, MODEL_VERSION %s, want %s\n%s", err, rec["MODEL_VERSION"], want, logs)
			}
		}
		seen = len(lines)
	}
	replayVersion("1")
	// Measured on the flows the blacklist labels, window by window.
	waitFor(t, "a measure of the model", 10*time.Second, func() bool {
		f1, err := strconv.ParseFloat(metric("alfd_generation_f1_all_predicted"), 64)
		return err == nil && f1 > 0 && f1 <= 1
	})
	if metric(`alfd_oracle_entries{list="blacklist"}`) == "" || !strings.Contains(logs.String(), "the model on the flows the oracle labelled") {
		t.Errorf("no oracle in the metrics, or no measure logged:\n%s", logs)
	}

	other := filepath.Join(dir, "gbdt.txt")
	trainModel(t, d0, "gbdt", other, true)
	gbdt, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	replace(string(gbdt))
	waitFor(t, "the new model", 10*time.Second, func() bool { return metric("alfd_model_version") == "2" })
	replayVersion("2")

	replace("tree\nversion=v3\nnot a model\n")
	waitFor(t, "the failed load", 10*time.Second, func() bool { return metric(`alfd_model_reloads_total{outcome="failed"}`) != "0" })
	if v := metric("alfd_model_version"); v != "2" || !strings.Contains(logs.String(), "the one in use stays") {
		t.Errorf("after a broken file: version %s\n%s", v, logs)
	}
	replace(string(gbdt) + "\n")
	waitFor(t, "the good model after the broken one", 10*time.Second, func() bool { return metric("alfd_model_version") == "3" })
	if v := metric(`alfd_model_reloads_total{outcome="loaded"}`); v != "2" {
		t.Errorf("%s reloads, want 2", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("alfd classify: %v\n%s", err, logs)
	}
	if s := logs.String(); strings.Contains(s, "learner") || strings.Contains(s, "generation=") {
		t.Errorf("alfd classify speaks of learning:\n%s", s)
	}
}

// TestClassifyOptions: alfd classify refuses what it cannot run, naming it.
func TestClassifyOptions(t *testing.T) {
	trapcap, _, _ := synthSetup(t, 100)
	broken := filepath.Join(t.TempDir(), "broken.txt")
	if err := os.WriteFile(broken, []byte("{not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-i", "f:" + trapcap}, "classify: --model is required"},
		{[]string{"--model", broken, "-i", "f:" + trapcap}, "classify: model " + broken},
		{[]string{"--model", broken}, "-i is required"},
		{[]string{"--model", broken, "-i", "f:" + trapcap, "--query_strategy", "random"}, "flag provided but not defined: -query_strategy"},
	} {
		_, stderr, err := runCmd(t, context.Background(), append([]string{"classify"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error()+stderr, tc.want) {
			t.Errorf("%v: %v, want %q\n%s", tc.args, err, tc.want, stderr)
		}
	}
}

// TestModelCommand describes a model alfd train wrote: its trees, leaves
// and splits per feature are those its LightGBM text holds, counted here
// from the text itself.
func TestModelCommand(t *testing.T) {
	_, _, d0 := synthSetup(t, 100)
	path := filepath.Join(t.TempDir(), "gbdt.txt")
	trainModel(t, d0, "gbdt", path, false)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var trees, leaves int
	splits := map[string]int{}
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		switch key, value, _ := strings.Cut(line, "="); key {
		case "Tree":
			trees++
		case "num_leaves":
			n, _ := strconv.Atoi(value)
			leaves += n
		case "split_feature":
			for f := range strings.FieldsSeq(value) {
				i, _ := strconv.Atoi(f)
				splits[features.Names[i]]++
			}
		}
	}
	out, stderr, err := runCmd(t, context.Background(), "model", path, "--format", "json")
	if err != nil {
		t.Fatalf("model: %v\n%s", err, stderr)
	}
	var s modelSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Version != 1 || s.Kind != "single" || s.TrainingRows == 0 || len(s.Members) != 1 ||
		s.Members[0].Trees != trees || s.Members[0].Leaves != leaves || s.Members[0].Depth < 1 || len(s.Features) != features.N {
		t.Fatalf("summary %+v; the text has %d trees, %d leaves", s, trees, leaves)
	}
	var share float64
	for i, f := range s.Features {
		if f.Splits != splits[f.Name] {
			t.Errorf("%s: %d splits, the text has %d", f.Name, f.Splits, splits[f.Name])
		}
		if i > 0 && f.Splits > s.Features[i-1].Splits {
			t.Errorf("%s out of order", f.Name)
		}
		share += f.Share
	}
	if math.Abs(share-1) > 1e-9 {
		t.Errorf("shares sum to %v", share)
	}
	text2, _, err := runCmd(t, context.Background(), "model", path)
	if err != nil || !strings.Contains(text2, s.Features[0].Name) || !strings.Contains(text2, fmt.Sprintf("%d trees", trees)) {
		t.Errorf("text: %v\n%s", err, text2)
	}
	if _, _, err := runCmd(t, context.Background(), "model"); err == nil {
		t.Error("no model given, and no error")
	}
}
