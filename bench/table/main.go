// Command table runs alfd's benchmarks and prints one table: each stage's
// figure beside its baseline, as a ratio, then how throughput scales and
// what memory it takes. make bench runs it; bench/README.md keeps its last
// output. Benchmarks that need root (live capture, eBPF) are left out
// unless it runs as root.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// result is a benchmark's reported metrics, by unit.
type result map[string]float64

// run runs the benchmarks of pkg that match pattern and returns them by
// name (without the GOMAXPROCS suffix).
func run(pkg, pattern, benchtime string, log io.Writer) (map[string]result, error) {
	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-benchtime", benchtime, pkg}
	fmt.Fprintf(log, "go %s\n", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Stderr = log
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go test %s: %w\n%s", pkg, err, out)
	}
	results := map[string]result{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		r := result{}
		for i := 2; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				r[fields[i+1]] = v
			}
		}
		results[name] = r
	}
	return results, sc.Err()
}

// row compares a figure of ours with a baseline: another benchmark, or a
// figure measured elsewhere (fixed).
type row struct {
	stage        string
	ours         string // benchmark
	metric       string
	baseline     string // benchmark, or "" for fixed
	fixed        float64
	baseName     string
	higherBetter bool
}

func main() {
	benchtime := flag.String("benchtime", "1s", "go test -benchtime")
	flag.Parse()
	log := os.Stderr
	root := os.Geteuid() == 0
	suites := []struct{ pkg, pattern string }{
		{"./flowmeter", "Decode|Meter|Handoff|MemoryLatency|FetchAhead|Fingerprint|QUICHello"},
		{"./features", "Compute"},
		{"./infer", "Predict"},
		{"./trap", "DecodeALF|UnixSocket"},
		{"./classify", "Pipeline"},
		{"./learner/train", "RandomForest"},
		{"./learner/annotate", "Label"},
		{"./bench", "EndToEnd|LiveCapture"},
		{"./bpf", "Preaggregation"},
	}
	all := map[string]result{}
	for _, s := range suites {
		rs, err := run(s.pkg, s.pattern, *benchtime, log)
		if err != nil {
			fmt.Fprintln(log, err)
			os.Exit(1)
		}
		for k, v := range rs {
			all[k] = v
		}
	}
	get := func(name, metric string) (float64, bool) {
		r, ok := all[name]
		if !ok {
			return 0, false
		}
		v, ok := r[metric]
		return v, ok
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	fmt.Fprintf(out, "Measured %s on %s/%s, %d CPUs, %s; `go run ./bench/table -benchtime %s`.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), *benchtime)

	fmt.Fprintln(out, "| stage | alfd | baseline | ratio |")
	fmt.Fprintln(out, "|---|---|---|---|")
	for _, r := range []row{
		{"decoding a packet", "BenchmarkDecode/alfd", "ns/packet", "BenchmarkDecode/gopacket", 0, "gopacket DecodingLayerParser", false},
		{"flow meter, 10^5 concurrent flows", "BenchmarkMeter/mix", "Mpackets/s", "BenchmarkMeterBaseline", 0, "gopacket + Go map", true},
		{"flow meter, nDPI captures", "BenchmarkMeter/ndpi", "Mpackets/s", "", 15, "goal", true},
		{"hand-off of a flow to the classifier", "BenchmarkHandoff/ring", "ns/op", "BenchmarkHandoff/chan", 0, "Go channel", false},
		{"ALF's features of a flow", "BenchmarkCompute/alf", "Mflows/s", "", 2, "goal", true},
		{"ALF's features of a flow, CESNET's flows", "BenchmarkCompute/alf-cesnet", "Mflows/s", "", 2, "goal", true},
		{"ALF's features of a flow, CESNET's 30-packet flows", "BenchmarkCompute/alf-cesnet-30", "Mflows/s", "", 2, "goal", true},
		{"scoring a flow, 100 trees of 32 leaves", "BenchmarkPredict/100x32/compiled-batch", "ns/op", "BenchmarkPredict/100x32/leaves", 0, "leaves", false},
		{"scoring a flow, 500 trees of 64 leaves", "BenchmarkPredict/500x64/compiled-batch", "ns/op", "BenchmarkPredict/500x64/leaves", 0, "leaves", false},
		{"decoding a UniRec record", "BenchmarkDecodeALF", "Mrecords/s", "", 5, "goal", true},
		{"UniRec over a unix socket", "BenchmarkUnixSocket", "Mrecords/s", "", 1, "goal", true},
		{"training 100 trees on 10^4 rows (s)", "BenchmarkRandomForest", "s/op", "", 1.75, "scikit-learn, measured apart", false},
		{"end to end from UniRec records, flows/s", "BenchmarkEndToEndTrapcap/gbdt", "flows/s", "", 1900, "ALF (600-1,900)", true},
		{"end to end from ALF's trapcap, records/s", "BenchmarkPipeline/gbdt", "records/s", "", 1e6, "goal", true},
		{"end to end from ALF's trapcap, classified flows/s", "BenchmarkPipeline/gbdt", "flows/s", "", 1e6, "goal", true},
		{"end to end from packets, flows/s", "BenchmarkEndToEndPcap/1-meter", "flows/s", "", 1900, "ALF (600-1,900)", true},
	} {
		ours, ok := get(r.ours, r.metric)
		if !ok && r.metric == "s/op" {
			if ns, ok2 := get(r.ours, "ns/op"); ok2 {
				ours, ok = ns/1e9, true
			}
		}
		if !ok {
			continue
		}
		base, baseOK := r.fixed, r.baseline == ""
		if !baseOK {
			base, baseOK = get(r.baseline, r.metric)
		}
		ratio := "-"
		baseText := "-"
		if baseOK && base > 0 && ours > 0 {
			x := ours / base
			if !r.higherBetter {
				x = base / ours
			}
			ratio = fmt.Sprintf("%.2f×", x)
			baseText = fmt.Sprintf("%s %s (%s)", num(base), r.metric, r.baseName)
		}
		fmt.Fprintf(out, "| %s | %s %s | %s | %s |\n", r.stage, num(ours), r.metric, baseText, ratio)
	}

	fmt.Fprintln(out, "\nScaling:\n\n| measure | figure |\n|---|---|")
	line := func(what, name, metric string) {
		if v, ok := get(name, metric); ok {
			fmt.Fprintf(out, "| %s | %s %s |\n", what, num(v), metric)
		}
	}
	line("end to end from packets, 1 meter", "BenchmarkEndToEndPcap/1-meter", "Mpackets/s")
	line("end to end from packets, 2 meters", "BenchmarkEndToEndPcap/2-meters", "Mpackets/s")
	if n, ok := get("BenchmarkPipeline/gbdt-parallel", "sources"); ok {
		what := fmt.Sprintf("end to end from ALF's trapcap, %.0f sources side by side", n)
		line(what+", records/s", "BenchmarkPipeline/gbdt-parallel", "records/s")
		line(what+", classified flows/s", "BenchmarkPipeline/gbdt-parallel", "flows/s")
	}
	for _, n := range []string{"1000", "10000", "100000", "1000000"} {
		line("flow meter, "+n+" concurrent flows", "BenchmarkMeterOccupancy/"+n, "ns/packet")
	}
	line("flow meter, 10^5 concurrent flows, frame by frame (no fetching ahead)", "BenchmarkMeter/mix-packet", "Mpackets/s")
	line("flow meter, nDPI captures, with TLS fingerprints (--tls-fingerprints)", "BenchmarkMeter/ndpi-fingerprints", "Mpackets/s")
	line("TLS fingerprints (JA3 and JA4) of a ClientHello", "BenchmarkFingerprint", "ns/op")
	line("a QUIC flow's server name (--quic): its Initial packet's keys derived, decrypted, its hello read", "BenchmarkQUICHello/sni", "ns/op")
	line("the oracle's label of a flow (the dry run's, every flow): ALF's blacklist", "BenchmarkLabel/blacklist", "ns/op")
	line("the same with DoH services' names (--domains)", "BenchmarkLabel/names+blacklist", "ns/op")
	line("the same with a person's 10^4 labels first (--labels)", "BenchmarkLabel/labels+names+blacklist", "ns/op")
	line("memory latency: a random load after another over 8 MiB", "BenchmarkMemoryLatency/8MiB", "ns/op")
	line("memory latency: a random load after another over 64 MiB (huge pages)", "BenchmarkMemoryLatency/64MiB", "ns/op")
	line("memory latency: 512 KiB of lines (cached) spread over 4 MiB, a load after another", "BenchmarkMemoryLatency/spread-4MiB", "ns/op")
	line("memory latency: the same spread over 64 MiB (the pages differ: address translation)", "BenchmarkMemoryLatency/spread-64MiB", "ns/op")
	line("memory throughput: random 256-byte records over 64 MiB, fetched 8 ahead and written", "BenchmarkFetchAhead/64MiB/work0", "ns/op")
	for _, size := range []string{"25x16", "100x32", "500x64", "1000x128"} {
		line("scoring a flow, "+strings.Replace(size, "x", " trees of ", 1)+" leaves", "BenchmarkPredict/"+size+"/compiled-batch", "ns/op")
	}
	line("memory per cached flow", "BenchmarkMeter/mix", "bytes/flow")
	line("resident memory of the cache at 10^6 concurrent flows", "BenchmarkMeterOccupancy/1000000", "rss-MiB")
	if root {
		for _, rate := range []string{"100kpps", "300kpps", "1000kpps", "max"} {
			if v, ok := get("BenchmarkLiveCapture/"+rate, "%lost"); ok {
				sent, _ := get("BenchmarkLiveCapture/"+rate, "sent-pps")
				fmt.Fprintf(out, "| live capture at %s pps sent (veth) | %s%% lost |\n", num(sent), num(v))
			}
		}
		for _, mode := range []string{"off", "socket", "xdp"} {
			line("pre-aggregation "+mode+": packets reaching user space per packet sent", "BenchmarkPreaggregation/"+mode, "user-pkts/op")
		}
	} else {
		fmt.Fprintln(out, "| live capture, eBPF pre-aggregation | not measured: needs root |")
	}
}

// num prints a figure with three significant digits.
func num(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3g M", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// cpuModel is the processor's name.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "unknown CPU"
}
