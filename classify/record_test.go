package classify

import (
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/trap"
)

// TestRecordSNI: a record's server name is its TLS_SNI, or where that is
// empty, its QUIC_SNI (a QUIC flow's, as ipfixprobe's quic plugin and
// alfd's flow meter export it); records with neither field have none.
func TestRecordSNI(t *testing.T) {
	base := features.RequiredSpec + "," + EndpointSpec
	for _, c := range []struct {
		spec      string
		tls, quic string
		want      string
	}{
		{base + ",string TLS_SNI,string QUIC_SNI", "dns.example.net", "", "dns.example.net"},
		{base + ",string TLS_SNI,string QUIC_SNI", "", "dns.example.net", "dns.example.net"},
		{base + ",string TLS_SNI,string QUIC_SNI", "tls.example.net", "quic.example.net", "tls.example.net"},
		{base + ",string QUIC_SNI", "", "dns.example.net", "dns.example.net"},
		{base + ",string TLS_SNI", "dns.example.net", "", "dns.example.net"},
		{base, "", "", ""},
	} {
		tm, err := trap.ParseTemplate(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		b := trap.NewBuilder(tm)
		if f := tm.Field("TLS_SNI"); f != nil {
			b.SetString(f, c.tls)
		}
		if f := tm.Field("QUIC_SNI"); f != nil {
			b.SetString(f, c.quic)
		}
		raw, err := b.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := tm.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewRecordReader(tm)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(r.SNI(rec)); got != c.want {
			t.Errorf("%s with TLS_SNI %q, QUIC_SNI %q: %q, want %q", c.spec[len(base):], c.tls, c.quic, got, c.want)
		}
	}
}
