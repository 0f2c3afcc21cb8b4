package synth

import (
	"github.com/alfd/alfd/trap"
)

// Spec is the UniRec format of generated flows: the fields of ipfixprobe's
// basic, pstats and tls plugins that DoH detection uses, named and typed as
// in ALF's trapcaps.
const Spec = "ipaddr DST_IP,ipaddr SRC_IP,uint64 BYTES,uint64 BYTES_REV,time TIME_FIRST,time TIME_LAST," +
	"uint32 PACKETS,uint32 PACKETS_REV,uint16 DST_PORT,uint16 SRC_PORT,uint8 PROTOCOL,uint8 TCP_FLAGS,uint8 TCP_FLAGS_REV," +
	"int8* PPI_PKT_DIRECTIONS,uint8* PPI_PKT_FLAGS,uint16* PPI_PKT_LENGTHS,time* PPI_PKT_TIMES,string TLS_SNI"

// Encoder writes flows as UniRec records of Spec.
type Encoder struct {
	b     *trap.Builder
	t     *trap.Template
	times [MaxPPI]trap.Time

	dst, src, bytes, bytesRev, first, last, packets, packetsRev *trap.Field
	dstPort, srcPort, proto, flags, flagsRev                    *trap.Field
	dirs, pktFlags, lengths, pktTimes, sni                      *trap.Field
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	t, err := trap.ParseTemplate(Spec)
	if err != nil {
		panic("BUG: synth.Spec: " + err.Error())
	}
	f := t.Field
	return &Encoder{
		b: trap.NewBuilder(t), t: t,
		dst: f("DST_IP"), src: f("SRC_IP"), bytes: f("BYTES"), bytesRev: f("BYTES_REV"),
		first: f("TIME_FIRST"), last: f("TIME_LAST"), packets: f("PACKETS"), packetsRev: f("PACKETS_REV"),
		dstPort: f("DST_PORT"), srcPort: f("SRC_PORT"), proto: f("PROTOCOL"), flags: f("TCP_FLAGS"), flagsRev: f("TCP_FLAGS_REV"),
		dirs: f("PPI_PKT_DIRECTIONS"), pktFlags: f("PPI_PKT_FLAGS"), lengths: f("PPI_PKT_LENGTHS"), pktTimes: f("PPI_PKT_TIMES"), sni: f("TLS_SNI"),
	}
}

// Template is the template of the records.
func (e *Encoder) Template() *trap.Template { return e.t }

// Append appends the record of f to dst.
func (e *Encoder) Append(dst []byte, f *Flow) ([]byte, error) {
	b := e.b
	b.Reset()
	b.SetIP(e.dst, f.Dst)
	b.SetIP(e.src, f.Src)
	b.SetUint(e.bytes, f.Bytes)
	b.SetUint(e.bytesRev, f.BytesRev)
	b.SetTime(e.first, trap.TimeOf(f.First))
	b.SetTime(e.last, trap.TimeOf(f.Last))
	b.SetUint(e.packets, uint64(f.Packets))
	b.SetUint(e.packetsRev, uint64(f.PacketsRev))
	b.SetUint(e.dstPort, uint64(f.DstPort))
	b.SetUint(e.srcPort, uint64(f.SrcPort))
	b.SetUint(e.proto, 6)
	b.SetUint(e.flags, uint64(f.TCPFlags))
	b.SetUint(e.flagsRev, uint64(f.TCPFlagsRev))
	n := f.PPI
	for i := range n {
		e.times[i] = trap.TimeOf(f.Times[i])
	}
	trap.SetArray(b, e.dirs, f.Dirs[:n])
	trap.SetArray(b, e.pktFlags, f.Flags[:n])
	trap.SetArray(b, e.lengths, f.Lengths[:n])
	trap.SetArray(b, e.pktTimes, e.times[:n])
	b.SetString(e.sni, f.SNI)
	return b.Append(dst)
}
