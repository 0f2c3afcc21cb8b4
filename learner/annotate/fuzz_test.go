package annotate

import (
	"bytes"
	"testing"
)

// FuzzReadLists feeds any bytes to the readers of what annotators load:
// the blacklist, a domain list and a person's labels. They read or refuse,
// never panic, and every bad line they report is a line of the input.
func FuzzReadLists(f *testing.F) {
	f.Add([]byte("# resolvers\n1.1.1.1\n\n 8.8.8.8 \nnot-an-ip\n2606:4700:4700::1111\n::ffff:9.9.9.9\n1.1.1.300\n"))
	f.Add([]byte("dns.google.\n# c\nCloudflare-DNS.com\n*.doh.example\nhttps://dns.quad9.net/dns-query\nhttps://[::1/\n1.1.1.1\ncom\n"))
	f.Add([]byte("SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\n10.0.0.1,1.1.1.1,5000,443,True\n10.0.0.2,8.8.8.8,,,False\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		_, bad, err := ReadBlacklist(bytes.NewReader(data), "fuzz")
		if err == nil {
			for _, e := range bad {
				if e.Line < 1 || e.Line > lines {
					t.Fatalf("bad line %d of %d", e.Line, lines)
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
