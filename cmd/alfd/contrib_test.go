package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
	"github.com/alfd/alfd/learner/annotate"
)

// TestSystemdUnit: the service file in contrib starts alfd with options it
// takes, a live capture whose CPUs are one per meter, and reloads it by
// SIGHUP; the alfd classify it offers in its comments takes its options
// too.
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "contrib", "alfd.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string]string{}
	var classify []string // the commented ExecStart of alfd classify
	for s := bufio.NewScanner(f); s.Scan(); {
		if key, value, ok := strings.Cut(s.Text(), "="); ok && !strings.HasPrefix(key, "#") {
			settings[key] = value
		}
		if fields := strings.Fields(strings.TrimPrefix(s.Text(), "#")); len(fields) > 2 && fields[1] == "classify" {
			classify = fields
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
	var cc daemonConfig
	cfs := flag.NewFlagSet("alfd classify", flag.ContinueOnError)
	cfs.SetOutput(io.Discard)
	cc.registerClassify(cfs)
	if len(classify) == 0 || filepath.Base(classify[0]) != "alfd" {
		t.Errorf("no alfd classify line in the comments: %v", classify)
	} else if err := parseArgs(cfs, classify[2:], &cc.packets.pcaps); err != nil || cc.modelFile == "" || cc.packets.afpacket == "" {
		t.Errorf("alfd classify %v: %v", classify[2:], err)
	}
	if settings["ExecReload"] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%s: want SIGHUP, which reloads the blacklist", settings["ExecReload"])
	}
}

// TestShippedDomains: the list of DoH services' names in contrib reads
// without a bad line, and on CESNET's flows labels DoH the blacklisted
// flows with a server name, but one to a web server at a listed address,
// and finds DoH the blacklist misses: CZ.NIC's public resolver (ODVR,
// 193.17.47.1), which ALF's blacklist does not list.
func TestShippedDomains(t *testing.T) {
	domains, bad, err := annotate.LoadDomains(filepath.Join("..", "..", "contrib", "doh-domains.txt"))
	if err != nil || len(bad) > 0 || domains.Len() < 30 {
		t.Fatalf("%v, bad lines %v, %d names", err, bad, domains.Len())
	}
	blacklist, _, err := annotate.LoadBlacklist(shareddata.Path(t, "alf", "blacklist.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var byNames, listedWithName int
	others := map[string]int{} // blacklisted, with a name not listed
	missed := map[string]int{} // DoH by their names, not blacklisted
	for _, name := range []string{"202112021705", "202112021735", "202112031435", "202112031450", "202112071115"} {
		trapcap := shareddata.Path(t, "alf", "trapcaps", "data.trapcap."+name)
		out, stderr, err := runCmd(t, context.Background(), "dump", "-i", "f:"+trapcap, "--fields", "SRC_IP,DST_IP,SRC_PORT,DST_PORT,TLS_SNI", "--no-header")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			sport, _ := strconv.ParseUint(r[2], 10, 16)
			dport, _ := strconv.ParseUint(r[3], 10, 16)
			f := annotate.Flow{Src: netip.MustParseAddr(r[0]), Dst: netip.MustParseAddr(r[1]), SrcPort: uint16(sport), DstPort: uint16(dport), SNI: r[4]}
			listed, _ := blacklist.Label(&f)
			named, known := domains.Label(&f)
			if named && !listed {
				missed[f.Dst.String()+" "+f.SNI]++
			}
			if known && listed {
				listedWithName++
				if named {
					byNames++
				} else {
					others[f.SNI]++
				}
			}
		}
	}
	t.Logf("%d of %d blacklisted flows with a server name are DoH by it; the others' names: %v; DoH the blacklist misses: %v", byNames, listedWithName, others, missed)
	if len(others) != 1 || others["edge.curalate.com"] != 1 || byNames != listedWithName-1 {
		t.Errorf("%d of %d blacklisted flows with a name are DoH by it; others: %v", byNames, listedWithName, others)
	}
	if len(missed) != 1 || missed["193.17.47.1 odvr.nic.cz"] == 0 {
		t.Errorf("DoH by names alone: %v, want CZ.NIC's ODVR only", missed)
	}
}
