package annotate

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alfd/alfd/internal/shareddata"
)

// BenchmarkLabel is the oracle's cost a flow in ALF's dry run, which
// labels every flow classified: ALF's blacklist alone, then with DoH
// services' names and a person's 10^4 labels before it, on flows to
// resolvers and not, with server names and without.
func BenchmarkLabel(b *testing.B) {
	dir := b.TempDir()
	var labels strings.Builder
	labels.WriteString("SRC_IP,DST_IP,SRC_PORT,DST_PORT,class\n")
	for i := range 10_000 {
		fmt.Fprintf(&labels, "10.1.%d.%d,192.0.2.1,,443,False\n", i>>8, i&255)
	}
	bl := reloading(b, filepath.Join(dir, "bl.txt"), readFile(b, shareddata.Path(b, "alf", "blacklist.txt")), LoadBlacklist)
	domains := reloading(b, filepath.Join(dir, "doh.txt"), "dns.google\ncloudflare-dns.com\ndoh.opendns.com\ndns.quad9.net\n", LoadDomains)
	human := reloading(b, filepath.Join(dir, "labels.csv"), labels.String(), LoadHuman)
	flows := []Flow{
		{Src: client, Dst: netip.MustParseAddr("1.1.1.1"), SrcPort: 50000, DstPort: 443, SNI: "mozilla.cloudflare-dns.com"},
		{Src: client, Dst: other, SrcPort: 50001, DstPort: 443, SNI: "www.example.com"},
		{Src: client, Dst: other, SrcPort: 50002, DstPort: 443},
		{Src: client, Dst: netip.MustParseAddr("2001:db8::1"), SrcPort: 50003, DstPort: 443, SNI: "img.cdn.example.net"},
	}
	for _, bc := range []struct {
		name   string
		oracle Oracle
	}{
		{"blacklist", bl},
		{"names+blacklist", Either{domains, bl}},
		{"labels+names+blacklist", Chain{human, Either{domains, bl}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				bc.oracle.Label(&flows[i&3])
			}
		})
	}
}
