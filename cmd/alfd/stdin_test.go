//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFlowsFromStandardInput: `alfd flows --pcap -` reads a capture from
// standard input, a file or a pipe, and prints the flows it prints for the
// file named. Fed by a writer that goes quiet without closing the pipe (as
// tcpdump -w - on a quiet link), it stops on SIGTERM and prints the flows
// it holds.
func TestFlowsFromStandardInput(t *testing.T) {
	bin := buildAlfd(t)
	pcap := filepath.Join(t.TempDir(), "synth.pcap")
	if out, err := exec.Command(bin, "generate", "--pcap", pcap, "--flows", "40").CombinedOutput(); err != nil {
		t.Fatalf("generate: %v\n%s", err, out)
	}
	want, err := exec.Command(bin, "flows", "--pcap", pcap).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(want), "\n"); n < 30 {
		t.Fatalf("%d lines of flows from the file:\n%s", n, want)
	}
	data, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"file", "pipe"} {
		cmd := exec.Command(bin, "flows", "--pcap", "-")
		if how == "file" {
			f, err := os.Open(pcap)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd.Stdin = f
		} else {
			cmd.Stdin = bytes.NewReader(data) // exec copies it through a pipe
		}
		if got, err := cmd.Output(); err != nil || !bytes.Equal(got, want) {
			t.Errorf("flows --pcap - from a %s: %v; %d bytes, want the %d of --pcap FILE", how, err, len(got), len(want))
		}
	}

	// A writer that sends the capture and then holds the pipe open.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd := exec.Command(bin, "flows", "--pcap", "-")
	cmd.Stdin = pr
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	if _, err := pw.Write(data); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("alfd flows after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("alfd flows --pcap - still waits for its quiet pipe 5 s after SIGTERM")
	}
	if got := out.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("flows after SIGTERM: %d bytes; want the %d of --pcap FILE:\n%s", len(got), len(want), got)
	}
}
