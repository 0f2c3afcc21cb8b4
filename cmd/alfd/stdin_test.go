//go:build unix

package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alfd/alfd/flowmeter"
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

// TestExportMetrics: `alfd export --metrics ADDR` serves the meters' and
// the output's counters while it runs, as a long-running stand-in for
// ipfixprobe is watched: here fed through a pipe that stays open.
func TestExportMetrics(t *testing.T) {
	bin := buildAlfd(t)
	dir := t.TempDir()
	pcap, trapcap := filepath.Join(dir, "synth.pcap"), filepath.Join(dir, "flows.trapcap")
	if out, err := exec.Command(bin, "generate", "--pcap", pcap, "--flows", "40").CombinedOutput(); err != nil {
		t.Fatalf("generate: %v\n%s", err, out)
	}
	data, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "export", "--pcap", "-", "-o", "f:"+trapcap, "--metrics", addr)
	cmd.Stdin = pr
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pr.Close()
	if _, err := pw.Write(data); err != nil {
		t.Fatal(err)
	}
	packets := `alfd_packets_total{meter="0"} ` + strconv.Itoa(pcapPackets(t, pcap)) + "\n"
	var body string
	waitFor(t, "the metrics to count every packet", 10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, packets)
	})
	// The flows still in the cache have not gone out yet.
	for _, want := range []string{`alfd_meter_flows_total{reason="forced"} 0`, `alfd_meter_tls_split_hellos_total{outcome="unassembled"} 0`, `alfd_meter_quic_initials_total{outcome="malformed"} 0`, "alfd_meter_sni_truncated_total 0\n", "alfd_output_records_total ", "alfd_output_dropped_total 0\n", "alfd_uptime_seconds ", "alfd_build_info{version=\"alfd "} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	pw.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("export: %v\n%s", err, logs.String())
	}
	flows, err := exec.Command(bin, "flows", "--pcap", pcap).Output()
	if err != nil {
		t.Fatal(err)
	}
	dump, err := exec.Command(bin, "dump", "-i", "f:"+trapcap).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n, want := strings.Count(string(dump), "\n"), strings.Count(string(flows), "\n"); n != want || n < 30 {
		t.Errorf("the trapcap holds %d lines of records, flows printed %d", n, want)
	}
}

// pcapPackets counts the frames of a pcap.
func pcapPackets(t *testing.T, path string) int {
	t.Helper()
	r, err := flowmeter.OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		if _, _, err := r.Next(); err != nil {
			return n
		}
		n++
	}
}
