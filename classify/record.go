package classify

import (
	"fmt"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/trap"
)

// EndpointSpec lists the UniRec fields that name a flow's endpoints, which
// the oracles label it by; the server name is read from TLS_SNI (string)
// when present, else from QUIC_SNI (ipfixprobe's quic plugin's, and
// alfd's flow meter's with --quic).
const EndpointSpec = "ipaddr SRC_IP,ipaddr DST_IP,uint16 SRC_PORT,uint16 DST_PORT"

// A RecordReader reads what alfd needs of the UniRec flow records of one
// template: what the DoH features are computed from, and the endpoints and
// TLS server name that the oracles look at.
type RecordReader struct {
	features     *features.RecordReader
	src, dst     *trap.Field
	sport, dport *trap.Field
	sni, quicSNI *trap.Field // nil when the records carry no TLS_SNI, QUIC_SNI
}

// NewRecordReader prepares to read records of template t. A template that
// lacks a needed field is an error that names it.
func NewRecordReader(t *trap.Template) (*RecordReader, error) {
	fr, err := features.NewRecordReader(t)
	if err != nil {
		return nil, err
	}
	r := &RecordReader{features: fr}
	for _, f := range []struct {
		dst  **trap.Field
		name string
		typ  trap.Type
	}{
		{&r.src, "SRC_IP", trap.TypeIP}, {&r.dst, "DST_IP", trap.TypeIP},
		{&r.sport, "SRC_PORT", trap.TypeUint16}, {&r.dport, "DST_PORT", trap.TypeUint16},
	} {
		if *f.dst, err = t.Lookup(f.name, f.typ); err != nil {
			return nil, fmt.Errorf("the oracles need %s: %w", EndpointSpec, err)
		}
	}
	r.sni, _ = t.Lookup("TLS_SNI", trap.TypeString)
	r.quicSNI, _ = t.Lookup("QUIC_SNI", trap.TypeString)
	return r, nil
}

// Template is the template the reader was made for.
func (r *RecordReader) Template() *trap.Template { return r.features.Template() }

// Filter says whether ALF would keep rec's flow, from its counters alone.
func (r *RecordReader) Filter(rec trap.Record) features.SkipReason { return r.features.Filter(rec) }

// Read fills f with what rec's features are computed from, and e with its
// endpoints (not its server name: see SNI). Per-packet arrays longer than
// features.MaxPackets are cut there; truncated says so.
func (r *RecordReader) Read(rec trap.Record, f *features.Flow, e *annotate.Flow) (truncated bool) {
	*e = annotate.Flow{Src: rec.IP(r.src), Dst: rec.IP(r.dst), SrcPort: rec.Uint16(r.sport), DstPort: rec.Uint16(r.dport)}
	return r.features.Read(rec, f)
}

// SNI is rec's TLS server name, over TCP or QUIC, a view into the record;
// empty when it has none.
func (r *RecordReader) SNI(rec trap.Record) []byte {
	var sni []byte
	if r.sni != nil {
		sni = rec.String(r.sni)
	}
	if len(sni) == 0 && r.quicSNI != nil {
		sni = rec.String(r.quicSNI)
	}
	return sni
}
