package annotate

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDomains(t *testing.T) {
	d, err := ReadDomains(strings.NewReader("# DoH\ndns.google\nCloudflare-DNS.com.\n"))
	if err != nil {
		t.Fatal(err)
	}
	for sni, want := range map[string][2]bool{
		"dns.google":                 {true, true},
		"mozilla.cloudflare-dns.com": {true, true},
		"www.google.com":             {false, true},
		"google":                     {false, true},
		"":                           {false, false},
	} {
		doh, known := d.Label(&Flow{SNI: sni})
		if [2]bool{doh, known} != want {
			t.Errorf("%q: %v %v, want %v", sni, doh, known, want)
		}
	}
}

func TestHumanOverridesBlacklist(t *testing.T) {
	h, err := ReadHuman(strings.NewReader("SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\n10.0.0.1,1.1.1.1,,443,False\n10.0.0.2,9.9.9.9,5000,853,True\n"), "labels.csv")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := ReadBlacklist(strings.NewReader("1.1.1.1\n"), "bl")
	chain := Chain{h, InData{}, b}
	for _, tc := range []struct {
		f    Flow
		want bool
	}{
		// A person says this flow to a listed resolver is not DoH.
		{Flow{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("1.1.1.1"), SrcPort: 40000, DstPort: 443, Label: -1}, false},
		{Flow{Src: netip.MustParseAddr("10.0.0.3"), Dst: netip.MustParseAddr("1.1.1.1"), SrcPort: 40000, DstPort: 443, Label: -1}, true},
		{Flow{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("9.9.9.9"), SrcPort: 5000, DstPort: 853, Label: -1}, true},
		// The data's own label comes before the blacklist.
		{Flow{Src: netip.MustParseAddr("10.0.0.3"), Dst: netip.MustParseAddr("1.1.1.1"), Label: 0}, false},
	} {
		if doh, known := chain.Label(&tc.f); doh != tc.want || !known {
			t.Errorf("%v: %v %v, want %v", tc.f, doh, known, tc.want)
		}
	}
	if _, err := ReadHuman(strings.NewReader("SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\nx,1.1.1.1,1,2,True\n"), "labels.csv"); err == nil || !strings.Contains(err.Error(), "labels.csv: line 2") {
		t.Errorf("a bad line: %v", err)
	}
}

func TestBlacklistReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bl.txt")
	os.WriteFile(path, []byte("1.1.1.1\n"), 0o644)
	r, _, err := LoadReloading(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("8.8.8.8")
	if r.Load().Contains(addr) {
		t.Fatal("8.8.8.8 listed before it was added")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	reloaded := make(chan error, 10)
	go func() {
		defer close(done)
		r.Watch(ctx, 5*time.Millisecond, nil, func(_ []*LineError, err error) { reloaded <- err })
	}()
	os.WriteFile(path, []byte("1.1.1.1\n8.8.8.8\nbad line\n"), 0o644)
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload")
	}
	if !r.Load().Contains(addr) {
		t.Error("the reloaded blacklist lacks 8.8.8.8")
	}
	cancel()
	<-done
}

// TestReloadingNow: asked (SIGHUP), Watch reloads the file at once, though
// it does not poll and the file's time and size are what they were.
func TestReloadingNow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bl.txt")
	if err := os.WriteFile(path, []byte("1.1.1.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := LoadReloading(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same size and time: only a reload asked for sees the change.
	if err := os.WriteFile(path, []byte("8.8.8.8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := make(chan os.Signal, 1)
	reloaded := make(chan error, 1)
	go r.Watch(ctx, 0, now, func(_ []*LineError, err error) { reloaded <- err })
	select {
	case err := <-reloaded:
		t.Fatalf("reloaded unasked: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	now <- os.Interrupt // what the daemon sends on is SIGHUP
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload when asked")
	}
	if !r.Load().Contains(netip.MustParseAddr("8.8.8.8")) || r.Load().Contains(netip.MustParseAddr("1.1.1.1")) {
		t.Error("the blacklist is not the file's after the reload asked for")
	}
}
