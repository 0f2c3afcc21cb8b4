package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
)

func TestTrainThenEval(t *testing.T) {
	golden := shareddata.Path(t, "alf", "golden", "data.trapcap.202112021735.features.csv")
	trapcap := shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112071115")
	blacklist := shareddata.Path(t, "alf", "blacklist.txt")
	dir := t.TempDir()
	for _, tc := range []struct {
		model, out string
		minF1      float64
	}{
		{"single", "single.json", 0.9},
		{"committee", "committee.json", 0.9},
		{"gbdt", "gbdt.txt", 0.88},
	} {
		out := filepath.Join(dir, tc.out)
		if _, stderr, err := runCmd(t, context.Background(), "train", "--dpath", golden, "--model", tc.model, "-o", out); err != nil {
			t.Fatalf("%s: %v\n%s", tc.model, err, stderr)
		}
		stdout, stderr, err := runCmd(t, context.Background(), "eval", "--model", out, "-i", "f:"+trapcap, "--blacklist", blacklist)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.model, err, stderr)
		}
		var res evalResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatal(err)
		}
		// data/README.md: 368 kept flows, 244 of them on the blacklist.
		if res.Records != 745 || res.Flows != 368 || res.DoH != 244 || res.Metrics.F1DoH < tc.minF1 {
			t.Errorf("%s: %+v", tc.model, res)
		}
	}
	// Unreadable training data is refused with its line.
	bad := filepath.Join(dir, "bad.csv")
	data, _ := os.ReadFile(golden)
	os.WriteFile(bad, []byte(strings.Replace(string(data), "False\n", "Maybe\n", 1)), 0o644)
	if _, _, err := runCmd(t, context.Background(), "train", "--dpath", bad, "-o", filepath.Join(dir, "x.json")); err == nil || !strings.Contains(err.Error(), `class "Maybe"`) {
		t.Errorf("a bad class: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "-o", "x.json"}, "--dpath is required"},
		{[]string{"train", "--dpath", golden, "--model", "committee", "-o", filepath.Join(dir, "c.txt")}, "name its metadata MODEL.json"},
		{[]string{"train", "--dpath", golden, "--model", "forest", "-o", "x.json"}, `unknown model "forest"`},
		{[]string{"eval", "--model", filepath.Join(dir, "none.json"), "-i", "f:" + trapcap, "--blacklist", blacklist}, "no such file"},
		{[]string{"eval", "--model", filepath.Join(dir, "single.json"), "-i", "f:" + trapcap, "--blacklist", blacklist, "--set", "fixed"}, "trained on feature set alf, but alfd computes fixed"},
	} {
		if _, _, err := runCmd(t, context.Background(), tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
