package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/learner/dataset"
)

// dohServices are names of public DoH services, as their documentation
// gives them, for --domains.
const dohServices = `dns.google
dns.google.com
cloudflare-dns.com
doh.opendns.com
doh.familyshield.opendns.com
dns.adguard.com
dns-family.adguard.com
https://dns.quad9.net/dns-query
`

// featureClasses runs alfd features with args on trapcap and returns its
// CSV and each row's class by its row number.
func featureClasses(t *testing.T, trapcap string, args ...string) (out string, classes map[string]string, stderr string) {
	t.Helper()
	out, stderr, err := runCmd(t, context.Background(), append([]string{"features", "-i", "f:" + trapcap}, args...)...)
	if err != nil {
		t.Fatalf("features %v: %v\n%s", args, err, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	classes = map[string]string{}
	for _, r := range rows[1:] {
		classes[r[0]] = r[len(r)-1]
	}
	return out, classes, stderr
}

// TestOraclesOnCESNETFlows labels CESNET's flows by the server names of
// DoH services, and by a person's labels, against ALF's blacklist.
func TestOraclesOnCESNETFlows(t *testing.T) {
	trapcap := shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112021705")
	blacklist := shareddata.Path(t, "alf", "blacklist.txt")
	dir := t.TempDir()
	domains := filepath.Join(dir, "doh.txt")
	writeTestFile(t, domains, dohServices)

	byBlacklist, blacklisted, _ := featureClasses(t, trapcap, "--blacklist", blacklist)
	_, byNames, stderr := featureClasses(t, trapcap, "--domains", domains)
	// data/README.md: 921 flows kept, 599 of them blacklisted.
	if len(blacklisted) != 921 {
		t.Fatalf("%d flows by the blacklist, want 921", len(blacklisted))
	}
	// Only flows with a server name are labelled by names; the others are
	// left out, and said to be.
	left := 921 - len(byNames)
	if len(byNames) == 0 || left == 0 || !strings.Contains(stderr, fmt.Sprintf(`"flows no list could label were left out" flows=%d`, left)) {
		t.Errorf("%d flows labelled by their names, %d left out; stderr:\n%s", len(byNames), left, stderr)
	}
	// On this link every DoH service's name was at a listed address: the
	// names find the blacklist's DoH flows that have a name, and no other.
	var names, listedWithName int
	for row, class := range byNames {
		if class == "True" {
			names++
			if blacklisted[row] != "True" {
				t.Errorf("row %s: DoH by its name, not by the blacklist", row)
			}
		}
		if blacklisted[row] == "True" {
			listedWithName++
		}
	}
	if names < listedWithName*99/100 {
		t.Errorf("%d flows DoH by their names, of %d blacklisted with a name", names, listedWithName)
	}
	t.Logf("%d flows DoH by their names, of %d blacklisted with a name; %d without a name", names, listedWithName, left)
	if both, _, _ := featureClasses(t, trapcap, "--blacklist", blacklist, "--domains", domains); both != byBlacklist {
		t.Error("the names and the blacklist together label otherwise than the blacklist alone")
	}
	// With the names deciding where there is one, the flow to a web site
	// at a CDN address the blacklist lists (TestShippedDomains) is not
	// DoH; nothing else changes.
	_, decided, _ := featureClasses(t, trapcap, "--blacklist", blacklist, "--domains", filepath.Join("..", "..", "contrib", "doh-domains.txt"), "--domains-decide")
	var changed []string
	for row, class := range decided {
		if class != blacklisted[row] {
			changed = append(changed, row+": "+blacklisted[row]+" to "+class)
		}
	}
	if len(decided) != 921 || len(changed) != 1 || !strings.HasSuffix(changed[0], "True to False") {
		t.Errorf("%d flows; with the names deciding, changed: %v", len(decided), changed)
	}

	// A person who says the opposite of the blacklist about every flow
	// turns eval's truth over: accuracy becomes 1 - accuracy, MCC -MCC.
	model := filepath.Join(dir, "single.json")
	golden := shareddata.Path(t, "alf", "golden", "data.trapcap.202112021735.features.csv")
	if _, stderr, err := runCmd(t, context.Background(), "train", "--dpath", golden, "-o", model); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	labels := filepath.Join(dir, "labels.csv")
	writeTestFile(t, labels, strings.NewReplacer(",True\n", ",False\n", ",False\n", ",True\n").Replace(byBlacklist))
	eval := func(args ...string) evalResult {
		t.Helper()
		stdout, stderr, err := runCmd(t, context.Background(), append([]string{"eval", "--model", model, "-i", "f:" + trapcap}, args...)...)
		if err != nil {
			t.Fatalf("eval %v: %v\n%s", args, err, stderr)
		}
		var res evalResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	truth := eval("--blacklist", blacklist)
	if truth.Flows != 921 || truth.DoH != 599 || truth.Unlabelled != 0 {
		t.Fatalf("by the blacklist: %+v", truth)
	}
	for _, args := range [][]string{{"--labels", labels}, {"--labels", labels, "--blacklist", blacklist}} {
		res := eval(args...)
		if res.Flows != 921 || res.DoH != 921-599 || math.Abs(res.Metrics.Accuracy-(1-truth.Metrics.Accuracy)) > 1e-12 || math.Abs(res.Metrics.MCC+truth.Metrics.MCC) > 1e-12 {
			t.Errorf("%v: %+v, the blacklist's turned over: %+v", args, res, truth)
		}
		// The ranking turns over too: every pair ranked right is wrong.
		if res.Metrics.ROCAUC == nil || truth.Metrics.ROCAUC == nil || math.Abs(*res.Metrics.ROCAUC-(1-*truth.Metrics.ROCAUC)) > 1e-12 {
			t.Errorf("%v: ROC AUC %v, the blacklist's %v", args, res.Metrics.ROCAUC, truth.Metrics.ROCAUC)
		}
		if c, tc := res.Confusion, truth.Confusion; c.TP != tc.FP || c.FP != tc.TP || c.TN != tc.FN || c.FN != tc.TN {
			t.Errorf("%v: confusion %+v, the blacklist's %+v", args, c, tc)
		}
	}
	if res := eval("--domains", domains); res.Flows != len(byNames) || res.Unlabelled != left || res.DoH != names {
		t.Errorf("by names: %+v, want %d flows, %d DoH, %d unlabelled", res, len(byNames), names, left)
	}
}

// TestBlacklistNetworks labels CESNET's flows by ALF's blacklist made
// networks: every listed address's /16 (IPv4) or /32 (IPv6). A flow is
// DoH exactly when one of its addresses is in one of them, as a plain scan
// of the networks finds; the flows the addresses alone label stay DoH.
func TestBlacklistNetworks(t *testing.T) {
	trapcap := shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112021705")
	blacklist := shareddata.Path(t, "alf", "blacklist.txt")
	text, err := os.ReadFile(blacklist)
	if err != nil {
		t.Fatal(err)
	}
	var nets []netip.Prefix
	var list strings.Builder
	for line := range strings.Lines(string(text)) {
		a, err := netip.ParseAddr(strings.TrimSpace(line))
		if err != nil {
			continue
		}
		p := netip.PrefixFrom(a, 16)
		if a.Is6() {
			p = netip.PrefixFrom(a, 32)
		}
		nets = append(nets, p.Masked())
		fmt.Fprintf(&list, "%s # %s\n", p, a) // host bits set, and a comment
	}
	path := filepath.Join(t.TempDir(), "nets.txt")
	writeTestFile(t, path, list.String())

	_, byAddress, _ := featureClasses(t, trapcap, "--blacklist", blacklist)
	out, byNetwork, stderr := featureClasses(t, trapcap, "--blacklist", path)
	if strings.Contains(stderr, "WARN") || len(byNetwork) != 921 {
		t.Fatalf("%d flows; stderr:\n%s", len(byNetwork), stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	inNets := func(a string) bool {
		addr := netip.MustParseAddr(a)
		return slices.ContainsFunc(nets, func(p netip.Prefix) bool { return p.Contains(addr) })
	}
	var more int
	for _, r := range rows[1:] {
		row, class := r[0], r[len(r)-1]
		if want := map[bool]string{true: "True", false: "False"}[inNets(r[1]) || inNets(r[2])]; class != want {
			t.Errorf("row %s (%s -> %s): %s, a scan of the networks says %s", row, r[1], r[2], class, want)
		}
		if byAddress[row] == "True" && class != "True" {
			t.Errorf("row %s: DoH by its address, not by its network", row)
		}
		if byAddress[row] != "True" && class == "True" {
			more++
		}
	}
	if more == 0 {
		t.Error("the networks label no flow the addresses do not")
	}
	t.Logf("the networks label %d more flows DoH than the addresses", more)
}

func writeTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDaemonByServerNames runs alfd with server names for its only oracle:
// it learns from the flows asked about that have a name, and counts the
// others as unknown, in D_i and in its reports.
func TestDaemonByServerNames(t *testing.T) {
	dir := t.TempDir()
	trapcap, domains, d0 := filepath.Join(dir, "synth.trapcap"), filepath.Join(dir, "doh.txt"), filepath.Join(dir, "d0.csv")
	if _, stderr, err := runCmd(t, context.Background(), "generate", "-o", "f:"+trapcap, "--flows", "3000",
		"--domains", domains, "--d0", d0, "--d0-flows", "600"); err != nil {
		t.Fatalf("generate: %v\n%s", err, stderr)
	}
	d, err := dataset.ReadFile(d0)
	if err != nil {
		t.Fatal(err)
	}
	workdir := filepath.Join(dir, "w")
	if _, stderr, err := runCmd(t, context.Background(), "-i", "f:"+trapcap, "--workdir", workdir, "--domains", domains, "--dpath", d0,
		"--query_strategy", "random", "--query_nmax", "60", "--generation-flows", "1000", "--postprocessor", "identity"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rs := checkWorkdir(t, workdir, "alfd")
	if len(rs) < 2 {
		t.Fatalf("%d generations, want at least 2", len(rs))
	}
	rows, unknown := d.Len(), 0
	for _, r := range rs {
		all := r.Metrics["test_all_predicted"]
		if all.ROCAUC == nil || *all.ROCAUC < 0.5 || *all.ROCAUC > 1 || all.AP == nil {
			t.Errorf("generation %d: the dry run's flows not ranked: %+v", r.Generation, all)
		}
		if r.Asked == 0 || r.NewInDB != r.Asked-r.Unknown || all.N == 0 || all.N >= int(r.Flows) {
			t.Errorf("generation %d: asked %d, %d unknown, %d new in D_i; %d of %d flows labelled", r.Generation, r.Asked, r.Unknown, r.NewInDB, all.N, r.Flows)
		}
		rows += r.NewInDB
		unknown += r.Unknown
	}
	if unknown == 0 {
		t.Error("every flow asked about had a server name")
	}
	if db, err := dataset.ReadFile(filepath.Join(workdir, "db.alfd.csv")); err != nil || db.Len() != rows {
		t.Errorf("D_i: %v, %d rows, want D_0's and the new ones: %d", err, db.Len(), rows)
	}

	// The flows asked, a row each in queries.alfd.csv with the names'
	// label, or none; given back as a person's labels, the file labels
	// them as it says.
	queries := filepath.Join(workdir, "queries.alfd.csv")
	asked := readCSVFile(t, queries)
	names, _, err := annotate.LoadDomains(domains)
	if err != nil {
		t.Fatal(err)
	}
	human, _, err := annotate.LoadHuman(queries)
	if err != nil {
		t.Fatal(err)
	}
	perGeneration, unknownRows := map[string]int{}, 0
	for _, row := range asked[1:] {
		perGeneration[row[0]]++
		f := annotate.Flow{Src: netip.MustParseAddr(row[1]), Dst: netip.MustParseAddr(row[2]), SNI: row[5]}
		port := func(s string) uint16 { p, _ := strconv.Atoi(s); return uint16(p) }
		f.SrcPort, f.DstPort = port(row[3]), port(row[4])
		doh, known := names.Label(&f)
		if want := map[bool]string{true: "True", false: "False"}[doh]; known && row[7] != want || !known && row[7] != "" {
			t.Errorf("%v: class %q, the names say %v %v", row, row[7], doh, known)
		}
		if hdoh, hknown := human.Label(&f); hknown != known || hknown && hdoh != doh {
			t.Errorf("%v given back as labels: %v %v", row, hdoh, hknown)
		}
		if row[7] == "" {
			unknownRows++
		}
	}
	for _, r := range rs {
		if n := perGeneration[strconv.Itoa(r.Generation)]; n != r.Asked {
			t.Errorf("generation %d: %d rows in %s, %d asked", r.Generation, n, queries, r.Asked)
		}
	}
	if asked[0][0] != "generation" || unknownRows != unknown {
		t.Errorf("header %v; %d rows without a class, %d unknown", asked[0], unknownRows, unknown)
	}
}
