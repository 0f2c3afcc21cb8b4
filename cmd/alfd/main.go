// Command alfd finds DNS over HTTPS in flow data and keeps its classifier
// fresh by active learning. It is a drop-in successor of CESNET's ALF NEMEA
// module, and its subcommands stand in for NEMEA's tools.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/trap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "alfd:", err)
		os.Exit(1)
	}
}

// env is what every subcommand runs with.
type env struct {
	stdout, stderr io.Writer
}

type command struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}

var commands = []command{
	{"dump", "print the records of a TRAP interface as CSV or JSON lines (like NEMEA's logger)", runDump},
	{"replay", "copy the records of one TRAP interface to another (like NEMEA's traffic_repeater)", runReplay},
	{"features", "compute ALF's DoH features of the flows on a TRAP interface, as CSV", runFeatures},
	{"classify", "classify flows with a model chosen by hand and learn nothing: alfd's fast path alone, as a NEMEA detector", runClassify},
	{"train", "train a model from a CSV in ALF's format (D_0), with alfd's own trainer", runTrain},
	{"eval", "evaluate a model on the flows of a TRAP interface against a blacklist", runEval},
	{"report", "sum up and compare the experiments of a working directory, as a table, CSV or an SVG plot", runReport},
	{"generate", "write seeded synthetic DoH and HTTPS flows, with a drift, to a TRAP interface", runGenerate},
	{"flows", "meter packets (pcap files or a live interface) into flows, as ipfixprobe would, and print them", runFlows},
	{"export", "meter packets into flows and send them as UniRec on a TRAP interface, in ipfixprobe's stead", runExport},
	{"model", "describe a model: its kind, trees, training, and the features its trees split on most", runModel},
	{"stats", "print the counters of a running NEMEA module's TRAP interfaces, alfd's or another's (NEMEA's trap_stats)", runStats},
	{"version", "print alfd's version, the commit it was built from and Go's version", runVersion},
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{stdout: stdout, stderr: diagnostics(stderr)}
	switch {
	case len(args) == 0 || args[0] == "help":
		return runDaemon(ctx, e, []string{"-h"})
	case args[0] == "--version" || args[0] == "-version":
		return runVersion(ctx, e, args[1:])
	case strings.HasPrefix(args[0], "-"):
		// Options first: alfd itself, as NEMEA modules and ALF start.
		return runDaemon(ctx, e, args)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	usageCommands(stderr)
	return fmt.Errorf("unknown command %q (alfd -h shows alfd's options and commands)", args[0])
}

func usageCommands(w io.Writer) {
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nTRAP interfaces are given as NEMEA's IFC_SPEC: u:NAME (unix socket),")
	fmt.Fprintln(w, "t:[HOST:]PORT (TCP), f:FILE (trapcap file; a glob for input), b: (blackhole);")
	fmt.Fprintln(w, "several are separated by commas, inputs first. TRAP_SOCKET_DIR sets where")
	fmt.Fprintln(w, "u: sockets live (default /tmp).")
}

// drainContext is how long readers of an output get to take what was sent
// when it closes: libtrap's drain timeout after the end of the input, one
// second after a signal (ctx ended), which must stop alfd within two.
func drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	drain := trap.DefaultDrainTimeout
	if ctx.Err() != nil {
		drain = time.Second
	}
	return context.WithTimeout(context.WithoutCancel(ctx), drain)
}

// setFlag registers --set, the feature set, checked as it is parsed.
func setFlag(fs *flag.FlagSet, usage string) *features.Set {
	set := features.SetALF
	fs.Func("set", usage+" (default alf)", func(name string) error {
		var err error
		set, err = features.ParseSet(name)
		return err
	})
	return &set
}

// verbosity holds NEMEA's -v, -vv and -vvv.
type verbosity struct{ v, vv, vvv bool }

func (v *verbosity) register(fs *flag.FlagSet) {
	fs.BoolVar(&v.v, "v", false, "be verbose")
	fs.BoolVar(&v.vv, "vv", false, "be more verbose")
	fs.BoolVar(&v.vvv, "vvv", false, "be even more verbose")
}

// logger returns a text logger on w at the chosen level: warnings by default,
// -v info, -vv and -vvv debug.
func (v *verbosity) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case v.vv || v.vvv:
		level = slog.LevelDebug
	case v.v:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// parseLogged adds NEMEA's -v, -vv and -vvv to a command's flags, parses
// args as parseArgs does, and returns the command's logger at the level
// they chose.
func parseLogged(e *env, fs *flag.FlagSet, args []string, pcaps *listFlag) (*slog.Logger, error) {
	var v verbosity
	v.register(fs)
	if err := parseArgs(fs, args, pcaps); err != nil {
		return nil, err
	}
	return v.logger(e.stderr), nil
}

// parseWithArgs parses the args of a command that takes arguments besides
// its options (and NEMEA's -v), before them or after, and returns those.
func parseWithArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var v verbosity
	v.register(fs)
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
}

// parseArgs parses a command's args. Arguments that are not options are
// refused, but for a command that reads pcaps (pcaps not nil): there they
// are more files after --pcap, in their order among the options, as a
// shell expands --pcap *.pcap. Nothing given is left unread.
func parseArgs(fs *flag.FlagSet, args []string, pcaps *listFlag) error {
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return nil
		}
		if pcaps == nil {
			return fmt.Errorf("unexpected argument %q (options start with -)", rest[0])
		}
		if len(*pcaps) == 0 {
			return fmt.Errorf("unexpected argument %q (options start with -; files to read go after --pcap)", rest[0])
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			// Everything after -- is a file, even one named like an option.
			*pcaps = append(*pcaps, rest...)
			return nil
		}
		*pcaps = append(*pcaps, rest[0])
		args = rest[1:]
	}
}

// diagnostics is where logs and progress lines go, from several goroutines
// at once: an *os.File takes each write whole (and a progress line looks
// at it for a terminal); any other writer gets a lock.
func diagnostics(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok {
		return w
	}
	return &lockedWriter{w: w}
}

// lockedWriter serializes the writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// output is a command's -o: a file, or standard output for "-", buffered.
type output struct {
	*bufio.Writer
	file *os.File // nil for standard output, and once closed
}

// createOutput creates the file at path, or takes standard output for "-".
func createOutput(e *env, path string) (*output, error) {
	if path == "-" {
		return &output{Writer: bufio.NewWriterSize(e.stdout, 64<<10)}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &output{Writer: bufio.NewWriterSize(f, 64<<10), file: f}, nil
}

// Close flushes the output and closes its file, if any: the last writes
// may fail only there (a full disk).
func (o *output) Close() error {
	err := o.Flush()
	if o.file != nil {
		err = errors.Join(err, o.file.Close())
		o.file = nil
	}
	return err
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("alfd "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: alfd %s %s\n\nOptions:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}
