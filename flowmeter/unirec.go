package flowmeter

import (
	"github.com/alfd/alfd/trap"
)

// UniRecSpec is the UniRec format of exported flows: the fields of
// ipfixprobe's basic, pstats and tls plugins that DoH detection uses,
// named and typed as in the trapcaps ipfixprobe wrote for ALF (the JA3
// fingerprint its MD5 digest itself), the JA4 fingerprint as ipfixprobe's
// tls plugin names it now, the outer VLAN ID as its vlan plugin names it,
// and the server name and version of QUIC flows as its quic plugin names
// them. A QUIC flow's server name is in QUIC_SNI, not TLS_SNI, as
// ipfixprobe exports it; its fingerprints, in TLS_JA3_FINGERPRINT and
// TLS_JA4 (which starts with q).
const UniRecSpec = "ipaddr DST_IP,ipaddr SRC_IP,uint64 BYTES,uint64 BYTES_REV,time TIME_FIRST,time TIME_LAST," +
	"uint32 PACKETS,uint32 PACKETS_REV,uint16 DST_PORT,uint16 SRC_PORT,uint16 VLAN_ID,uint8 PROTOCOL,uint8 TCP_FLAGS,uint8 TCP_FLAGS_REV," +
	"int8* PPI_PKT_DIRECTIONS,uint8* PPI_PKT_FLAGS,uint16* PPI_PKT_LENGTHS,time* PPI_PKT_TIMES,string TLS_SNI," +
	"bytes TLS_JA3_FINGERPRINT,string TLS_JA4,string QUIC_SNI,uint32 QUIC_VERSION"

// An Encoder writes flows as UniRec records of UniRecSpec.
type Encoder struct {
	b *trap.Builder
	t *trap.Template
	// The per-packet information, gathered into arrays.
	times    [MaxPPI]trap.Time
	lengths  [MaxPPI]uint16
	pktFlags [MaxPPI]uint8
	dirs     [MaxPPI]int8
	ja4      [36]byte

	dst, src, bytes, bytesRev, first, last, packets, packetsRev *trap.Field
	dstPort, srcPort, vlan, proto, flags, flagsRev              *trap.Field
	dirField, flagsField, lengthField, timeField, sni           *trap.Field
	ja3, ja4Field, quicSNI, quicVersion                         *trap.Field
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	t, err := trap.ParseTemplate(UniRecSpec)
	if err != nil {
		panic("BUG: flowmeter.UniRecSpec: " + err.Error())
	}
	f := t.Field
	return &Encoder{
		b: trap.NewBuilder(t), t: t,
		dst: f("DST_IP"), src: f("SRC_IP"), bytes: f("BYTES"), bytesRev: f("BYTES_REV"),
		first: f("TIME_FIRST"), last: f("TIME_LAST"), packets: f("PACKETS"), packetsRev: f("PACKETS_REV"),
		dstPort: f("DST_PORT"), srcPort: f("SRC_PORT"), vlan: f("VLAN_ID"), proto: f("PROTOCOL"),
		flags: f("TCP_FLAGS"), flagsRev: f("TCP_FLAGS_REV"),
		dirField: f("PPI_PKT_DIRECTIONS"), flagsField: f("PPI_PKT_FLAGS"), lengthField: f("PPI_PKT_LENGTHS"),
		timeField: f("PPI_PKT_TIMES"), sni: f("TLS_SNI"),
		ja3: f("TLS_JA3_FINGERPRINT"), ja4Field: f("TLS_JA4"),
		quicSNI: f("QUIC_SNI"), quicVersion: f("QUIC_VERSION"),
	}
}

// Template is the template of the records.
func (e *Encoder) Template() *trap.Template { return e.t }

// Append appends the record of f to dst.
func (e *Encoder) Append(dst []byte, f *Flow) ([]byte, error) {
	b := e.b
	b.Reset()
	b.SetIP(e.dst, f.Dst())
	b.SetIP(e.src, f.Src())
	b.SetUint(e.bytes, f.bytes[0])
	b.SetUint(e.bytesRev, f.bytes[1])
	b.SetTime(e.first, trap.TimeFromUnixMicro(f.first))
	b.SetTime(e.last, trap.TimeFromUnixMicro(f.last))
	b.SetUint(e.packets, uint64(f.packets[0]))
	b.SetUint(e.packetsRev, uint64(f.packets[1]))
	b.SetUint(e.dstPort, uint64(f.key.DstPort))
	b.SetUint(e.srcPort, uint64(f.key.SrcPort))
	b.SetUint(e.vlan, uint64(f.key.VLAN))
	b.SetUint(e.proto, uint64(f.key.Proto))
	b.SetUint(e.flags, uint64(f.tcpFlags[0]))
	b.SetUint(e.flagsRev, uint64(f.tcpFlags[1]))
	n := int(f.nPPI)
	for i := range n {
		p := &f.ppi[i]
		e.times[i] = trap.TimeFromUnixMicro(f.first + int64(p.dt))
		e.lengths[i], e.pktFlags[i], e.dirs[i] = p.length, p.flags, p.dir
	}
	trap.SetArray(b, e.dirField, e.dirs[:n])
	trap.SetArray(b, e.flagsField, e.pktFlags[:n])
	trap.SetArray(b, e.lengthField, e.lengths[:n])
	trap.SetArray(b, e.timeField, e.times[:n])
	if v := f.QUICVersion(); v != 0 {
		b.SetVar(e.quicSNI, f.SNI())
		b.SetUint(e.quicVersion, uint64(v))
	} else {
		b.SetVar(e.sni, f.SNI())
	}
	b.SetVar(e.ja3, f.JA3())
	b.SetVar(e.ja4Field, f.AppendJA4(e.ja4[:0]))
	return b.Append(dst)
}
