package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
)

// TestDaemonOnPcaps is the acceptance test on packets: alfd --pcap
// over nDPI's DoH captures outputs every flow with its prediction, and the
// DoH sessions as DoH.
func TestDaemonOnPcaps(t *testing.T) {
	dir := shareddata.Path(t, "pcap", "ndpi")
	blacklist := shareddata.Path(t, "alf", "blacklist.txt")
	d0 := shareddata.Path(t, "alf", "doh_D0.csv")
	stdout, stderr, err := runCmd(t, context.Background(), "--pcap", filepath.Join(dir, "doh.pcapng"),
		"--pcap", filepath.Join(dir, "dns_doh.pcap"), "--pcap", filepath.Join(dir, "no_sni.pcap"),
		"--workdir", filepath.Join(t.TempDir(), "w"), "--blacklist", blacklist, "--dpath", d0, "--output", "-")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	type flow struct {
		Src, Dst string
		SrcPort  int `json:"SRC_PORT"`
		Packets  int `json:"PACKETS"`
		SNI      string
		DoH      *int     `json:"DOH"`
		Proba    *float64 `json:"DOH_PROBA"`
		Version  int      `json:"MODEL_VERSION"`
	}
	sessions := map[string]bool{ // nDPI's DoH_DoT flows
		"172.20.10.4:49877 104.16.248.249":   false,
		"192.168.1.119:51606 104.16.249.249": false,
		"192.168.1.253:35996 1.1.1.1":        false,
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var raw map[string]any
		var f flow
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		json.Unmarshal([]byte(line), &f)
		f.Src, f.Dst, f.SNI = raw["SRC_IP"].(string), raw["DST_IP"].(string), raw["TLS_SNI"].(string)
		if f.DoH == nil || f.Proba == nil || f.Version != 1 {
			t.Errorf("flow without a prediction: %s", line)
			continue
		}
		key := f.Src + ":" + strconv.Itoa(f.SrcPort) + " " + f.Dst
		if _, ok := sessions[key]; ok {
			sessions[key] = true
			if *f.DoH != 1 || *f.Proba <= 0.5 {
				t.Errorf("DoH session %s: DOH %d, DOH_PROBA %v", key, *f.DoH, *f.Proba)
			}
		}
		n++
	}
	for k, seen := range sessions {
		if !seen {
			t.Errorf("no flow for the DoH session %s", k)
		}
	}
	// nDPI counts 10 TCP flows in the three captures; all have features.
	if n != 10 || !strings.Contains(stderr, "flows_forced=10") {
		t.Errorf("%d flows out\n%s", n, stderr)
	}
}

// TestPcapClassifiedAsItsExport: alfd classifies a pcap's flows as it
// classifies them sent on as UniRec by alfd export (the way of flows from
// ipfixprobe): every field of every flow out, DOH_PROBA included, is the
// same, so features and model see the same flows by both ways.
func TestPcapClassifiedAsItsExport(t *testing.T) {
	blacklist := shareddata.Path(t, "alf", "blacklist.txt")
	d0 := shareddata.Path(t, "alf", "doh_D0.csv")
	for _, name := range []string{"reddit.pcap", "dns_doh.pcap"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			pcap, trapcap := shareddata.Path(t, "pcap", "ndpi", name), filepath.Join(dir, "flows.trapcap")
			if _, stderr, err := runCmd(t, context.Background(), "export", "--pcap", pcap, "-o", "f:"+trapcap); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			outputs := make([]map[string]string, 2)
			for i, input := range [][]string{{"--pcap", pcap}, {"-i", "f:" + trapcap}} {
				stdout, stderr, err := runCmd(t, context.Background(), append(input, "--workdir", filepath.Join(dir, strconv.Itoa(i)),
					"--blacklist", blacklist, "--dpath", d0, "--output", "-")...)
				if err != nil {
					t.Fatalf("%v: %v\n%s", input, err, stderr)
				}
				outputs[i] = make(map[string]string)
				for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
					var rec map[string]any
					if err := json.Unmarshal([]byte(line), &rec); err != nil {
						t.Fatalf("%v: %s", err, line)
					}
					outputs[i][fmt.Sprint(rec["SRC_IP"], rec["SRC_PORT"], rec["DST_IP"], rec["DST_PORT"], rec["PROTOCOL"])] = line
				}
			}
			if len(outputs[0]) == 0 || len(outputs[0]) != len(outputs[1]) {
				t.Errorf("%d flows from the pcap, %d from its export", len(outputs[0]), len(outputs[1]))
			}
			for k, line := range outputs[0] {
				if outputs[1][k] != line {
					t.Errorf("flow %s\npcap   %s\nexport %s", k, line, outputs[1][k])
				}
			}
		})
	}
}

// TestFlowsAndExport: alfd flows prints the flows of a pcap, and alfd
// export writes them as a trapcap that alfd features reads as it reads
// ipfixprobe's.
func TestFlowsAndExport(t *testing.T) {
	pcap := shareddata.Path(t, "pcap", "ndpi", "dns_doh.pcap")
	out, stderr, err := runCmd(t, context.Background(), "flows", "--pcap", pcap)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "DST_IP,SRC_IP,BYTES,") || !strings.Contains(lines[1], "104.16.248.249,172.20.10.4,") ||
		!strings.Contains(lines[1], ",86,56,") || !strings.Contains(lines[1], "mozilla.cloudflare-dns.com") || strings.Contains(lines[1], "t13d") {
		t.Errorf("alfd flows (no TLS fingerprints):\n%s", out)
	}
	if _, _, err := runCmd(t, context.Background(), "flows", "--pcap", pcap, "-o", "/dev/full"); err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("flows -o /dev/full: %v", err)
	}
	trapcap := filepath.Join(t.TempDir(), "flows.trapcap")
	// -o names the output, as the issue has it; -i too, as NEMEA modules
	// name their interfaces.
	for _, opt := range []string{"-o", "-i"} {
		if _, stderr, err := runCmd(t, context.Background(), "export", "--pcap", pcap, opt, "f:"+trapcap); err != nil {
			t.Fatalf("export %s: %v\n%s", opt, err, stderr)
		}
		feats, stderr, err := runCmd(t, context.Background(), "features", "-i", "f:"+trapcap)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		rows := strings.Split(strings.TrimSpace(feats), "\n")
		// bytes_rev, bytes, packets, packets_rev of the DoH session.
		if len(rows) != 2 || !strings.HasPrefix(rows[1], "0,172.20.10.4,104.16.248.249,49877,443,11118,7256,86,56,") {
			t.Errorf("features of the flows export %s sent:\n%s", opt, feats)
		}
	}
	// --pcap FILE...: both captures' flows, in the order given, as a
	// shell's glob hands them over; options may follow. With their
	// ClientHellos' fingerprints, as nDPI computed them.
	curl := shareddata.Path(t, "pcap", "ndpi", "443-curl.pcap")
	out, stderr, err = runCmd(t, context.Background(), "flows", "--pcap", pcap, curl, "--format", "json", "--tls-fingerprints")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "mozilla.cloudflare-dns.com") || !strings.Contains(lines[1], "www.ntop.org") ||
		!strings.Contains(lines[0], `"TLS_JA3_FINGERPRINT":"b20b44b18b853ef29ab773e921b03422"`) ||
		!strings.Contains(lines[0], `"TLS_JA4":"t13d1814h2_29a2cd9e9f10_d267a5f792d4"`) ||
		!strings.Contains(lines[1], `"TLS_JA3_FINGERPRINT":"2a26b1a62e40d25d4de3babc9d532f30"`) ||
		!strings.Contains(lines[1], `"TLS_JA4":"t12d6707h2_2955a3196ffa_c83f907a73d3"`) {
		t.Errorf("alfd flows --pcap dns_doh.pcap 443-curl.pcap --tls-fingerprints:\n%s", out)
	}
	for _, args := range [][]string{
		{"flows"},
		{"flows", pcap},
		{"dump", "-i", "f:" + trapcap, pcap},
		{"flows", "--pcap", filepath.Join(t.TempDir(), "none.pcap")},
		{"flows", "--pcap", pcap, "--afpacket", "lo"},
		{"flows", "--pcap", pcap, "--cache-size", "1000"},
		{"flows", "--pcap", "-", pcap, "-"},
		{"export", "--pcap", pcap},
		{"export", "--pcap", pcap, "-o", "f:" + trapcap, "-i", "f:" + trapcap},
	} {
		if _, _, err := runCmd(t, context.Background(), args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestParseArgs: arguments that are not options are more of --pcap's
// files, in their place among the options, for commands that read pcaps;
// refused otherwise and before --pcap, never dropped.
func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		readsPcap bool
		pcaps     []string // nil: an error
		format    string
	}{
		{[]string{"--pcap", "a", "b", "c"}, true, []string{"a", "b", "c"}, ""},
		{[]string{"--pcap", "a", "b", "--format", "json", "c"}, true, []string{"a", "b", "c"}, "json"},
		{[]string{"--pcap", "a", "b", "--pcap", "c", "d"}, true, []string{"a", "b", "c", "d"}, ""},
		{[]string{"--format", "json", "--pcap", "a", "--", "-b", "--format"}, true, []string{"a", "-b", "--format"}, "json"},
		{[]string{"--format", "json"}, true, []string{}, "json"},
		{[]string{"a", "--pcap", "b"}, true, nil, ""},
		{[]string{"--pcap", "a", "b"}, false, nil, ""},
		{[]string{"--format", "json", "x"}, false, nil, ""},
		{[]string{"--pcap", "a", "--nope"}, true, nil, ""},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		format := fs.String("format", "", "")
		var pcaps listFlag
		fs.Var(&pcaps, "pcap", "")
		into := &pcaps
		if !tc.readsPcap {
			into = nil
		}
		err := parseArgs(fs, tc.args, into)
		switch {
		case tc.pcaps == nil && err == nil:
			t.Errorf("%q: no error, pcaps %q", tc.args, pcaps)
		case tc.pcaps != nil && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.pcaps != nil && (!slices.Equal(pcaps, tc.pcaps) || *format != tc.format):
			t.Errorf("%q: pcaps %q, format %q; want %q, %q", tc.args, pcaps, *format, tc.pcaps, tc.format)
		}
	}
}

// TestFlowsPorts: a capture file's packets are kept by --ports as a live
// capture's are by its eBPF filter: the ICMP echo to 8.8.8.8 in the
// capture is counted as filtered, and shown with --ports all.
func TestFlowsPorts(t *testing.T) {
	pcap := shareddata.Path(t, "pcap", "ndpi", "googledns_android10.pcap")
	kept, logs, err := runCmd(t, context.Background(), "flows", "--pcap", pcap, "-v")
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	all, _, err := runCmd(t, context.Background(), "flows", "--pcap", pcap, "--ports", "all")
	if err != nil {
		t.Fatal(err)
	}
	// Flows by protocol.
	protocols := func(out string) map[string]int {
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) == 0 {
			t.Fatalf("%v: %q", err, out)
		}
		col := slices.Index(rows[0], "PROTOCOL")
		n := map[string]int{}
		for _, row := range rows[1:] {
			n[row[col]]++
		}
		return n
	}
	k, a := protocols(kept), protocols(all)
	if k["1"] != 0 || a["1"] != 1 || k["6"] != a["6"] || k["6"] == 0 || !strings.Contains(logs, "skipped_filtered=4") {
		t.Errorf("flows by protocol: %v kept by the default ports, %v in all; log:\n%s", k, a, logs)
	}
	if _, _, err := runCmd(t, context.Background(), "flows", "--pcap", pcap, "--ports", "sctp:9"); err == nil || !strings.Contains(err.Error(), `--ports: port "sctp:9"`) {
		t.Errorf("--ports sctp:9: %v", err)
	}
}
