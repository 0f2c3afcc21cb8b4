package annotate

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
)

func TestALFBlacklist(t *testing.T) {
	path := shareddata.Path(t, "alf", "blacklist.txt")
	b, bad, err := LoadBlacklist(path)
	if err != nil {
		t.Fatal(err)
	}
	// data/README.md: 254 lines, 225 unique (122 IPv4, 103 IPv6).
	if len(bad) != 0 || b.Len() != 225 || b.v4.GetCardinality() != 122 || len(b.v6) != 103 {
		t.Errorf("%d addresses (%d IPv4, %d IPv6), %d bad lines", b.Len(), b.v4.GetCardinality(), len(b.v6), len(bad))
	}
	f, _ := os.Open(path)
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if !b.Contains(netip.MustParseAddr(sc.Text())) {
			t.Errorf("%s not found", sc.Text())
		}
	}
}

func TestBlacklistLabels(t *testing.T) {
	b, bad, err := ReadBlacklist(strings.NewReader("# resolvers\n1.1.1.1\n\n 8.8.8.8 \nnot-an-ip\n2606:4700:4700::1111\n::ffff:9.9.9.9\n1.1.1.300\n"), "list.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 2 || bad[0].Line != 5 || bad[1].Line != 8 || !strings.Contains(bad[0].Error(), `list.txt:5: "not-an-ip" is not an IP address`) {
		t.Errorf("bad lines: %v", bad)
	}
	client := netip.MustParseAddr("10.0.0.1")
	for _, tc := range []struct {
		src, dst string
		dport    uint16
		want     bool
	}{
		{"10.0.0.1", "1.1.1.1", 443, true},
		{"8.8.8.8", "10.0.0.1", 50000, true}, // the resolver as source: ALF checks both
		{"10.0.0.1", "9.9.9.9", 443, true},   // listed as IPv4-mapped IPv6
		{"10.0.0.1", "2606:4700:4700:0:0:0:0:1111", 443, true},
		{"10.0.0.1", "1.1.1.2", 443, false},
		{"10.0.0.1", "8.8.8.8", 853, true}, // ALF ignores ports
	} {
		if got := b.IsDoH(netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst), 50000, tc.dport); got != tc.want {
			t.Errorf("%s -> %s:%d: %v, want %v", tc.src, tc.dst, tc.dport, got, tc.want)
		}
	}
	// With a port list, DNS over TLS to a listed resolver is not DoH.
	https := b.WithPorts(443)
	if https.IsDoH(client, netip.MustParseAddr("8.8.8.8"), 50000, 853) || !https.IsDoH(client, netip.MustParseAddr("8.8.8.8"), 50000, 443) {
		t.Error("port list not applied")
	}
	if _, _, err := LoadBlacklist("/nonexistent/list"); err == nil || !strings.Contains(err.Error(), "/nonexistent/list") {
		t.Errorf("missing file: %v", err)
	}
}
