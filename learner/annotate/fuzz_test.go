package annotate

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

// FuzzReadLists feeds any bytes to the readers of what annotators load:
// the blacklist, a domain list and a person's labels. They read or refuse,
// never panic, and every bad line they report is a line of the input; the
// blacklist holds every address and network a line names.
func FuzzReadLists(f *testing.F) {
	f.Add([]byte("# resolvers\n1.1.1.1\n\n 8.8.8.8 \nnot-an-ip\n2606:4700:4700::1111\n::ffff:9.9.9.9\n1.1.1.300\n"))
	f.Add([]byte("192.0.2.0/24\n192.0.2.9/24 # host bits\n2001:db8::/32\n::ffff:203.0.113.0/120\n0.0.0.0/0\n255.255.255.0/24\n"))
	f.Add([]byte("dns.google.\n# c\nCloudflare-DNS.com\n*.doh.example\nhttps://dns.quad9.net/dns-query\nhttps://[::1/\n1.1.1.1\ncom\n"))
	f.Add([]byte("SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\n10.0.0.1,1.1.1.1,5000,443,True\n10.0.0.2,8.8.8.8,,,False\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		b, bad, err := ReadBlacklist(bytes.NewReader(data), "fuzz")
		if err == nil {
			for _, e := range bad {
				if e.Line < 1 || e.Line > lines {
					t.Fatalf("bad line %d of %d", e.Line, lines)
				}
			}
			for line := range strings.Lines(string(data)) {
				line = strings.TrimSpace(line)
				if p, err := netip.ParsePrefix(line); err == nil && p.Bits() > 0 {
					if !b.Contains(p.Addr()) || !b.Contains(p.Masked().Addr()) {
						t.Fatalf("%q listed, its addresses not", line)
					}
				}
				if a, err := netip.ParseAddr(line); err == nil && !strings.Contains(line, "/") && !b.Contains(a) {
					t.Fatalf("%q listed, not found", line)
				}
			}
		}
		if _, bad, err := ReadDomains(bytes.NewReader(data), "fuzz"); err == nil {
			for _, e := range bad {
				if e.Line < 1 || e.Line > lines {
					t.Fatalf("bad line %d of %d", e.Line, lines)
				}
			}
		}
		ReadHuman(bytes.NewReader(data), "fuzz")
	})
}
