package main

import (
	"context"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: `alfd version` and `alfd --version` say alfd's version and
// Go's; a binary built from a git checkout names its commit.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, err := runCmd(t, context.Background(), args...)
		if err != nil || !strings.HasPrefix(out, "alfd ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("alfd %v: %q, %v", args, out, err)
		}
	}
	if _, _, err := runCmd(t, context.Background(), "version", "extra"); err == nil {
		t.Error("alfd version extra: no error")
	}
	commit, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): no commit to look for", err)
	}
	out, err := exec.Command(buildAlfd(t), "version").Output()
	if err != nil || !strings.Contains(string(out), "commit "+strings.TrimSpace(string(commit))) {
		t.Errorf("the binary says %q (%v); want commit %s", out, err, commit)
	}
}
