package flowmeter

import (
	"crypto/md5"
	"encoding/hex"
	"net/netip"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/internal/quic"
	"github.com/alfd/alfd/trap"
)

// MaxPPI is how many packets' information a flow keeps: ipfixprobe
// pstats' PSTATS_MAXELEMCOUNT.
const MaxPPI = features.MaxPackets

// maxSNI is the longest TLS server name a flow keeps whole; a longer one
// is cut there and counted (Stats.SNITruncated). It fills a flow's record
// to 496 bytes, 508 with its place in the cache (BytesPerFlow); server
// names this long are rare (ipfixprobe keeps 254 bytes; the longest of
// the 10^4 in CESNET's trapcaps has 64).
const maxSNI = 130

// EndReason says why a flow was exported, as ipfixprobe's FLOW_END_*.
type EndReason uint8

// The reasons.
const (
	EndInactive    EndReason = 1 + iota // no packet for the inactive timeout
	EndActive                           // lasted the active timeout
	EndOfFlow                           // TCP FIN or RST seen: a new SYN, or the inactive timeout
	EndForced                           // the input ended, or the meter stopped
	EndNoResources                      // its cache line was full and it was the oldest
	numEndReasons
)

var endNames = [numEndReasons]string{"", "inactive", "active", "end_of_flow", "forced", "no_resources"}

func (r EndReason) String() string { return endNames[r] }

// Flow is a bidirectional flow, as the cache keeps it and exports it. The
// source is the sender of its first packet.
type Flow struct {
	// What every packet touches comes first, in one cache line.
	key      Key
	last     int64     // capture time of the last packet, microseconds
	packets  [2]uint32 // forward, reverse
	tcpFlags [2]uint8
	nPPI     uint8
	sniLen   uint8
	tls      tlsState
	end      EndReason
	inKernel bool // the kernel counts its packets (Aggregator.Watch)
	hello    helloKind
	bytes    [2]uint64
	first    int64
	// The per-packet information (pstats), a packet's in one place.
	ppi [MaxPPI]ppiEntry
	ja3 [md5.Size]byte
	ja4 [ja4Len]byte
	sni [maxSNI]byte
}

// tlsState is where a flow is in the search for its TLS hello.
type tlsState uint8

const (
	tlsLooking    tlsState = iota // its packets may start a hello
	tlsAssembling                 // its ClientHello is being put back together (hellos.go)
	tlsDone                       // a hello was read: look no further
)

// helloKind says what a flow's ClientHello gave besides its server name.
type helloKind uint8

const (
	helloFingerprinted helloKind = 1 << iota // ja3 and ja4 hold its fingerprints
	helloQUIC1                               // it came in QUIC version 1 Initial packets
	helloQUIC2                               // in QUIC version 2's
)

// ppiEntry is one packet's information.
type ppiEntry struct {
	dt     int32 // microseconds after the flow's first packet
	length uint16
	flags  uint8
	dir    int8
}

// Key is the flow's key, its source the first packet's sender.
func (f *Flow) Key() *Key { return &f.key }

// Src is the flow's source address.
func (f *Flow) Src() netip.Addr { return f.key.SrcAddr() }

// Dst is the flow's destination address.
func (f *Flow) Dst() netip.Addr { return f.key.DstAddr() }

// Packets and Bytes are the forward direction's counts, PacketsRev and
// BytesRev the reverse's; bytes are IP bytes.
func (f *Flow) Packets() uint32    { return f.packets[0] }
func (f *Flow) PacketsRev() uint32 { return f.packets[1] }
func (f *Flow) Bytes() uint64      { return f.bytes[0] }
func (f *Flow) BytesRev() uint64   { return f.bytes[1] }

// TCPFlags and TCPFlagsRev are the flags seen in each direction, OR-ed.
func (f *Flow) TCPFlags() uint8    { return f.tcpFlags[0] }
func (f *Flow) TCPFlagsRev() uint8 { return f.tcpFlags[1] }

// FirstMicros and LastMicros are the times of the first and last packet.
func (f *Flow) FirstMicros() int64 { return f.first }
func (f *Flow) LastMicros() int64  { return f.last }

// End is why the flow was exported.
func (f *Flow) End() EndReason { return f.end }

// SNI is the TLS server name of the flow's ClientHello, a view into the
// flow; empty when there was none. A UDP flow has one when its meter reads
// QUIC (CacheConfig.QUIC) and it began with a QUIC client's Initial
// packets; QUICVersion then tells their version.
func (f *Flow) SNI() []byte { return f.sni[:f.sniLen] }

// QUICVersion is the version of the QUIC Initial packets the flow's
// ClientHello came in (1, or 0x6b3343cf for version 2), or 0.
func (f *Flow) QUICVersion() uint32 {
	switch {
	case f.hello&helloQUIC1 != 0:
		return quic.Version1
	case f.hello&helloQUIC2 != 0:
		return quic.Version2
	}
	return 0
}

// JA3 is the JA3 fingerprint of the flow's ClientHello, the MD5 digest
// itself (ipfixprobe's TLS_JA3_FINGERPRINT), a view into the flow; nil
// without one. A flow has fingerprints when its meter computes them
// (CacheConfig.TLSFingerprints) and the first TLS hello of its packets
// with payload is a ClientHello over TCP, whole in its packet or put back
// together from its segments, or one of QUIC (its JA4 starts with q).
func (f *Flow) JA3() []byte {
	if f.hello&helloFingerprinted == 0 {
		return nil
	}
	return f.ja3[:]
}

// AppendJA4 appends the JA4 fingerprint of the flow's ClientHello, as
// t13d1516h2_8daaf6152771_e5627efa2ab1, to dst; nothing without one.
func (f *Flow) AppendJA4(dst []byte) []byte {
	if f.hello&helloFingerprinted == 0 {
		return dst
	}
	dst = append(dst, f.ja4[:10]...)
	dst = append(dst, '_')
	dst = hex.AppendEncode(dst, f.ja4[10:16])
	dst = append(dst, '_')
	return hex.AppendEncode(dst, f.ja4[16:])
}

// NPPI is how many packets' information the flow holds.
func (f *Flow) NPPI() int { return int(f.nPPI) }

// PPI returns the information of packet i < NPPI: its transport payload
// length, direction (+1 from the source, -1 back), TCP flags and time.
func (f *Flow) PPI(i int) (length uint16, dir int8, flags uint8, micros int64) {
	e := &f.ppi[i]
	return e.length, e.dir, e.flags, f.first + int64(e.dt)
}

// FeatureFlow fills ff with what the DoH features are computed from.
func (f *Flow) FeatureFlow(ff *features.Flow) {
	ff.Packets, ff.PacketsRev = uint64(f.packets[0]), uint64(f.packets[1])
	ff.Bytes, ff.BytesRev = f.bytes[0], f.bytes[1]
	ff.TimeFirst, ff.TimeLast = trap.TimeFromUnixMicro(f.first), trap.TimeFromUnixMicro(f.last)
	n := int(f.nPPI)
	ff.NLengths, ff.NDirs, ff.NTimes = n, n, n
	for i := range n {
		e := &f.ppi[i]
		ff.Lengths[i], ff.Dirs[i] = e.length, e.dir
		ff.Times[i] = trap.TimeFromUnixMicro(f.first + int64(e.dt))
	}
}
