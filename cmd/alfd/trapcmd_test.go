package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alfd/alfd/internal/shareddata"
)

func runCmd(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestDumpTrapcap(t *testing.T) {
	path := shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112071115")
	out, stderr, err := runCmd(t, context.Background(), "dump", "-i", "f:"+path)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 746 || len(rows[0]) != 34 || rows[0][0] != "DST_IP" {
		t.Fatalf("%d rows of %d columns, header %v", len(rows), len(rows[0]), rows[0][:3])
	}
	if got := strings.Join(rows[1][:4], ","); got != "142.251.37.110,147.175.74.3,883,8117" {
		t.Errorf("first record %s", got)
	}

	out, _, err = runCmd(t, context.Background(), "dump", "-i", "f:"+path, "--format", "json", "-c", "3", "--fields", "SRC_IP,PPI_PKT_LENGTHS,TLS_SNI")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines, want 3", len(lines))
	}
	var first struct {
		SRC_IP          string
		PPI_PKT_LENGTHS []int
		TLS_SNI         string
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.SRC_IP != "147.175.74.3" || len(first.PPI_PKT_LENGTHS) != 8 || first.TLS_SNI != "suggestqueries-clients6.youtube.com" {
		t.Errorf("first record %+v", first)
	}
}

func TestDumpErrors(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.trapcap")
	if err := os.WriteFile(broken, []byte{2, 0, 0, 0, 0, 0, 0, 7, 'u', 'i', 'n', 't', '9', ' ', 'X'}, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dump"}, "-i is required"},
		{[]string{"dump", "-i", "f:" + broken}, "1 broken containers or records skipped"},
		{[]string{"dump", "-i", "f:" + filepath.Join(dir, "nope")}, "no such file"},
		{[]string{"dump", "-i", "b:"}, "output-only"},
		{[]string{"dump", "-i", "x:1"}, "unknown interface type"},
		{[]string{"dump", "-i", "f:" + broken, "--format", "xml"}, "want csv or json"},
		{[]string{"replay", "-i", "f:" + broken}, "want 1 input(s) and 1 output(s)"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		_, stderr, err := runCmd(t, context.Background(), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
		if strings.Contains(tc.want, "broken") && !strings.Contains(stderr, `unknown UniRec type \"uint9\"`) {
			t.Errorf("the warning does not say what was wrong: %s", stderr)
		}
	}
}

func TestReplayIntoDump(t *testing.T) {
	// alfd replay from a trapcap to u:, read by alfd dump: every record.
	path := shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112021735")
	t.Setenv("TRAP_SOCKET_DIR", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		out, stderr string
		err         error
	}
	dumped := make(chan result)
	go func() {
		out, stderr, err := runCmd(t, ctx, "dump", "-vv", "-i", "u:replayed")
		dumped <- result{out, stderr, err}
	}()
	_, stderr, err := runCmd(t, ctx, "replay", "-i", "f:"+path+",u:replayed", "--progress", "1ms")
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "4129 records") {
		t.Errorf("no progress line with the total: %q", stderr)
	}
	res := <-dumped
	if res.err != nil {
		t.Fatal(res.err)
	}
	if n := strings.Count(res.out, "\n"); n != 4129+1 {
		// Seen once under load: say what each side saw.
		t.Errorf("dump printed %d lines, want a header and 4129 records\nreplay: %s\ndump: %s", n, stderr, res.stderr)
	}
}

func TestReplayStopsOnSignal(t *testing.T) {
	// Nobody reads the output: replay waits (libtrap's WAIT) until cancelled.
	path := shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112071115")
	t.Setenv("TRAP_SOCKET_DIR", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, _, err := runCmd(t, ctx, "replay", "-i", "f:"+path+",u:nobody")
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("replay after a signal: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("replay did not stop on a signal")
	}
}

// TestOutputToFullDisk: a command whose -o file cannot take its output
// fails and says why, rather than ending as if all was written.
func TestOutputToFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full:", err)
	}
	synth := filepath.Join(t.TempDir(), "synth.trapcap")
	if _, _, err := runCmd(t, context.Background(), "generate", "-o", "f:"+synth, "--flows", "10"); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"dump", "features"} {
		if _, _, err := runCmd(t, context.Background(), cmd, "-i", "f:"+synth, "-o", "/dev/full"); err == nil || !strings.Contains(err.Error(), "no space left on device") {
			t.Errorf("%s -o /dev/full: %v", cmd, err)
		}
	}
}
