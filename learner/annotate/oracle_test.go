package annotate

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alfd/alfd/internal/reload"
)

func TestDomains(t *testing.T) {
	list := `# DoH services
dns.google
Cloudflare-DNS.com.
*.doh.example
https://dns.quad9.net/dns-query
https://Resolver.Example:8443/q{?dns}
1.1.1.1
https://1.0.0.1/dns-query
sdns://AgcAAAAAAAAABzEuMC4wLjE
google
a..b
bad_name!.example
dns.` + strings.Repeat("x", 64) + `.example
`
	d, bad, err := ReadDomains(strings.NewReader(list), "doh.txt")
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 5 {
		t.Errorf("%d names, want 5", d.Len())
	}
	wantBad := map[int]string{
		7:  `doh.txt:7: "1.1.1.1" is not a server name: it is an address`,
		8:  "it is an address",
		9:  `scheme "sdns"`,
		10: "a whole top-level domain",
		11: `label "" is not of 1 to 63 bytes`,
		12: `'!' is not a letter`,
		13: "is not of 1 to 63 bytes",
	}
	if len(bad) != len(wantBad) {
		t.Errorf("%d bad lines, want %d: %v", len(bad), len(wantBad), bad)
	}
	for _, e := range bad {
		if want, ok := wantBad[e.Line]; !ok || !strings.Contains(e.Error(), want) {
			t.Errorf("line %d: %v, want %q", e.Line, e, want)
		}
	}
	for sni, want := range map[string][2]bool{
		"dns.google":                 {true, true},
		"DNS.Google.":                {true, true},
		"mozilla.cloudflare-dns.com": {true, true},
		"doh.example":                {true, true}, // *.doh.example lists doh.example too
		"a.b.doh.example":            {true, true},
		"dns.quad9.net":              {true, true},
		"resolver.example":           {true, true},
		"example":                    {false, true},
		"www.google.com":             {false, true},
		"xdns.google":                {false, true},
		"google":                     {false, true},
		"1.1.1.1":                    {false, true},
		"":                           {false, false},
	} {
		doh, known := d.Label(&Flow{SNI: sni})
		if [2]bool{doh, known} != want {
			t.Errorf("%q: %v %v, want %v", sni, doh, known, want)
		}
	}
}

var (
	client   = netip.MustParseAddr("10.0.0.1")
	resolver = netip.MustParseAddr("1.1.1.1")
	other    = netip.MustParseAddr("192.0.2.7")
)

// TestEither: a flow is DoH when its server name or its address is
// listed; a list that cannot tell leaves it to the others.
func TestEither(t *testing.T) {
	d, _, _ := ReadDomains(strings.NewReader("dns.google\n"), "d")
	b, _, _ := ReadBlacklist(strings.NewReader("1.1.1.1\n"), "bl")
	for _, tc := range []struct {
		oracle     Oracle
		dst        netip.Addr
		sni        string
		doh, known bool
	}{
		{Either{d, b}, other, "dns.google", true, true},         // a name the blacklist's addresses miss
		{Either{d, b}, resolver, "one.one.one.one", true, true}, // an address under a name not listed
		{Either{d, b}, resolver, "", true, true},
		{Either{d, b}, other, "www.example.com", false, true},
		{Either{d, b}, other, "", false, true},
		{Either{d}, other, "", false, false},
		{Either{d}, other, "www.example.com", false, true},
		{Either{}, resolver, "dns.google", false, false},
	} {
		f := Flow{Src: client, Dst: tc.dst, SrcPort: 50000, DstPort: 443, SNI: tc.sni}
		if doh, known := tc.oracle.Label(&f); doh != tc.doh || known != tc.known {
			t.Errorf("%d lists, %v %q: %v %v, want %v %v", len(tc.oracle.(Either)), tc.dst, tc.sni, doh, known, tc.doh, tc.known)
		}
	}
}

func TestHumanFirst(t *testing.T) {
	// As a spreadsheet saves it: a byte order mark, TRUE and FALSE, and
	// the feature columns of alfd features, which are ignored.
	labels := "\uFEFFrow,SRC_IP,DST_IP,SRC_PORT,DST_PORT,bytes,class\n" +
		"0,10.0.0.1,1.1.1.1,,443,100,FALSE\n" +
		"1,10.0.0.2,192.0.2.7,5000,853,100,TRUE\n" +
		"2,10.0.0.3,192.0.2.7,,,100,True\n" +
		"3,10.0.0.3,192.0.2.7,,,100,0\n" + // a later line wins
		"4,::ffff:10.0.0.4,2001:db8::53,6000,443,100,1\n" +
		"5,10.0.0.9,1.1.1.1,,,100,\n" + // no word on it: the blacklist's
		"6,not an address,,,,,\n" // nor on this one, whatever else it holds
	h, err := ReadHuman(strings.NewReader(labels), "labels.csv")
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 4 {
		t.Errorf("%d flows labelled, want 4", h.Len())
	}
	b, _, _ := ReadBlacklist(strings.NewReader("1.1.1.1\n"), "bl")
	chain := Chain{h, b}
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		f    Flow
		want bool
	}{
		// A person says this flow to a listed resolver is not DoH.
		{Flow{Src: addr("10.0.0.1"), Dst: resolver, SrcPort: 40000, DstPort: 443}, false},
		// Not the flow the person named: the blacklist's.
		{Flow{Src: addr("10.0.0.1"), Dst: resolver, SrcPort: 40000, DstPort: 853}, true},
		{Flow{Src: addr("10.0.0.9"), Dst: resolver, SrcPort: 40000, DstPort: 443}, true},
		{Flow{Src: addr("10.0.0.2"), Dst: other, SrcPort: 5000, DstPort: 853}, true},
		{Flow{Src: addr("10.0.0.3"), Dst: other, SrcPort: 1, DstPort: 2}, false},
		// The other way round: the resolver's packet came first.
		{Flow{Src: resolver, Dst: addr("10.0.0.1"), SrcPort: 443, DstPort: 40000}, false},
		{Flow{Src: other, Dst: addr("10.0.0.2"), SrcPort: 853, DstPort: 5000}, true},
		// An IPv4 address is one, mapped into IPv6 or not.
		{Flow{Src: addr("10.0.0.4"), Dst: addr("2001:db8::53"), SrcPort: 6000, DstPort: 443}, true},
	} {
		if doh, known := chain.Label(&tc.f); doh != tc.want || !known {
			t.Errorf("%v: %v %v, want %v", tc.f, doh, known, tc.want)
		}
	}
	if doh, known := h.Label(&Flow{Src: client, Dst: other}); doh || known {
		t.Error("a flow no one labelled is known")
	}
	for _, tc := range []struct{ csv, want string }{
		{"SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\nx,1.1.1.1,1,2,True\n", "labels.csv: line 2"},
		{"SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\n10.0.0.1,1.1.1.1,1,2,maybe\n", `line 2: class "maybe" is neither True nor False`},
		{"SRC_IP,DST_IP,SRC_PORT,class\n", "no column DST_PORT"},
	} {
		if _, err := ReadHuman(strings.NewReader(tc.csv), "labels.csv"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.csv, err, tc.want)
		}
	}
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFile is the text of the file at path.
func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// reloading writes text to path and keeps the list there fresh.
func reloading[L List](t testing.TB, path, text string, load func(string) (L, []*LineError, error)) *Reloading[L] {
	t.Helper()
	writeFile(t, path, text)
	r, _, err := NewReloading(path, load)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type reloaded struct {
	path string
	bad  int
	err  error
}

func watch(t *testing.T, interval time.Duration, now <-chan os.Signal, lists ...reload.File) <-chan reloaded {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	ch := make(chan reloaded, 10)
	go func() {
		defer close(done)
		reload.Watch(ctx, interval, now, lists, func(f reload.File, err error) {
			r := reloaded{path: f.Path(), err: err}
			if err == nil {
				r.bad = len(f.(Reloader).Bad())
			}
			ch <- r
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ch
}

func next(t *testing.T, ch <-chan reloaded) reloaded {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no reload")
	}
	return reloaded{}
}

// TestReloadChanged: polled, reload.Watch reloads the list whose file changed,
// and only that one; a file that no longer loads keeps its old list.
func TestReloadChanged(t *testing.T) {
	dir := t.TempDir()
	blPath, labelsPath := filepath.Join(dir, "bl.txt"), filepath.Join(dir, "labels.csv")
	bl := reloading(t, blPath, "1.1.1.1\n", LoadBlacklist)
	labels := reloading(t, labelsPath, "SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\n", LoadHuman)
	oracle := Chain{labels, bl}
	f := Flow{Src: client, Dst: netip.MustParseAddr("8.8.8.8"), SrcPort: 5000, DstPort: 443}
	if doh, _ := oracle.Label(&f); doh {
		t.Fatal("8.8.8.8 listed before it was added")
	}
	ch := watch(t, 5*time.Millisecond, nil, labels, bl)
	writeFile(t, blPath, "1.1.1.1\n8.8.8.8\nbad line\n")
	if r := next(t, ch); r.path != blPath || r.bad != 1 || r.err != nil {
		t.Fatalf("reloaded %+v, want %s with a bad line", r, blPath)
	}
	if doh, _ := oracle.Label(&f); !doh || bl.Len() != 2 {
		t.Error("the reloaded blacklist lacks 8.8.8.8")
	}
	// A person's label replaces the blacklist's; then a broken file keeps
	// it.
	writeFile(t, labelsPath, "SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\n10.0.0.1,8.8.8.8,,443,False\n")
	if r := next(t, ch); r.path != labelsPath || r.err != nil {
		t.Fatalf("reloaded %+v, want %s", r, labelsPath)
	}
	if doh, _ := oracle.Label(&f); doh {
		t.Error("the person's label did not replace the blacklist's")
	}
	writeFile(t, labelsPath, "SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\n10.0.0.1,8.8.8.8,,443,perhaps\n")
	if r := next(t, ch); r.path != labelsPath || r.err == nil || !strings.Contains(r.err.Error(), labelsPath+": line 2") {
		t.Fatalf("reloaded %+v, want an error naming %s's line 2", r, labelsPath)
	}
	if doh, known := oracle.Label(&f); doh || !known || labels.Len() != 1 {
		t.Error("a broken file did not keep the old labels")
	}
}

// TestReloadNow: asked (SIGHUP), reload.Watch reloads every file at once, though
// it does not poll and their times and sizes are what they were.
func TestReloadNow(t *testing.T) {
	dir := t.TempDir()
	blPath, domainsPath := filepath.Join(dir, "bl.txt"), filepath.Join(dir, "doh.txt")
	bl := reloading(t, blPath, "1.1.1.1\n", LoadBlacklist)
	domains := reloading(t, domainsPath, "dns.google\n", LoadDomains)
	// The same sizes and times: only a reload asked for sees the change.
	for path, text := range map[string]string{blPath: "8.8.8.8\n", domainsPath: "dns.elgoog\n"} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, text)
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	now := make(chan os.Signal, 1)
	ch := watch(t, time.Millisecond, now, bl, domains)
	select {
	case r := <-ch:
		t.Fatalf("reloaded unasked: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	now <- os.Interrupt // what the daemon sends on is SIGHUP
	for range 2 {
		if r := next(t, ch); r.err != nil {
			t.Fatal(r.err)
		}
	}
	if !bl.Load().Contains(netip.MustParseAddr("8.8.8.8")) || bl.Load().Contains(resolver) {
		t.Error("the blacklist is not the file's after the reload asked for")
	}
	if doh, _ := domains.Label(&Flow{SNI: "dns.elgoog"}); !doh {
		t.Error("the domains are not the file's after the reload asked for")
	}
}

func TestLoadErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	for name, load := range map[string]func(string) error{
		"blacklist": func(p string) error { _, _, err := LoadBlacklist(p); return err },
		"domains":   func(p string) error { _, _, err := LoadDomains(p); return err },
		"labels":    func(p string) error { _, _, err := LoadHuman(p); return err },
		"reloading": func(p string) error { _, _, err := NewReloading(p, LoadDomains); return err },
	} {
		if err := load(missing); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("%s of a missing file: %v", name, err)
		}
	}
}

// TestLabelAllocatesNothing: the dry run asks the oracle about every flow
// classified, on the fast path.
func TestLabelAllocatesNothing(t *testing.T) {
	dir := t.TempDir()
	labels := reloading(t, filepath.Join(dir, "labels.csv"), "SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\n10.0.0.1,1.1.1.1,,443,False\n", LoadHuman)
	domains := reloading(t, filepath.Join(dir, "doh.txt"), "dns.google\ncloudflare-dns.com\n", LoadDomains)
	bl := reloading(t, filepath.Join(dir, "bl.txt"), "1.1.1.1\n2606:4700:4700::1111\n", LoadBlacklist)
	oracle := Chain{labels, Either{domains, bl}}
	flows := []Flow{
		{Src: client, Dst: other, SrcPort: 5000, DstPort: 443, SNI: "www.example.com"},
		{Src: client, Dst: other, SrcPort: 5000, DstPort: 443, SNI: "a.b.c.dns.google"},
		{Src: client, Dst: resolver, SrcPort: 5000, DstPort: 443},
		{Src: client, Dst: netip.MustParseAddr("2001:db8::1"), SrcPort: 5000, DstPort: 443, SNI: "mozilla.cloudflare-dns.com."},
	}
	if n := testing.AllocsPerRun(100, func() {
		for i := range flows {
			oracle.Label(&flows[i])
		}
	}); n != 0 {
		t.Errorf("%v allocations a round", n)
	}
}
