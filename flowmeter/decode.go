package flowmeter

import (
	"encoding/binary"
	"fmt"
)

// LinkType is a capture's link-layer header type, numbered as pcap's
// LINKTYPE_ values.
type LinkType uint16

// The link types the decoder reads.
const (
	LinkNull      LinkType = 0   // BSD loopback: a 4-byte address family in host order
	LinkEthernet  LinkType = 1   // Ethernet, with 802.1Q and 802.1ad VLAN tags
	LinkRaw       LinkType = 101 // bare IPv4 or IPv6
	LinkLoop      LinkType = 108 // OpenBSD loopback: the family in network order
	LinkLinuxSLL  LinkType = 113 // Linux cooked capture (tcpdump -i any)
	LinkLinuxSLL2 LinkType = 276 // Linux cooked capture v2
)

func (l LinkType) String() string {
	switch l {
	case LinkNull:
		return "null"
	case LinkEthernet:
		return "ethernet"
	case LinkRaw:
		return "raw"
	case LinkLoop:
		return "loop"
	case LinkLinuxSLL:
		return "linux_sll"
	case LinkLinuxSLL2:
		return "linux_sll2"
	}
	return fmt.Sprintf("linktype(%d)", uint16(l))
}

// Supported reports whether the decoder reads frames of this link type.
func (l LinkType) Supported() bool {
	switch l {
	case LinkNull, LinkEthernet, LinkRaw, LinkLoop, LinkLinuxSLL, LinkLinuxSLL2:
		return true
	}
	return false
}

// Skip says why a frame makes no flow update; Decoded is none.
type Skip uint8

// Why frames are skipped.
const (
	Decoded     Skip = iota
	Truncated        // the capture ends inside a header
	Malformed        // a header is inconsistent: bad version, lengths, options
	NotIP            // an ethertype or family other than IPv4 and IPv6
	Fragment         // an IP fragment after the first: counted, not reassembled
	Oversized        // a frame longer than MaxFrame
	UnknownLink      // a link type the decoder does not read
	Filtered         // none of its ports is in Config.Ports (skipped by the meter, not the decoder)
	numSkips
)

var skipNames = [numSkips]string{"decoded", "truncated", "malformed", "not_ip", "fragment", "oversized", "unknown_link", "filtered"}

func (s Skip) String() string { return skipNames[s] }

// MaxFrame is the longest frame the decoder takes: a 64 KiB IP packet and
// its link headers with room to spare (pcap's largest snapshot length).
const MaxFrame = 262144

// IP protocol numbers the decoder knows.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// Key identifies a flow in one direction: the packet's sender is Src.
// Addresses are 16 bytes; IPv4 ones are stored in the first 4 with IPv6
// zero, and IPVersion tells which.
type Key struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
	IPVersion        uint8
	VLAN             uint16 // the outermost VLAN ID, 0 without
}

// reversed is the key of the other direction.
func (k *Key) reversed() Key {
	r := *k
	r.Src, r.Dst = k.Dst, k.Src
	r.SrcPort, r.DstPort = k.DstPort, k.SrcPort
	return r
}

// Packet is what the flow cache needs of a frame. It is filled in place,
// and Payload points into the frame.
type Packet struct {
	Key
	// TimeMicros is the capture time in microseconds since the epoch:
	// ipfixprobe keeps time as a struct timeval.
	TimeMicros int64
	// IPLen is the IP packet's length by its header (IPv4 total length,
	// IPv6 payload length + 40), whatever the capture cut off: BYTES.
	IPLen uint32
	// PayloadLen is the transport payload's length by the headers (for
	// other protocols, the IP payload's): PPI_PKT_LENGTHS.
	PayloadLen uint32
	// Payload is the captured part of the transport payload.
	Payload  []byte
	TCPSeq   uint32 // a TCP segment's sequence number
	TCPFlags uint8
	// FirstFragment is set for the first fragment of a fragmented packet.
	FirstFragment bool
}

// A Decoder reads frames of one link type, pcap's numbers: its zero value
// reads BSD loopback (LinkNull), not Ethernet.
type Decoder struct {
	Link LinkType
}

var be = binary.BigEndian

// Decode fills p from frame, captured at timeMicros. It returns Decoded,
// or why the frame is skipped; it never fails otherwise, and keeps no
// reference to frame beyond p.Payload.
func (d Decoder) Decode(frame []byte, timeMicros int64, p *Packet) Skip {
	if len(frame) > MaxFrame {
		return Oversized
	}
	p.TimeMicros = timeMicros
	p.VLAN = 0
	var ethertype uint16
	off := 0
	switch d.Link {
	case LinkEthernet:
		if len(frame) < 14 {
			return Truncated
		}
		ethertype, off = be.Uint16(frame[12:]), 14
		if ethertype == 0x8100 || ethertype == 0x88a8 {
			// Only the outermost VLAN ID is kept, as ipfixprobe does;
			// inner tags (QinQ) are skipped.
			if len(frame) < off+4 {
				return Truncated
			}
			p.VLAN = be.Uint16(frame[off:]) & 0x0fff
			ethertype, off = be.Uint16(frame[off+2:]), off+4
			for ethertype == 0x8100 || ethertype == 0x88a8 {
				if len(frame) < off+4 {
					return Truncated
				}
				ethertype, off = be.Uint16(frame[off+2:]), off+4
			}
		}
	case LinkLinuxSLL:
		if len(frame) < 16 {
			return Truncated
		}
		ethertype, off = be.Uint16(frame[14:]), 16
	case LinkLinuxSLL2:
		if len(frame) < 20 {
			return Truncated
		}
		ethertype, off = be.Uint16(frame[0:]), 20
	case LinkRaw:
		if len(frame) < 1 {
			return Truncated
		}
		switch frame[0] >> 4 {
		case 4:
			ethertype = 0x0800
		case 6:
			ethertype = 0x86dd
		default:
			return Malformed
		}
	case LinkNull, LinkLoop:
		if len(frame) < 4 {
			return Truncated
		}
		family := binary.LittleEndian.Uint32(frame)
		if d.Link == LinkLoop || family > 0xffff {
			family = be.Uint32(frame)
		}
		off = 4
		switch family {
		case 2:
			ethertype = 0x0800
		case 10, 24, 28, 30: // AF_INET6 on Linux, the BSDs and macOS
			ethertype = 0x86dd
		default:
			return NotIP
		}
	default:
		return UnknownLink
	}
	switch ethertype {
	case 0x0800:
		return decodeIPv4(frame[off:], p)
	case 0x86dd:
		return decodeIPv6(frame[off:], p)
	}
	return NotIP
}

// decodeIPv4 decodes an IPv4 packet and what it carries.
func decodeIPv4(b []byte, p *Packet) Skip {
	if len(b) < 20 {
		return Truncated
	}
	ihl := int(b[0]&0x0f) * 4
	totalLen := int(be.Uint16(b[2:]))
	switch {
	case b[0]>>4 != 4 || ihl < 20:
		return Malformed
	case len(b) < ihl:
		return Truncated
	case totalLen < ihl:
		return Malformed
	}
	p.IPVersion = 4
	p.Src = [16]byte{b[12], b[13], b[14], b[15]}
	p.Dst = [16]byte{b[16], b[17], b[18], b[19]}
	p.Proto = b[9]
	p.IPLen = uint32(totalLen)
	frag := be.Uint16(b[6:])
	if frag&0x1fff != 0 {
		// A later fragment carries no transport header to key it by.
		return Fragment
	}
	p.FirstFragment = frag&0x2000 != 0
	return decodeTransport(b[ihl:], totalLen-ihl, p)
}

// decodeIPv6 decodes an IPv6 packet, skipping its extension headers.
func decodeIPv6(b []byte, p *Packet) Skip {
	if len(b) < 40 {
		return Truncated
	}
	if b[0]>>4 != 6 {
		return Malformed
	}
	payloadLen := int(be.Uint16(b[4:]))
	p.IPVersion = 6
	p.Src = [16]byte(b[8:24])
	p.Dst = [16]byte(b[24:40])
	p.IPLen = uint32(payloadLen) + 40
	p.FirstFragment = false
	next := b[6]
	off := 40
	for {
		switch next {
		case 0, 43, 60, 135: // hop-by-hop, routing, destination, mobility
			if len(b) < off+2 {
				return Truncated
			}
			next, off = b[off], off+8+int(b[off+1])*8
		case 51: // authentication header: length in 4-byte units, minus 2
			if len(b) < off+2 {
				return Truncated
			}
			next, off = b[off], off+(int(b[off+1])+2)*4
		case 44: // fragment
			if len(b) < off+8 {
				return Truncated
			}
			fragOff := be.Uint16(b[off+2:])
			if fragOff&0xfff8 != 0 {
				return Fragment
			}
			p.FirstFragment = fragOff&1 != 0
			next, off = b[off], off+8
		default:
			if off > len(b) {
				return Truncated
			}
			if off-40 > payloadLen {
				return Malformed
			}
			p.Proto = next
			return decodeTransport(b[off:], payloadLen-(off-40), p)
		}
	}
}

// decodeTransport decodes the TCP or UDP header in b; ipLeft is how much
// of the IP packet the headers say is left, which the capture may have cut.
func decodeTransport(b []byte, ipLeft int, p *Packet) Skip {
	p.TCPSeq, p.TCPFlags = 0, 0
	p.SrcPort, p.DstPort = 0, 0
	hdr := 0
	switch p.Proto {
	case protoTCP:
		if len(b) < 20 {
			return Truncated
		}
		hdr = int(b[12]>>4) * 4
		if hdr < 20 {
			return Malformed
		}
		if len(b) < hdr {
			return Truncated
		}
		p.SrcPort, p.DstPort = be.Uint16(b), be.Uint16(b[2:])
		p.TCPSeq, p.TCPFlags = be.Uint32(b[4:]), b[13]
	case protoUDP:
		if len(b) < 8 {
			return Truncated
		}
		hdr = 8
		p.SrcPort, p.DstPort = be.Uint16(b), be.Uint16(b[2:])
	}
	if ipLeft < hdr {
		return Malformed
	}
	p.PayloadLen = uint32(ipLeft - hdr)
	// Ethernet pads short frames: the payload ends where the IP packet does.
	end := min(len(b), ipLeft)
	p.Payload = b[hdr:end]
	return Decoded
}
