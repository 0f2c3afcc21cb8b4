package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/alfd/alfd/bpf"
	"github.com/alfd/alfd/classify"
	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/trap"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// packetFlags are the options of alfd's own flow meter: where packets come
// from, and how flows are made of them.
type packetFlags struct {
	pcaps        listFlag
	afpacket     string
	fanout       int
	pace         bool
	cacheSize    int
	lineSize     int
	active       time.Duration
	inactive     time.Duration
	includeZeros bool
	fingerprints bool
	quic         bool
	ports        string
	bpfAggregate string
	bpfFlows     int
	bpfSteer     bool
	noPromisc    bool
	cpus         string
	ringBlocks   int
	blockSize    byteSize
}

func (p *packetFlags) register(fs *flag.FlagSet) {
	fs.Var(&p.pcaps, "pcap", "read packets from this pcap or pcapng `FILE` and those after it that are not options (--pcap FILE..., globs too; may be given several times; read in order; - is standard input, as tcpdump -w - writes)")
	fs.StringVar(&p.afpacket, "afpacket", "", "capture packets live on this interface with AF_PACKET (needs CAP_NET_RAW)")
	fs.IntVar(&p.fanout, "fanout", 1, "with --afpacket: sockets in the fanout group, each with a flow meter on its own thread and a classifier")
	fs.BoolVar(&p.pace, "pace", false, "with --pcap: replay at the capture's own pace rather than at full speed")
	fs.StringVar(&p.cpus, "cpus", "", "with --afpacket: pin the meters' threads to these CPUs, one each (as 2-5 for --fanout 4); the learner keeps off them")
	fs.BoolVar(&p.noPromisc, "no-promisc", false, "with --afpacket: leave the interface out of promiscuous mode (tcpdump's -p); alfd turns it on by default, as ipfixprobe does, to see all of a mirror port's frames")
	fs.IntVar(&p.ringBlocks, "ring-blocks", 64, "with --afpacket: blocks in each socket's ring shared with the kernel (ipfixprobe's blocks_count); the ring holds what a meter has not read yet, and the kernel drops packets when it is full")
	p.blockSize = 1 << 20
	fs.Var(&p.blockSize, "ring-block-size", "with --afpacket: the `SIZE` of each block of the ring in bytes, a power of two of at least a page, as 4MiB (the kernel hands blocks over when full or after 50 ms)")
	fs.IntVar(&p.cacheSize, "cache-size", 1<<17, "flows each meter's cache holds (a power of two; ipfixprobe's default)")
	fs.IntVar(&p.lineSize, "cache-line", 16, "flows per cache line (a power of two)")
	fs.DurationVar(&p.active, "active-timeout", 300*time.Second, "end a flow that has lasted this long (1 s to 30 min)")
	fs.DurationVar(&p.inactive, "inactive-timeout", 30*time.Second, "end a flow that has seen no packet for this long (1 s to 8 h)")
	fs.BoolVar(&p.includeZeros, "include-zeros", false, "keep packets without payload in the per-packet information (pstats' include_zeroes)")
	fs.BoolVar(&p.fingerprints, "tls-fingerprints", false, "compute the JA3 and JA4 fingerprints of each flow's TLS ClientHello (TLS_JA3_FINGERPRINT, TLS_JA4; empty without), some 1.3 µs a hello")
	fs.BoolVar(&p.quic, "quic", false, "read the ClientHello of QUIC flows (HTTP/3, DNS over HTTP/3) from their clients' Initial packets, which it decrypts, as ipfixprobe's quic plugin: QUIC_SNI and QUIC_VERSION (and fingerprints with --tls-fingerprints), some 2 µs a QUIC flow")
	const ports = "tcp:443,udp:443,tcp:853,udp:853"
	fs.StringVar(&p.ports, "ports", ports, "meter only these protocols and ports (all: every packet); a packet is kept when either of its ports is listed: in the kernel by eBPF with --afpacket, else by the meter")
	fs.StringVar(&p.ports, "bpf-ports", ports, "the same as --ports (its name before)")
	fs.StringVar(&p.bpfAggregate, "bpf-aggregate", "off", "with --afpacket: count long flows' packets in the kernel once their meter has their first 30 with payload: off, socket (in the sockets' filter) or xdp (earlier; ingress only, and its drops are the host's: for capture ports)")
	fs.IntVar(&p.bpfFlows, "bpf-flows", 1<<18, "with --bpf-aggregate: long flows the kernel's table holds at once (about 200 bytes each); a long flow it has no room for goes up whole, as without")
	fs.BoolVar(&p.bpfSteer, "bpf-steer", false, "with --afpacket and --fanout: steer flows to the sockets by alfd's eBPF program rather than the kernel's hash")
}

// portList is --ports, or nil for every packet.
func (p *packetFlags) portList() ([]flowmeter.Port, error) {
	if p.ports == "all" {
		return nil, nil
	}
	ports, err := flowmeter.ParsePorts(p.ports)
	if err != nil {
		return nil, fmt.Errorf("--ports: %w", err)
	}
	return ports, nil
}

// bpfConfig is what eBPF programs the flags ask for, the filter keeping
// ports (portList's), or nil for none.
func (p *packetFlags) bpfConfig(ports []flowmeter.Port) (*bpf.Config, error) {
	cfg := &bpf.Config{Interface: p.afpacket, MaxFlows: p.bpfFlows, Steer: p.bpfSteer, Ports: ports}
	switch p.bpfAggregate {
	case "off":
	case bpf.AggregateSocket, bpf.AggregateXDP:
		cfg.Aggregate = p.bpfAggregate
	default:
		return nil, fmt.Errorf("--bpf-aggregate %q: want off, socket or xdp", p.bpfAggregate)
	}
	if cfg.Ports == nil && cfg.Aggregate == bpf.AggregateOff && !cfg.Steer {
		return nil, nil
	}
	return cfg, nil
}

// meterCPUs are the CPUs --cpus pins the meters to, or nil.
func (p *packetFlags) meterCPUs() ([]int, error) {
	switch {
	case p.cpus == "":
		return nil, nil
	case p.afpacket == "":
		return nil, errors.New("--cpus pins the meters of a live capture: give --afpacket")
	}
	cpus, err := parseCPUList(p.cpus)
	if err != nil {
		return nil, fmt.Errorf("--cpus: %w", err)
	}
	return cpus, nil
}

// given reports whether packets are the input.
func (p *packetFlags) given() bool { return len(p.pcaps) > 0 || p.afpacket != "" }

// packetInput is a running source of flows made from packets.
type packetInput struct {
	records *flowmeter.Records // the meters' flows merged
	meters  []*flowmeter.Meter
	done    chan struct{} // closed when the meters have finished
	live    bool
	capture *flowmeter.Capture // nil for pcaps
	bpf     *bpf.Programs      // the eBPF programs in the capture path, if any
	// run meters until the input ends or ctx ends, then publishes the
	// flows left in the caches; records reports io.EOF after.
	run func(ctx context.Context) error
}

// open prepares the input: the files are checked; the eBPF programs are
// loaded (or, when they cannot be, left out with a warning) and the
// sockets opened.
func (p *packetFlags) open(log *slog.Logger) (*packetInput, error) {
	ports, err := p.portList()
	if err != nil {
		return nil, err
	}
	cfg := flowmeter.Config{Cache: flowmeter.CacheConfig{Size: p.cacheSize, LineSize: p.lineSize,
		Active: p.active, Inactive: p.inactive, IncludeZeroPayload: p.includeZeros, TLSFingerprints: p.fingerprints, QUIC: p.quic}, Ports: ports}
	cpus, err := p.meterCPUs()
	switch {
	case err != nil:
		return nil, err
	case len(p.pcaps) > 0 && p.afpacket != "":
		return nil, errors.New("give --pcap or --afpacket, not both")
	case p.afpacket != "":
		return p.openCapture(cfg, cpus, log)
	}
	paths, err := expandPcaps(p.pcaps)
	if err != nil {
		return nil, err
	}
	return meteredInput(cfg, false, func(ctx context.Context, m *flowmeter.Meter) error {
		return m.ReadPcaps(ctx, paths, p.pace)
	})
}

// openCapture opens the live capture with the eBPF programs the flags ask
// for, its meters pinned to cpus if any.
func (p *packetFlags) openCapture(cfg flowmeter.Config, cpus []int, log *slog.Logger) (_ *packetInput, err error) {
	bcfg, err := p.bpfConfig(cfg.Ports)
	if err != nil {
		return nil, err
	}
	link, err := flowmeter.InterfaceLink(p.afpacket)
	if err != nil {
		return nil, fmt.Errorf("--afpacket: %w", err)
	}
	if link != flowmeter.LinkEthernet && bcfg != nil {
		log.Warn("capturing without eBPF: its programs read Ethernet frames, and this interface's are bare IP (the meters keep --ports themselves)", "interface", p.afpacket)
		bcfg = nil
	}
	in := &packetInput{}
	capCfg := flowmeter.AFPacketConfig{Interface: p.afpacket, Fanout: p.fanout, NotPromiscuous: p.noPromisc, CPUs: cpus,
		BlockSize: int(p.blockSize), NumBlocks: p.ringBlocks, Meter: cfg, Log: log}
	if bcfg != nil {
		if in.bpf, err = bpf.Load(*bcfg); err != nil {
			log.Warn("capturing without eBPF: the programs did not load (the meters keep --ports themselves)", "err", err)
		} else {
			capCfg.FilterProgram, capCfg.SteeringProgram = in.bpf.FilterFD(), in.bpf.SteeringFD()
			capCfg.Meter.Aggregator = in.bpf.Aggregator()
			// The kernel keeps the ports: the meters need not look again.
			capCfg.Meter.Ports = nil
			log.Info("eBPF in the capture path", "ports", p.ports, "aggregate", p.bpfAggregate, "steer", p.bpfSteer)
			if _, err := in.bpf.VLANHint(); err != nil {
				log.Warn("XDP is not bound to the interface, and sees no VLAN tag the NIC takes off the frames: where a flow's copies in two VLANs matter, turn that off (ethtool -K "+p.afpacket+" rxvlan off)", "err", err)
			}
		}
	}
	c, err := flowmeter.OpenAFPacket(capCfg)
	if err != nil {
		if in.bpf != nil {
			in.bpf.Close()
		}
		return nil, err
	}
	switch merging, err := c.MergingOffloads(); {
	case err != nil:
		log.Debug("the interface's offloads could not be read", "interface", p.afpacket, "err", err)
	case len(merging) > 0:
		log.Warn("the interface merges the packets it receives: flows' packet counts and per-packet information will describe the merged packets, not the wire's; turn that off: ethtool -K "+p.afpacket+" gro off lro off",
			"interface", p.afpacket, "offloads", strings.Join(merging, ","))
	}
	log.Info("capturing", "interface", p.afpacket, "sockets", p.fanout, "ring_per_socket", (p.blockSize * byteSize(p.ringBlocks)).String(),
		"promiscuous", !p.noPromisc)
	in.done, in.live = make(chan struct{}), true
	in.records, in.meters, in.capture = flowmeter.NewRecords(c.Meters(), in.done, true), c.Meters(), c
	in.run = func(ctx context.Context) error {
		defer close(in.done)
		if in.bpf == nil {
			return c.Run(ctx)
		}
		defer in.bpf.Close()
		// Flows handed to the kernel that no meter took back (a meter
		// takes each when it ends it: none should be) leave the
		// kernel's table after twice the inactive timeout.
		sweepCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			tick(sweepCtx, p.inactive, func() {
				if n, err := in.bpf.Sweep(2 * p.inactive); err != nil {
					log.Warn("sweeping the kernel's flow table", "err", err)
				} else if n > 0 {
					log.Debug("stale flows left the kernel's table", "flows", n)
				}
			})
		})
		err := c.Run(ctx)
		stop()
		wg.Wait()
		return err
	}
	return in, nil
}

// meteredInput is an input of one meter that feed fills with packets; feed
// must end the flows (Meter.FinishWithin) before it returns.
func meteredInput(cfg flowmeter.Config, live bool, feed func(context.Context, *flowmeter.Meter) error) (*packetInput, error) {
	m, err := flowmeter.NewMeter(cfg, flowmeter.LinkEthernet)
	if err != nil {
		return nil, err
	}
	in := &packetInput{meters: []*flowmeter.Meter{m}, done: make(chan struct{}), live: live}
	in.records = flowmeter.NewRecords(in.meters, in.done, live)
	in.run = func(ctx context.Context) error {
		defer close(in.done)
		defer m.Close()
		return feed(ctx, m)
	}
	return in, nil
}

// sources is what the daemon classifies: a source per meter, classified
// side by side, or the one meter's. The merged records are not to be read
// then.
func (in *packetInput) sources() []classify.Source {
	if len(in.meters) == 1 {
		return []classify.Source{in.records}
	}
	var s []classify.Source
	for _, m := range in.meters {
		s = append(s, flowmeter.NewRecords([]*flowmeter.Meter{m}, in.done, in.live))
	}
	return s
}

// expandPcaps expands the globs; each must name a readable pcap.
func expandPcaps(patterns []string) ([]string, error) {
	var paths []string
	stdin := false
	for _, pat := range patterns {
		if pat == flowmeter.StandardInput {
			// Checked as it is read: its first bytes cannot be read twice.
			if stdin {
				return nil, errors.New("--pcap -: standard input given twice")
			}
			stdin, paths = true, append(paths, pat)
			continue
		}
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("--pcap %q: %w", pat, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("--pcap %q: no such file", pat)
		}
		for _, m := range matches {
			r, err := flowmeter.OpenPcap(m)
			if err != nil {
				return nil, fmt.Errorf("--pcap: %w", err)
			}
			r.Close()
		}
		paths = append(paths, matches...)
	}
	return paths, nil
}

// close releases what open took, when the input will not run.
func (in *packetInput) close() {
	if in.capture != nil {
		in.capture.Close()
	}
	if in.bpf != nil {
		in.bpf.Close()
	}
}

// meterStats sums the meters' counters.
func (in *packetInput) meterStats() (packets uint64, skipped map[string]uint64, exported map[string]uint64, ringDrops uint64) {
	skipped, exported = map[string]uint64{}, map[string]uint64{}
	for _, m := range in.meters {
		st := m.Stats()
		packets += st.Packets.Load()
		for _, r := range flowmeter.SkipReasons() {
			skipped[r.String()] += st.Skipped[r].Load()
		}
		for _, r := range flowmeter.EndReasons() {
			exported[r.String()] += st.Exported[r].Load()
		}
		ringDrops += st.RingDrops.Load()
	}
	return packets, skipped, exported, ringDrops
}

// logArgs are the meters' counters for a log line.
func (in *packetInput) logArgs() []any {
	packets, skipped, exported, drops := in.meterStats()
	args := []any{"packets", packets, "ring_drops", drops}
	for _, r := range flowmeter.SkipReasons() {
		if n := skipped[r.String()]; n > 0 {
			args = append(args, "skipped_"+r.String(), n)
		}
	}
	for _, r := range flowmeter.EndReasons() {
		args = append(args, "flows_"+r.String(), exported[r.String()])
	}
	if in.capture != nil {
		received, dropped := in.capture.SocketStats()
		args = append(args, "kernel_received", received, "kernel_dropped", dropped)
	}
	if in.bpf != nil {
		if c, err := in.bpf.Counts(); err == nil {
			args = append(args, "bpf_passed", c.Passed, "bpf_filtered", c.Dropped, "bpf_counted", c.Counted, "bpf_table_full_flows", c.Full)
			if c.NoVLANHint > 0 {
				args = append(args, "bpf_xdp_no_vlan_hint", c.NoVLANHint)
			}
		}
	}
	return args
}

// eachFlow runs the input and calls fn with each flow's record until the
// input ends or ctx ends, and idle, unless nil, whenever no flow has come
// for a fraction of a second; broken records cannot happen here, so every
// error stops it.
func (in *packetInput) eachFlow(ctx context.Context, fn func(trap.Record) error, idle func() error) error {
	runErr := make(chan error, 1)
	go func() { runErr <- in.run(ctx) }()
	var err error
	for err == nil {
		var rec trap.Record
		rec, err = in.records.Next()
		switch {
		case err == nil:
			err = fn(rec)
		case errors.Is(err, trap.ErrTimeout) && idle != nil:
			err = idle()
		case errors.Is(err, trap.ErrTimeout):
			err = nil
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if err != nil {
		// The consumer stopped: stop the meters too.
		in.records.Close()
	}
	return errors.Join(err, <-runErr)
}

func runFlows(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "flows", "--pcap FILE... | --afpacket IFACE [options]")
	var p packetFlags
	p.register(fs)
	format := fs.String("format", "csv", "output format: csv (with a header) or json (JSON lines)")
	outPath := fs.String("o", "-", "write to this file (- is standard output)")
	log, err := parseLogged(e, fs, args, &p.pcaps)
	if err != nil {
		return err
	}
	if *format != "csv" && *format != "json" {
		return fmt.Errorf("flows: --format %q: want csv or json", *format)
	}
	if !p.given() {
		return errors.New("flows: --pcap or --afpacket is required")
	}
	in, err := p.open(log)
	if err != nil {
		return fmt.Errorf("flows: %w", err)
	}
	w, err := createOutput(e, *outPath)
	if err != nil {
		in.close()
		return fmt.Errorf("flows: %w", err)
	}
	defer w.Close()
	printer := trap.Printer{JSON: *format == "json", Header: true}
	// Written as they come, a live capture's flows show while it runs.
	err = in.eachFlow(ctx, func(rec trap.Record) error { return printer.Print(w, rec) }, w.Flush)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	log.Info("flows done", in.logArgs()...)
	if err != nil {
		return fmt.Errorf("flows: %w", err)
	}
	return nil
}

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "export", "(--pcap FILE... | --afpacket IFACE) -o IFC [options]")
	var p packetFlags
	p.register(fs)
	outIfc := fs.String("o", "", "output interface (IFC_SPEC), e.g. f:flows.trapcap or u:ipfixprobe")
	nemeaIfc := fs.String("i", "", "the output interface, as NEMEA modules name their interfaces (the same as -o)")
	metrics := fs.String("metrics", "", "serve Prometheus metrics of the capture, the meters and the output at http://ADDR/metrics, e.g. :9464")
	log, err := parseLogged(e, fs, args, &p.pcaps)
	if err != nil {
		return err
	}
	if !p.given() {
		return errors.New("export: --pcap or --afpacket is required")
	}
	opt, list := "-o", *outIfc
	if *nemeaIfc != "" {
		if *outIfc != "" {
			return errors.New("export: -o and -i both name the output interface: give one")
		}
		opt, list = "-i", *nemeaIfc
	}
	specs, err := parseIfcs("export", opt, list, 0, 1)
	if err != nil {
		return err
	}
	in, err := p.open(log)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	sent, err := sendFlows(ctx, in, specs[0], *metrics, log)
	log.Info("export done", append(in.logArgs(), "output", specs[0].Text, "records", sent)...)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// sendFlows runs the input and sends its flows on the output interface; it
// returns how many records went out. With metrics, an address, it serves
// the meters' and the output's counters there in Prometheus's text format
// while it runs.
func sendFlows(ctx context.Context, in *packetInput, spec trap.IfcSpec, metrics string, log *slog.Logger) (uint64, error) {
	w, err := trap.OpenOutput(spec)
	if err != nil {
		in.close()
		return 0, err
	}
	if metrics != "" {
		started := time.Now()
		serveCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer stop()
		addr, err := serveMetrics(serveCtx, &wg, metrics, log, func(out io.Writer) {
			m := metricWriter{out}
			in.writeMetrics(m)
			writeOutputMetrics(m, w.Stats())
			writeProcessMetrics(m, started)
		})
		if err != nil {
			in.close()
			w.Close()
			return 0, err
		}
		log.Info("serving metrics", "url", "http://"+addr+"/metrics")
	}
	defer serveService(ctx, log, func() trap.ServiceStats {
		return trap.ServiceStats{Out: []trap.ServiceOutput{w.ServiceOutput()}}
	})()
	err = in.eachFlow(ctx, func(rec trap.Record) error {
		if err := w.SetFormat(trap.UniRecFormat(rec.Template())); err != nil {
			return err
		}
		return w.Send(rec.Raw())
	}, nil) // the output flushes on its own (libtrap's autoflush)
	closeCtx, cancel := drainContext(ctx)
	err = errors.Join(err, w.CloseContext(closeCtx))
	cancel()
	st := w.Stats()
	if st.Dropped > 0 {
		err = errors.Join(err, fmt.Errorf("output %s dropped %d records (no reader, or readers too slow for its timeout)", spec, st.Dropped))
	}
	return st.Messages, err
}
