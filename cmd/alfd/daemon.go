package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/alfd/alfd/classify"
	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/internal/reload"
	"github.com/alfd/alfd/learner"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/learner/evaluate"
	"github.com/alfd/alfd/learner/query"
	"github.com/alfd/alfd/trap"
)

// daemonConfig is what the daemon runs with: ALF's options under ALF's
// names, NEMEA's -i and -v, and alfd's own.
type daemonConfig struct {
	// ALF's module.
	ifc            string
	input          string // ALF's dry-run module: folder or socket
	inputDef       string
	id             string
	workdir        string
	model          string
	strategy       string
	oracle         oracleFlags // --blacklist, and alfd's other lists
	dpath          string
	queryNMax      float64
	queryThreshold float64
	beta           float64
	postprocessor  string
	greedy         float64
	budget         float64
	reward         float64
	penalty        float64
	eta            float64
	maxDBSize      int

	// alfd's own.
	classifyOnly    bool // alfd classify: the model in modelFile, and no learning
	modelFile       string
	config          string
	output          string
	outputFormat    string
	generationFlows uint64
	generationTime  time.Duration
	metrics         string
	logFormat       string
	set             *features.Set
	dryRun          bool
	swapMargin      float64
	keepModels      int
	seed            uint64
	queueSize       int
	poolSize        int
	batch           int
	reloadEvery     time.Duration
	progress        time.Duration
	statusEvery     time.Duration
	packets         packetFlags
	verbosity
}

// register registers the daemon's options: those of its inputs and
// outputs, and the learner's.
func (c *daemonConfig) register(fs *flag.FlagSet) {
	c.registerIO(fs)
	fs.StringVar(&c.id, "id", "alfd", "experiment id: names D_i (db.ID.csv), the state and the metrics in the working directory")
	fs.StringVar(&c.workdir, "workdir", "./workdir", "working directory: D_i, models, metrics")
	fs.StringVar(&c.model, "model", "single", "single (ALF's soft vote of 3 random forests), committee (the same, kept apart, for kldiv and ral) or gbdt")
	fs.StringVar(&c.strategy, "query_strategy", "uncertainty_unranked", "query strategy: "+strings.Join(query.Names, ", "))
	c.oracle.register(fs, "the oracle: a file of DoH resolvers' addresses or networks (192.0.2.0/24), one a line (required, unless --domains or --labels)")
	fs.StringVar(&c.dpath, "dpath", "", "D_0, a CSV in ALF's format, that D_i starts from when the working directory has none")
	fs.Float64Var(&c.queryNMax, "query_nmax", 100, "flows asked per generation at most; for random, a fraction below 1 asks each flow with that probability")
	fs.Float64Var(&c.queryThreshold, "query_threshold", 0, "flows scoring at or below this are never asked (ral: the starting uncertainty threshold, default 0.9)")
	fs.Float64Var(&c.beta, "beta", 1, "weight of the density in information density")
	fs.StringVar(&c.postprocessor, "postprocessor", "undersample", "undersample (balance the classes, then keep --max_db_size rows) or identity (keep every row: ALF's default)")
	fs.Float64Var(&c.greedy, "threshold_greedy", 0.025, "ral: probability of asking anyway")
	fs.Float64Var(&c.budget, "budget", 0.05, "ral: largest share of flows asked")
	fs.Float64Var(&c.reward, "reward", 1, "ral: reward when the committee's question showed its prediction wrong")
	fs.Float64Var(&c.penalty, "penalty", 1, "ral: reward when it showed the prediction right")
	fs.Float64Var(&c.eta, "eta", 0.01, "ral: learning rate of the weights and the threshold")
	fs.IntVar(&c.maxDBSize, "max_db_size", 10000, "the largest D_i the undersampling postprocessor keeps")
	fs.Uint64Var(&c.generationFlows, "generation-flows", alfBatchRecords, "end a generation after this many flow records (ALF's batch); 0: only at the end of a stream and by --generation-time")
	fs.DurationVar(&c.generationTime, "generation-time", 0, "also end a generation when it has lasted this long, e.g. 10m (0: never)")
	fs.BoolVar(&c.dryRun, "dry-run", true, "label every classified flow with the oracle, to report the model on all of them each generation, as ALF does")
	fs.Float64Var(&c.swapMargin, "swap-margin", 0, "a new model replaces the running one unless its F1 on unseen rows is lower by more than this")
	fs.IntVar(&c.keepModels, "keep-models", 10, "models the working directory keeps, the newest, the one in use among them (0: every one)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed of the learner and the query strategy")
	fs.IntVar(&c.queueSize, "queue", 1<<16, "flows the fast path may hand the learner before it drops them (counted)")
	fs.IntVar(&c.poolSize, "pool", 0, "candidates a generation keeps, the best by the strategy's score (default 10 times --query_nmax, at least 1000; ral: twice --budget's share of a generation)")
	fs.DurationVar(&c.reloadEvery, "blacklist-reload", 30*time.Second, "check the oracle's files (--blacklist, --domains, --labels) this often and reload those that changed (0: never); SIGHUP reloads them at once")
}

// registerIO registers the options of the inputs, the outputs, the
// classifiers and the logs, which alfd classify shares with the daemon.
func (c *daemonConfig) registerIO(fs *flag.FlagSet) {
	fs.StringVar(&c.ifc, "i", "", "TRAP interfaces, NEMEA style: the input, then optionally the output, e.g. u:alf_socket,u:alfd_out (ALF's --i)")
	fs.StringVar(&c.input, "input", "", "ALF's other module: socket or folder, named by --input_def (instead of -i)")
	fs.StringVar(&c.inputDef, "input_def", "", "with --input: the socket's name or the folder of trapcap files")
	fs.StringVar(&c.config, "config", "", "a YAML file of settings, named as these flags (batch: 512); flags given override it")
	fs.StringVar(&c.output, "output", "", "also write every classified flow to this file (- is standard output), for people without NEMEA")
	fs.StringVar(&c.outputFormat, "output-format", "json", "format of --output: json (JSON lines) or csv")
	fs.StringVar(&c.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. :9464")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format on standard error: text or json")
	c.set = setFlag(fs, "feature set: alf (as ALF computes them, quirks included) or fixed")
	fs.IntVar(&c.batch, "batch", 256, "flows scored together")
	fs.DurationVar(&c.progress, "progress", time.Second, "how often to show progress on standard error for file inputs (0: never)")
	fs.DurationVar(&c.statusEvery, "status-every", time.Minute, "how often to log what a live input's run has done so far (0: never), as the line alfd logs when it stops")
	c.packets.register(fs)
	c.verbosity.register(fs)
}

// applyConfigFile sets the flags that the YAML file at path names, before
// the command line is parsed. A key that is no flag is an error that names
// it and the file.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var settings map[string]any
	if err := yaml.Unmarshal(data, &settings); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := strings.TrimLeft(k, "-")
		if fs.Lookup(name) == nil || name == "config" {
			return fmt.Errorf("--config %s: unknown setting %q", path, k)
		}
		if settings[k] == nil {
			continue // a key without a value: the default
		}
		values := []any{settings[k]}
		if list, ok := settings[k].([]any); ok {
			// A list, for an option that may be given several times.
			if _, repeatable := fs.Lookup(name).Value.(*listFlag); !repeatable {
				return fmt.Errorf("--config %s: setting %s: want a single value, not a list", path, k)
			}
			values = list
		}
		for _, v := range values {
			value, ok := configValue(v)
			if !ok {
				return fmt.Errorf("--config %s: setting %s: want a single value (a string, number or true/false), not %v", path, k, v)
			}
			if err := fs.Set(name, value); err != nil {
				return fmt.Errorf("--config %s: setting %s: %w", path, k, err)
			}
		}
	}
	return nil
}

// configValue is a YAML scalar as a flag takes it.
func configValue(v any) (string, bool) {
	switch v := v.(type) {
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case string, bool, int, int64, uint64:
		return fmt.Sprint(v), true
	}
	return "", false
}

// configPath finds --config in the command line, which must be read before
// the rest is parsed.
func configPath(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// daemonUsage heads alfd's help.
const daemonUsage = `Usage: alfd -i IN[,OUT] --blacklist FILE [--dpath D0.csv] [options]
       alfd COMMAND [options]   (alfd COMMAND -h for a command's options)

alfd reads flows from a TRAP input (ipfixprobe, or a trapcap file),
classifies each as DNS over HTTPS or not, sends them on with DOH,
DOH_PROBA and MODEL_VERSION added, and keeps its model fresh by active
learning: the flows its query strategy picks are labelled by the oracle
(the blacklist of resolvers' addresses; --domains adds their server
names, --labels a person's own labels), added to D_i, and a new model is
trained and swapped in when it is not worse. ALF's command line works
unchanged:

  alfd --i u:alf_socket --id test_random --workdir ./workdir --model single \
       --query_strategy random --blacklist conf/blacklist.txt --query_nmax 1 \
       --max_db_size 10000 --dpath conf/doh_D0.csv

SIGINT or SIGTERM stops it within 2 s; D_i, the models and the metrics in
the working directory survive, and a restart goes on from them.

Options:
`

// runDaemon is alfd itself.
func runDaemon(ctx context.Context, e *env, args []string) error {
	return runConfigured(ctx, e, "alfd", daemonUsage, (*daemonConfig).register, args, func() {
		fmt.Fprintln(e.stderr)
		usageCommands(e.stderr)
	})
}

// classifyUsage heads alfd classify's help.
const classifyUsage = `Usage: alfd classify --model FILE -i IN[,OUT] [options]
       alfd classify --model FILE --pcap FILE... | --afpacket IFACE [-i OUT] [options]

alfd classify is alfd's fast path alone: it classifies every flow with
the model in FILE (alfd's, as alfd train writes it, or a LightGBM or
XGBoost model trained elsewhere on ALF's features) and sends the flows on
with DOH, DOH_PROBA and MODEL_VERSION, as alfd does, but learns nothing:
no oracle, D_0 or working directory. The model is loaded again when its
file changes (write the new one beside it and rename it over) and on
SIGHUP; one that does not load leaves the model in use. MODEL_VERSION is
the version alfd's metadata records, or for a file without, its loads
counted from 1. With an oracle (--blacklist, --domains, --labels), the
model is measured on the flows it labels every --report-every.

Options:
`

// runClassify is alfd classify: the daemon with a model chosen by hand.
func runClassify(ctx context.Context, e *env, args []string) error {
	if err := runConfigured(ctx, e, "alfd classify", classifyUsage, (*daemonConfig).registerClassify, args, nil); err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	return nil
}

// registerClassify registers alfd classify's options: the inputs',
// outputs' and classifiers', and the model's.
func (c *daemonConfig) registerClassify(fs *flag.FlagSet) {
	c.classifyOnly = true
	c.registerIO(fs)
	fs.StringVar(&c.modelFile, "model", "", "the model: alfd's metadata JSON, or a LightGBM (text or JSON) or XGBoost (JSON or binary) file (required)")
	fs.DurationVar(&c.reloadEvery, "model-reload", 30*time.Second, "check the model's file (and the oracle's) this often and load it again when it changed (0: never); SIGHUP loads them at once")
	c.oracle.register(fs, "measure the model on the flows this blacklist of DoH resolvers labels (so --domains and --labels), logged and in the metrics every --report-every: how it does on today's traffic")
	fs.DurationVar(&c.generationTime, "report-every", 5*time.Minute, "with an oracle: how often to measure the model on the flows it labelled since the last time (and at the end of each stream)")
}

// runConfigured parses args (after the --config file's settings) into the
// options register makes, and runs the daemon. -h prints usage, the
// options, and what moreHelp adds.
func runConfigured(ctx context.Context, e *env, name, usage string, register func(*daemonConfig, *flag.FlagSet), args []string, moreHelp func()) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	c := new(daemonConfig)
	register(c, fs)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, usage)
		fs.PrintDefaults()
		if moreHelp != nil {
			moreHelp()
		}
	}
	if path := configPath(args); path != "" {
		if err := applyConfigFile(fs, path); err != nil {
			return err
		}
	}
	if err := parseArgs(fs, args, &c.packets.pcaps); err != nil {
		return err
	}
	log, err := c.logger(e.stderr)
	if err != nil {
		return err
	}
	d, err := newDaemon(ctx, c, e, log)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

func (c *daemonConfig) logger(w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if c.v || c.vv || c.vvv {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", c.logFormat)
}

// daemon holds the running parts.
type daemon struct {
	cfg                     *daemonConfig
	e                       *env
	log                     *slog.Logger
	slot                    infer.Slot
	learner                 *learner.Learner                 // nil for alfd classify
	lists                   []annotate.Reloader              // the oracle's
	model                   *infer.ModelFile                 // alfd classify's
	measure                 atomic.Pointer[evaluate.Metrics] // alfd classify's last measure of its model
	files                   []reload.File                    // the lists, or the model: kept fresh
	reloads, reloadFailures atomic.Uint64                    // alfd classify's model loaded again, or not
	in                      *trap.Reader                     // a TRAP input
	packets                 *packetInput                     // or packets, metered
	sources                 []classify.Source                // one, or one per meter of a fanout group
	trapOut                 *trap.Writer
	textOut                 *classify.TextOutput // --output's
	pipeline                *classify.Pipeline
	started                 time.Time
	running                 time.Time // when classifying began
}

// interfaces are the TRAP input, from -i or ALF's --input/--input_def,
// and the output if -i names one. With packets for input (--pcap,
// --afpacket), -i names the output alone, if any.
func (c *daemonConfig) interfaces() (in *trap.IfcSpec, out *trap.IfcSpec, err error) {
	list := c.ifc
	if c.packets.given() {
		if c.input != "" {
			return nil, nil, errors.New("give --input or packets (--pcap, --afpacket), not both")
		}
		if list == "" {
			return nil, nil, nil
		}
		specs, err := trap.ParseIfcSpecs(list)
		if err != nil {
			return nil, nil, fmt.Errorf("-i: %w", err)
		}
		if len(specs) > 1 {
			return nil, nil, fmt.Errorf("-i: with packets for input, -i names the output only, and %d interfaces are given", len(specs))
		}
		return nil, &specs[0], nil
	}
	switch {
	case c.input != "" && list != "":
		return nil, nil, errors.New("give -i or --input, not both")
	case c.input == "socket":
		list = "u:" + c.inputDef
	case c.input == "folder":
		list = "f:" + filepath.Join(c.inputDef, "*")
	case c.input != "":
		return nil, nil, fmt.Errorf("--input %q: want socket or folder", c.input)
	case list == "":
		return nil, nil, errors.New("-i is required: the TRAP input, e.g. u:alf_socket or f:flows.trapcap, and optionally an output (or packets: --pcap, --afpacket)")
	}
	if c.input != "" && c.inputDef == "" {
		return nil, nil, errors.New("--input needs --input_def")
	}
	specs, err := trap.ParseIfcSpecs(list)
	if err != nil {
		return nil, nil, fmt.Errorf("-i: %w", err)
	}
	switch {
	case len(specs) > 2:
		return nil, nil, fmt.Errorf("-i: %d interfaces given; alfd takes one input and at most one output", len(specs))
	case specs[0].Kind == 'b':
		return nil, nil, fmt.Errorf("-i: %s is an output-only interface", specs[0])
	}
	if len(specs) == 2 {
		out = &specs[1]
	}
	return &specs[0], out, nil
}

// learnerConfig turns ALF's options into the learner's.
func (c *daemonConfig) learnerConfig(set features.Set, oracle annotate.Oracle, log *slog.Logger) (learner.Config, error) {
	p := query.Params{Threshold: c.queryThreshold, Beta: c.beta, Seed: c.seed,
		RAL: query.RALParams{Greedy: c.greedy, Budget: c.budget, Reward: c.reward, Penalty: c.penalty, Eta: c.eta}}
	switch n := c.queryNMax; {
	case n <= 0 || math.IsNaN(n):
		return learner.Config{}, fmt.Errorf("--query_nmax %v: want a count of flows, or a fraction for random", n)
	case n < 1:
		if c.strategy != "random" {
			return learner.Config{}, fmt.Errorf("--query_nmax %v: a fraction is for the random strategy; give a count", n)
		}
		p.Fraction = n
	case n != math.Trunc(n):
		return learner.Config{}, fmt.Errorf("--query_nmax %v: want a whole number of flows", n)
	default:
		p.NMax = int(n)
	}
	if c.strategy == "ral" {
		p.RAL.Uncertainty = c.queryThreshold
	}
	if c.maxDBSize <= 0 {
		return learner.Config{}, fmt.Errorf("--max_db_size %d: want a positive number of rows", c.maxDBSize)
	}
	if c.keepModels < 0 {
		return learner.Config{}, fmt.Errorf("--keep-models %d: want 0 (every one) or more", c.keepModels)
	}
	meterCPUs, err := c.packets.meterCPUs()
	if err != nil {
		return learner.Config{}, err
	}
	var learnerCPUs []int
	if meterCPUs != nil {
		if learnerCPUs = otherCPUs(meterCPUs); learnerCPUs == nil {
			log.Warn("--cpus leaves the learner no CPU of its own: it runs beside the meters", "cpus", c.packets.cpus)
		}
	}
	return learner.Config{
		ID: c.id, WorkDir: c.workdir, Model: c.model, FeatureSet: set,
		Strategy: c.strategy, Params: p, Postprocessor: c.postprocessor, MaxDBSize: c.maxDBSize,
		D0: c.dpath, Oracle: oracle, QueueSize: c.queueSize, PoolSize: c.pool(),
		SwapMargin: c.swapMargin, KeepModels: c.keepModels, CPUs: learnerCPUs, Seed: c.seed, Log: log,
	}, nil
}

// pool is --pool, or for RAL, which asks as its budget lets it rather than
// --query_nmax, room for twice the budget's share of a generation (at
// least 1000), so that the pool does not turn its questions away.
func (c *daemonConfig) pool() int {
	if c.poolSize != 0 || c.strategy != "ral" {
		return c.poolSize
	}
	perGeneration := float64(cmp.Or(c.generationFlows, alfBatchRecords))
	return max(1000, int(math.Ceil(2*c.budget*perGeneration)))
}

func newDaemon(ctx context.Context, c *daemonConfig, e *env, log *slog.Logger) (_ *daemon, err error) {
	d := &daemon{cfg: c, e: e, log: log, started: time.Now()}
	defer func() {
		if err != nil {
			d.closeIO(context.Background())
			if d.packets != nil {
				d.packets.close()
			}
		}
	}()
	inSpec, outSpec, err := c.interfaces()
	if err != nil {
		return nil, err
	}
	set := *c.set
	switch c.outputFormat {
	case "json", "csv":
	default:
		return nil, fmt.Errorf("--output-format %q: want json or csv", c.outputFormat)
	}
	if c.batch <= 0 {
		return nil, fmt.Errorf("--batch %d: want a positive number of flows", c.batch)
	}
	var oracle annotate.Oracle
	var lc learner.Config
	if c.classifyOnly {
		if c.modelFile == "" {
			return nil, errors.New("--model is required: the model that classifies the flows")
		}
		if d.model, err = infer.NewModelFile(c.modelFile, set, &d.slot); err != nil {
			return nil, err
		}
		for _, w := range d.slot.Load().Warnings {
			log.Warn(w, "model", c.modelFile)
		}
		d.files = []reload.File{d.model}
		if c.oracle.given() {
			if oracle, d.lists, err = c.oracle.load(log); err != nil {
				return nil, err
			}
		}
	} else {
		if !c.oracle.given() {
			return nil, errors.New("--blacklist is required: the oracle that labels the flows the learner asks about (or --domains, --labels)")
		}
		if oracle, d.lists, err = c.oracle.load(log); err != nil {
			return nil, err
		}
		if lc, err = c.learnerConfig(set, oracle, log); err != nil {
			return nil, err
		}
	}
	for _, l := range d.lists {
		d.files = append(d.files, l)
	}
	// The inputs first: a mistake in them should not wait for training.
	inName := "packets"
	if inSpec != nil {
		if d.in, err = trap.OpenInput(*inSpec, trap.InputConfig{}); err != nil {
			return nil, err
		}
		d.sources, inName = []classify.Source{classify.TrapSource{R: d.in}}, inSpec.Text
	} else {
		if d.packets, err = c.packets.open(log); err != nil {
			return nil, err
		}
		d.sources = d.packets.sources()
		if c.packets.afpacket != "" {
			inName = "afpacket:" + c.packets.afpacket
		} else {
			inName = "pcap:" + c.packets.pcaps.String()
		}
	}
	if outSpec != nil {
		if d.trapOut, err = trap.OpenOutput(*outSpec); err != nil {
			return nil, err
		}
	}
	var outputs multiOutput
	if d.trapOut != nil {
		outputs = append(outputs, classify.TrapOutput{W: d.trapOut})
	}
	if c.output != "" {
		w := e.stdout
		if c.output != "-" {
			f, err := os.Create(c.output)
			if err != nil {
				return nil, fmt.Errorf("--output: %w", err)
			}
			w = f
		}
		d.textOut = classify.NewTextOutput(w, c.outputFormat == "json")
		outputs = append(outputs, d.textOut)
	}
	pc := classify.Config{Set: set, Slot: &d.slot, BatchSize: c.batch, Log: log}
	if c.classifyOnly {
		m := d.slot.Load()
		log.Info("alfd classify started", "version", version(), "input", inName, "classifiers", len(d.sources), "model", m.Path, "model_version", m.Version)
		if oracle != nil {
			pc.Oracle, pc.GenerationTime, pc.OnGeneration = oracle, c.generationTime, d.measured
		}
	} else {
		if _, err := os.Stat(filepath.Join(c.workdir, "db."+c.id+".csv")); errors.Is(err, os.ErrNotExist) {
			log.Info("training the first model from D_0", "dpath", c.dpath, "model", c.model)
		}
		if d.learner, err = learner.New(ctx, lc, &d.slot); err != nil {
			return nil, err
		}
		m := d.slot.Load()
		log.Info("alfd started", "version", version(), "input", inName, "classifiers", len(d.sources), "model", m.Path, "model_version", m.Version,
			"query_strategy", c.strategy, "db_rows", d.learner.DB().Len())
		if c.generationFlows == 0 && c.generationTime == 0 && d.sources[0].Live() {
			log.Warn("no generation ends, and nothing is learnt, until the input ends: give --generation-flows or --generation-time")
		}
		pc.Learner, pc.GenerationFlows, pc.GenerationTime, pc.Seed = d.learner, c.generationFlows, c.generationTime, c.seed
		if c.dryRun {
			pc.Oracle = oracle
		}
	}
	switch len(outputs) {
	case 0:
	case 1:
		pc.Output = outputs[0]
	default:
		pc.Output = outputs
	}
	d.pipeline = classify.New(pc)
	return d, nil
}

// run classifies until the input ends (files) or ctx ends, then stops
// everything in order: the output is drained and closed, the learner
// saves D_i, and the summary is logged.
func (d *daemon) run(ctx context.Context) error {
	// Set before the goroutines that read it start.
	d.running = time.Now()
	// The learner, the reloads, the metrics and the progress go on until
	// the output is drained and closed.
	learnerCtx, stopLearner := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLearner()
	var wg sync.WaitGroup
	var learnerErr error
	if d.learner != nil {
		wg.Go(func() { learnerErr = d.learner.Run(learnerCtx) })
	}
	// SIGHUP reloads the oracle's files, or alfd classify's model, at once
	// (systemctl reload), as daemons reload their files; --blacklist-reload
	// (--model-reload) also looks for changes.
	hup, reloadNow := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-learnerCtx.Done():
				return
			case sig := <-hup:
				d.reopenOutput()
				select {
				case reloadNow <- sig:
				default: // a reload is already asked for
				}
			}
		}
	})
	wg.Go(func() { reload.Watch(learnerCtx, d.cfg.reloadEvery, reloadNow, d.files, d.reloaded) })
	if d.in != nil || d.trapOut != nil {
		defer serveService(learnerCtx, d.log, d.serviceStats)()
	}
	if d.cfg.metrics != "" {
		srv, err := serveMetrics(learnerCtx, &wg, d.cfg.metrics, d.log, d.writeMetrics)
		if err != nil {
			stopLearner()
			wg.Wait()
			d.closeIO(context.Background())
			return err
		}
		d.log.Info("serving metrics", "url", "http://"+srv+"/metrics")
	}
	if !d.sources[0].Live() && d.cfg.progress > 0 {
		wg.Go(func() { d.showProgress(learnerCtx) })
	}
	if d.sources[0].Live() && d.cfg.statusEvery > 0 {
		// A live input's only news between generations, for those who
		// read the log rather than the metrics.
		wg.Go(func() { tick(learnerCtx, d.cfg.statusEvery, func() { d.logStatus("status") }) })
	}

	pipeCtx := ctx
	var packetErr error // the packet input's, read once wg is done
	producerCtx, stopProducer := context.WithCancel(ctx)
	defer stopProducer()
	if d.packets != nil {
		// The meters stop at the signal and hand over the flows in their
		// caches; the pipeline classifies and sends them before it stops,
		// but stops anyway 1.5 s after the signal.
		var cancelPipe context.CancelFunc
		pipeCtx, cancelPipe = context.WithCancel(context.WithoutCancel(ctx))
		defer cancelPipe()
		defer context.AfterFunc(ctx, func() { time.AfterFunc(1500*time.Millisecond, cancelPipe) })()
		wg.Go(func() {
			// When the input stops on its own, its records end, the
			// pipeline stops, and alfd exits with the input's error.
			if packetErr = d.packets.run(producerCtx); packetErr != nil {
				d.log.Error("packet input stopped", "err", packetErr)
			}
		})
	}
	runErr := d.pipeline.RunAll(pipeCtx, d.sources)
	stopProducer()
	if runErr != nil {
		d.log.Error("classifying stopped", "err", runErr)
	}
	closeCtx, cancel := drainContext(ctx)
	outErr := d.closeIO(closeCtx)
	cancel()
	stopLearner()
	wg.Wait()
	d.summary()
	err := errors.Join(runErr, outErr, learnerErr, packetErr)
	if bad := d.pipeline.Stats().BadInput.Load(); err == nil && ctx.Err() == nil && bad > 0 && !d.sources[0].Live() {
		// Files read to their end, with parts skipped: the exit status
		// says so to a script, as alfd dump's does; the warnings say which.
		what := "classified and learnt from"
		if d.learner == nil {
			what = "classified"
		}
		err = fmt.Errorf("%d broken containers, files or records skipped (the warnings above say which); the rest was %s", bad, what)
	}
	return err
}

// measured logs how alfd classify's model did on the flows the oracle
// labelled in a window (a "generation" of the fast path).
func (d *daemon) measured(s learner.GenerationStats) {
	n := s.All.N()
	if n == 0 {
		d.log.Info("no flow labelled to measure the model on", "flows", s.Flows)
		return
	}
	m := s.All.Metrics(float64(s.All.TP+s.All.FN) / float64(n))
	args := []any{"flows", s.Flows, "labelled", n, "doh", s.All.TP + s.All.FN,
		"f1", fmt.Sprintf("%.4f", m.F1), "f1_doh", fmt.Sprintf("%.4f", m.F1DoH), "precision", fmt.Sprintf("%.4f", m.Precision),
		"recall", fmt.Sprintf("%.4f", m.Recall), "mcc", fmt.Sprintf("%.4f", m.MCC), "false_positives", s.All.FP, "false_negatives", s.All.FN}
	if s.Ranks != nil {
		if m.RankHistogram(s.Ranks); m.ROCAUC != nil {
			args = append(args, "roc_auc", fmt.Sprintf("%.4f", *m.ROCAUC))
		}
	}
	d.measure.Store(&m)
	d.log.Info("the model on the flows the oracle labelled", args...)
}

// serveService serves a module's TRAP counters on its service interface,
// where NEMEA's supervisor asks for them, until ctx ends or the function
// it returns is called. A module runs on without it, as with libtrap.
func serveService(ctx context.Context, log *slog.Logger, stats func() trap.ServiceStats) (stop func()) {
	svc, err := trap.ServeService(ctx, stats)
	if err != nil {
		log.Warn("no service interface for NEMEA's supervisor", "err", err)
		return func() {}
	}
	return func() { svc.Close() }
}

// serviceStats are the TRAP interfaces' counters, for the service
// interface.
func (d *daemon) serviceStats() trap.ServiceStats {
	var st trap.ServiceStats
	if d.in != nil {
		st.In = append(st.In, d.in.ServiceInput())
	}
	if d.trapOut != nil {
		st.Out = append(st.Out, d.trapOut.ServiceOutput())
	}
	return st
}

// reopenOutput opens --output's file anew on SIGHUP, after logrotate (or
// a person) moved it away: the flows classified from the next flush on go
// to the new file, none lost between. A file that cannot be opened leaves
// the output where it was.
func (d *daemon) reopenOutput() {
	if d.textOut == nil || d.cfg.output == "-" {
		return
	}
	f, err := os.OpenFile(d.cfg.output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		d.log.Error("--output did not reopen; the flows go on to the file open before", "err", err)
		return
	}
	d.textOut.Switch(f)
	d.log.Info("output reopened", "file", d.cfg.output)
}

// reloaded logs what became of a file reload.Watch read again, or could
// not look at.
func (d *daemon) reloaded(f reload.File, err error) {
	if _, isModel := f.(*infer.ModelFile); isModel {
		if err != nil {
			d.reloadFailures.Add(1)
			d.log.Error("the model did not load again; the one in use stays", "file", f.Path(), "err", err)
			return
		}
		d.reloads.Add(1)
		m := d.slot.Load()
		for _, w := range m.Warnings {
			d.log.Warn(w, "model", f.Path())
		}
		d.log.Info("model loaded again", "file", f.Path(), "model_version", m.Version)
		return
	}
	kind := d.cfg.oracle.kind(f.Path())
	if err != nil {
		d.log.Error(kind+" did not reload; the old one stays", "file", f.Path(), "err", err)
		return
	}
	l := f.(annotate.Reloader)
	for _, le := range l.Bad() {
		d.log.Warn(kind+" line skipped", "err", le)
	}
	d.log.Info(kind+" reloaded", "file", f.Path(), "entries", l.Len(), "bad_lines", len(l.Bad()))
}

// closeIO closes the interfaces and the output file; readers of the output
// get what was sent until ctx ends.
func (d *daemon) closeIO(ctx context.Context) error {
	var errs []error
	for _, s := range d.sources {
		s.Close() // a TRAP input's, or each meter's
	}
	if d.trapOut != nil {
		errs = append(errs, d.trapOut.CloseContext(ctx))
	}
	if d.textOut != nil && d.cfg.output != "-" {
		errs = append(errs, d.textOut.Close())
	}
	return errors.Join(errs...)
}

// summary logs what the run did.
func (d *daemon) summary() { d.logStatus("alfd stopped") }

// logStatus logs, as msg, what the run has done so far.
func (d *daemon) logStatus(msg string) {
	st := d.pipeline.Stats()
	elapsed := time.Since(d.started)
	// Throughput leaves out the first training and the time an offline
	// input waited for the learner.
	busy := (time.Since(d.running) - time.Duration(st.LearnerWait.Load())).Seconds()
	args := []any{"records", st.Records.Load(), "classified", st.Classified.Load(), "doh", st.DoH.Load(),
		"bad_input", st.BadInput.Load()}
	if d.learner != nil {
		args = append(args, "offered", st.Offered.Load(), "queue_drops", d.learner.Dropped())
	}
	args = append(args, "seconds", fmt.Sprintf("%.1f", elapsed.Seconds()),
		"records_per_second", fmt.Sprintf("%.0f", float64(st.Records.Load())/max(busy, 1e-3)))
	switch {
	case d.learner == nil:
		args = append(args, "model_version", d.slot.Load().Version)
	case d.cfg.strategy == "ral":
		args = append(args, "ral_pool_full", d.learner.RALPoolFull())
	}
	if d.learner != nil {
		if r := d.learner.LastReport(); r != nil {
			args = append(args, "generation", r.Generation, "model_version", r.ModelVersion, "db_rows", r.DBSize)
		}
	}
	if d.trapOut != nil {
		if dropped := d.trapOut.Stats().Dropped; dropped > 0 {
			args = append(args, "output_dropped", dropped)
		}
	}
	if d.packets != nil {
		args = append(args, d.packets.logArgs()...)
	}
	d.log.Info(msg, args...)
}

// showProgress shows how far a file input has come.
func (d *daemon) showProgress(ctx context.Context) {
	p := newProgressLine(d.e.stderr, d.cfg.progress)
	defer p.finish()
	tick(ctx, p.every, func() {
		st := d.pipeline.Stats()
		secs := time.Since(p.start).Seconds()
		line := fmt.Sprintf("%d records, %.0f records/s, %d classified, %.1f%% DoH",
			st.Records.Load(), float64(st.Records.Load())/secs, st.Classified.Load(),
			100*float64(st.DoH.Load())/float64(max(st.Classified.Load(), 1)))
		if d.learner != nil {
			line += fmt.Sprintf(", generation %d", st.Generations.Load())
		}
		line += fmt.Sprintf(", model v%d", d.slot.Load().Version)
		p.show(line)
	})
}

// tick calls fn every interval until ctx ends.
func tick(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// multiOutput sends each batch to several outputs.
type multiOutput []classify.Output

func (m multiOutput) Write(t *trap.Template, recs [][]byte) error {
	for _, o := range m {
		if err := o.Write(t, recs); err != nil {
			return err
		}
	}
	return nil
}

func (m multiOutput) Flush() error {
	for _, o := range m {
		if err := o.Flush(); err != nil {
			return err
		}
	}
	return nil
}
