package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
)

func TestFeaturesReproduceGoldenFiles(t *testing.T) {
	blacklist := shareddata.Path(t, "alf", "blacklist.txt")
	for _, name := range []string{"202112021705", "202112021735", "202112031435", "202112031450", "202112071115"} {
		trapcap := shareddata.Path(t, "alf", "trapcaps", "data.trapcap."+name)
		out, stderr, err := runCmd(t, context.Background(), "features", "-i", "f:"+trapcap, "--blacklist", blacklist)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		golden, err := os.ReadFile(shareddata.Path(t, "alf", "golden", "data.trapcap."+name+".features.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal([]byte(out), golden) {
			t.Errorf("%s: output differs from ALF's golden file", name)
		}
	}
}

func TestFeaturesErrors(t *testing.T) {
	dir := t.TempDir()
	synth := filepath.Join(dir, "synth.trapcap")
	if _, _, err := runCmd(t, context.Background(), "generate", "-o", "f:"+synth, "--flows", "10"); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("1.1.1.1\nnonsense\n"), 0o644)
	_, stderr, err := runCmd(t, context.Background(), "features", "-i", "f:"+synth, "--blacklist", bad)
	if err != nil || !strings.Contains(stderr, `bad.txt:2: \"nonsense\" is not an IP address`) {
		t.Errorf("a bad blacklist line: %v, %q", err, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"features", "-i", "f:" + synth, "--set", "best"}, `unknown feature set "best"`},
		{[]string{"features", "-i", "f:" + synth, "--blacklist", filepath.Join(dir, "none")}, "no such file"},
	} {
		if _, _, err := runCmd(t, context.Background(), tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	// Records without the fields the features need are refused by name:
	// a trapcap of one "uint16 SRC_PORT" record.
	short := filepath.Join(dir, "short.trapcap")
	file := append([]byte{2, 0, 0, 0, 0, 0, 0, 15}, "uint16 SRC_PORT"...)
	file = append(file, 0, 0, 0, 4, 0, 2, 0xbb, 1)
	if err := os.WriteFile(short, file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, context.Background(), "features", "-i", "f:"+short); err == nil || !strings.Contains(err.Error(), "template has no field PACKETS") {
		t.Errorf("records without the needed fields: %v", err)
	}
}
