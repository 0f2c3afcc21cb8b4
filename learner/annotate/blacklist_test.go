package annotate

import (
	"bufio"
	"net/netip"
	"os"
	"slices"
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
	if len(bad) != 0 || b.Len() != 225 || b.v4.GetCardinality() != 122 || len(b.v6) != 1 || b.v6[0].bits != 128 || len(b.v6[0].nets) != 103 {
		t.Errorf("%d addresses (%d IPv4, %v IPv6), %d bad lines", b.Len(), b.v4.GetCardinality(), b.v6, len(bad))
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

// Networks in CIDR notation list every address in them; host bits are
// masked, an IPv4 network mapped into IPv6 is IPv4's, a network of every
// address is refused, and a comment may follow an entry.
func TestBlacklistNetworks(t *testing.T) {
	list := `192.0.2.0/24
192.0.2.9/24 # the same network, host bits and all
198.51.100.7/16
2001:db8::/32
2001:db8:1::/48
::ffff:203.0.113.0/120
255.255.255.0/24
1.1.1.1 # Cloudflare
2606:4700::1111	# a tab before the comment
9.9.9.9/32
0.0.0.0/0
::/0
10.0.0.0/33
2001:db8::/129
::ffff:0.0.0.0/96
`
	b, bad, err := ReadBlacklist(strings.NewReader(list), "nets.txt")
	if err != nil {
		t.Fatal(err)
	}
	var badLines []int
	for _, e := range bad {
		badLines = append(badLines, e.Line)
	}
	if !slices.Equal(badLines, []int{11, 12, 13, 14, 15}) || !strings.Contains(bad[0].Error(), `nets.txt:11: "0.0.0.0/0" is not an IP address or network: a network of every address`) {
		t.Errorf("bad lines %v: %v", badLines, bad)
	}
	// 192.0.2.0/24, 198.51.0.0/16, 2001:db8::/32, 2001:db8:1::/48,
	// 203.0.113.0/24, 255.255.255.0/24, 1.1.1.1, 2606:4700::1111, 9.9.9.9.
	if b.Len() != 9 {
		t.Errorf("Len %d, want 9", b.Len())
	}
	for a, want := range map[string]bool{
		"192.0.2.0": true, "192.0.2.255": true, "192.0.1.255": false, "192.0.3.0": false,
		"198.51.0.0": true, "198.51.255.255": true, "198.52.0.0": false, "198.50.255.255": false,
		"2001:db8::": true, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff": true, "2001:db9::": false, "2001:db7:ffff::1": false,
		"203.0.113.77": true, "::ffff:203.0.113.77": true, "::ffff:192.0.2.1": true, "203.0.114.0": false,
		"255.255.255.255": true, "255.255.254.255": false,
		"1.1.1.1": true, "1.1.1.2": false, "2606:4700::1111": true, "2606:4700::1112": false,
		"9.9.9.9": true, "9.9.9.10": false, "0.0.0.0": false, "::": false,
	} {
		if got := b.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
	// An IPv6 network that holds IPv4's mapped addresses holds IPv4's.
	half, _, _ := ReadBlacklist(strings.NewReader("::/1\n"), "half.txt")
	if !half.Contains(netip.MustParseAddr("10.1.2.3")) || half.Contains(netip.MustParseAddr("8000::1")) {
		t.Error("::/1 does not hold what it should")
	}
}
