package main

import (
	"bufio"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit: the service file in contrib starts alfd with options it
// takes, a live capture whose CPUs are one per meter, and reloads it by
// SIGHUP.
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "contrib", "alfd.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string]string{}
	for s := bufio.NewScanner(f); s.Scan(); {
		if key, value, ok := strings.Cut(s.Text(), "="); ok && !strings.HasPrefix(key, "#") {
			settings[key] = value
		}
	}
	args := strings.Fields(settings["ExecStart"])
	if len(args) < 2 || filepath.Base(args[0]) != "alfd" {
		t.Fatalf("ExecStart=%s: not alfd", settings["ExecStart"])
	}
	fs := flag.NewFlagSet("alfd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c daemonConfig
	c.register(fs)
	if err := parseArgs(fs, args[1:], &c.packets.pcaps); err != nil {
		t.Fatalf("ExecStart: %v", err)
	}
	cpus, err := c.packets.meterCPUs()
	if err != nil || c.packets.afpacket == "" || len(cpus) != c.packets.fanout {
		t.Errorf("ExecStart: capture on %q, %d meters on CPUs %v (%v)", c.packets.afpacket, c.packets.fanout, cpus, err)
	}
	if settings["ExecReload"] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%s: want SIGHUP, which reloads the blacklist", settings["ExecReload"])
	}
}
