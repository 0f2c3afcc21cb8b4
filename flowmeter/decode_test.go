package flowmeter

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/alfd/alfd/internal/shareddata"
)

// ndpiPcaps lists the shared pcaps.
func ndpiPcaps(tb testing.TB) []string {
	tb.Helper()
	dir := shareddata.Path(tb, "pcap", "ndpi")
	files, err := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if err != nil {
		tb.Fatal(err)
	}
	var pcaps []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".out") {
			pcaps = append(pcaps, f)
		}
	}
	if len(pcaps) < 10 {
		tb.Fatalf("only %d pcaps in %s", len(pcaps), dir)
	}
	return pcaps
}

// want is what gopacket's layers say of a frame.
type want struct {
	skip             Skip
	src, dst         netip.Addr
	srcPort, dstPort uint16
	proto            uint8
	ipLen            uint32
	payloadLen       uint32
	tcpSeq           uint32
	tcpFlags         uint8
	vlan             uint16
}

// gopacketSays decodes frame with gopacket, the reference.
func gopacketSays(frame []byte, link gopacket.Decoder) want {
	pkt := gopacket.NewPacket(frame, link, gopacket.Default)
	var w want
	if d, ok := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok {
		w.vlan = d.VLANIdentifier
	}
	var l4 []byte
	var ipLeft int
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		w.src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		w.dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
		w.proto, w.ipLen = uint8(ip.Protocol), uint32(ip.Length)
		if ip.FragOffset != 0 {
			return want{skip: Fragment}
		}
		l4, ipLeft = ip.Payload, int(ip.Length)-int(ip.IHL)*4
	case *layers.IPv6:
		w.src, _ = netip.AddrFromSlice(ip.SrcIP)
		w.dst, _ = netip.AddrFromSlice(ip.DstIP)
		w.ipLen = uint32(ip.Length) + 40
		w.proto = uint8(ip.NextHeader)
		l4, ipLeft = ip.Payload, int(ip.Length)
		// gopacket decodes extension headers as layers of their own.
		for _, l := range pkt.Layers() {
			switch e := l.(type) {
			case *layers.IPv6HopByHop:
				w.proto, ipLeft = uint8(e.NextHeader), ipLeft-len(e.Contents)
			case *layers.IPv6Destination:
				w.proto, ipLeft = uint8(e.NextHeader), ipLeft-len(e.Contents)
			case *layers.IPv6Routing:
				w.proto, ipLeft = uint8(e.NextHeader), ipLeft-len(e.Contents)
			}
		}
	default:
		return want{skip: NotIP}
	}
	switch t := pkt.TransportLayer().(type) {
	case *layers.TCP:
		w.srcPort, w.dstPort = uint16(t.SrcPort), uint16(t.DstPort)
		w.tcpSeq, w.tcpFlags = t.Seq, tcpFlags(t)
		w.payloadLen = uint32(ipLeft - int(t.DataOffset)*4)
	case *layers.UDP:
		w.srcPort, w.dstPort = uint16(t.SrcPort), uint16(t.DstPort)
		w.payloadLen = uint32(ipLeft - 8)
	default:
		_ = l4
		w.payloadLen = uint32(ipLeft)
	}
	return w
}

func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	for i, set := range []bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
		if set {
			f |= 1 << i
		}
	}
	return f
}

func (p *Packet) got(skip Skip) want {
	if skip != Decoded {
		return want{skip: skip}
	}
	return want{src: p.SrcAddr(), dst: p.DstAddr(), srcPort: p.SrcPort, dstPort: p.DstPort, proto: p.Proto,
		ipLen: p.IPLen, payloadLen: p.PayloadLen, tcpSeq: p.TCPSeq, tcpFlags: p.TCPFlags, vlan: p.VLAN}
}

// TestDecodeAgreesWithGopacket decodes every packet of the shared pcaps
// and compares each field with gopacket's layers.
func TestDecodeAgreesWithGopacket(t *testing.T) {
	total := 0
	for _, path := range ndpiPcaps(t) {
		r, err := OpenPcap(path)
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		for i := 0; ; i++ {
			frame, ci, err := r.Next()
			if err != nil {
				break
			}
			dec := Decoder{Link: ci.Link}
			got := p.got(dec.Decode(frame, ci.Micros, &p))
			if w := gopacketSays(frame, layers.LinkTypeEthernet); got != w {
				t.Fatalf("%s packet %d: decoded %+v, gopacket says %+v", filepath.Base(path), i+1, got, w)
			}
			if got.skip == Decoded && p.Proto == protoTCP && len(p.Payload) > int(p.PayloadLen) {
				t.Fatalf("%s packet %d: %d payload bytes, %d by the headers", filepath.Base(path), i+1, len(p.Payload), p.PayloadLen)
			}
			total++
		}
		r.Close()
	}
	if total < 3000 {
		t.Errorf("only %d packets compared", total)
	}
}

// frame builds a frame of layers with gopacket.
func frame(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	type checksummed interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}
	for _, l := range ls {
		if c, ok := l.(checksummed); ok {
			for _, n := range ls {
				if ip, ok := n.(gopacket.NetworkLayer); ok {
					c.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecodeLinkTypesAndHeaders covers what the shared pcaps lack: VLAN
// tags, Linux cooked captures, raw and loopback captures, IPv6 extension
// headers, fragments, and broken frames.
func TestDecodeLinkTypesAndHeaders(t *testing.T) {
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: typ}
	}
	ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{192, 0, 2, 53}, Options: nil}
	ip4opts := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{192, 0, 2, 53},
		Options: []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8:53::1")}
	ip6hop := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8:53::1")}
	hop := &layers.IPv6HopByHop{}
	hop.NextHeader = layers.IPProtocolTCP
	hop.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	tcp := func() *layers.TCP {
		return &layers.TCP{SrcPort: 51000, DstPort: 443, Seq: 1, SYN: true, ACK: true, Window: 1000,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 180}}}}
	}
	payload := gopacket.Payload("hello, resolver")
	udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
	vlan := &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4}
	qinqOuter := &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeDot1Q}
	qinqInner := &layers.Dot1Q{VLANIdentifier: 99, Type: layers.EthernetTypeIPv6}

	plain := frame(t, eth(layers.EthernetTypeIPv4), ip4, tcp(), payload)
	ipv4Bytes := plain[14:]
	ipv6Bytes := frame(t, ip6, tcp(), payload)
	for _, tc := range []struct {
		name  string
		link  LinkType
		frame []byte
		want  want
	}{
		{"ethernet ipv4 tcp", LinkEthernet, plain, want{src: mustAddr("10.0.0.1"), dst: mustAddr("192.0.2.53"), srcPort: 51000, dstPort: 443, proto: 6, ipLen: 59, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x12}},
		{"ipv4 options udp", LinkEthernet, frame(t, eth(layers.EthernetTypeIPv4), ip4opts, udp, payload), want{src: mustAddr("10.0.0.1"), dst: mustAddr("192.0.2.53"), srcPort: 5353, dstPort: 53, proto: 17, ipLen: 47, payloadLen: 15}},
		{"802.1Q", LinkEthernet, frame(t, eth(layers.EthernetTypeDot1Q), vlan, ip4, tcp(), payload), want{src: mustAddr("10.0.0.1"), dst: mustAddr("192.0.2.53"), srcPort: 51000, dstPort: 443, proto: 6, ipLen: 59, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x12, vlan: 42}},
		{"QinQ keeps the outer tag", LinkEthernet, frame(t, eth(layers.EthernetTypeDot1Q), qinqOuter, qinqInner, ip6, tcp(), payload), want{src: mustAddr("2001:db8::1"), dst: mustAddr("2001:db8:53::1"), srcPort: 51000, dstPort: 443, proto: 6, ipLen: 79, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x12, vlan: 7}},
		{"ipv6 hop-by-hop", LinkEthernet, frame(t, eth(layers.EthernetTypeIPv6), ip6hop, hop, tcp(), payload), want{src: mustAddr("2001:db8::1"), dst: mustAddr("2001:db8:53::1"), srcPort: 51000, dstPort: 443, proto: 6, ipLen: 87, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x12}},
		{"raw ipv4", LinkRaw, ipv4Bytes, want{src: mustAddr("10.0.0.1"), dst: mustAddr("192.0.2.53"), srcPort: 51000, dstPort: 443, proto: 6, ipLen: 59, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x12}},
		{"raw ipv6", LinkRaw, ipv6Bytes, want{src: mustAddr("2001:db8::1"), dst: mustAddr("2001:db8:53::1"), srcPort: 51000, dstPort: 443, proto: 6, ipLen: 79, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x12}},
		{"linux sll", LinkLinuxSLL, append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ipv4Bytes...), want{src: mustAddr("10.0.0.1"), dst: mustAddr("192.0.2.53"), srcPort: 51000, dstPort: 443, proto: 6, ipLen: 59, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x12}},
		{"linux sll2", LinkLinuxSLL2, append([]byte{0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, ipv6Bytes...), want{src: mustAddr("2001:db8::1"), dst: mustAddr("2001:db8:53::1"), srcPort: 51000, dstPort: 443, proto: 6, ipLen: 79, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x12}},
		{"bsd loopback", LinkNull, append([]byte{2, 0, 0, 0}, ipv4Bytes...), want{src: mustAddr("10.0.0.1"), dst: mustAddr("192.0.2.53"), srcPort: 51000, dstPort: 443, proto: 6, ipLen: 59, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x12}},
		{"arp", LinkEthernet, frame(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x800, HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: make([]byte, 6), SourceProtAddress: make([]byte, 4), DstHwAddress: make([]byte, 6), DstProtAddress: make([]byte, 4)}), want{skip: NotIP}},
		{"cut in the ip header", LinkEthernet, plain[:14+12], want{skip: Truncated}},
		{"cut in the tcp header", LinkEthernet, plain[:14+20+10], want{skip: Truncated}},
		{"runt", LinkEthernet, plain[:10], want{skip: Truncated}},
		{"ihl below 5", LinkEthernet, patch(plain, 14, 0x44), want{skip: Malformed}},
		{"version 5", LinkEthernet, patch(plain, 14, 0x55), want{skip: Malformed}},
		{"total length below the header", LinkEthernet, patch(patch(plain, 16, 0), 17, 10), want{skip: Malformed}},
		{"tcp data offset below 5", LinkEthernet, patch(plain, 14+20+12, 0x30), want{skip: Malformed}},
		{"later fragment", LinkEthernet, patch(plain, 14+7, 0x10), want{skip: Fragment}},
		{"oversized", LinkEthernet, make([]byte, MaxFrame+1), want{skip: Oversized}},
		{"unknown link", LinkType(147), plain, want{skip: UnknownLink}},
	} {
		var p Packet
		if got := p.got(Decoder{Link: tc.link}.Decode(tc.frame, 0, &p)); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestDecodeIPv6ExtensionHeaders: the decoder skips each kind of IPv6
// extension header by its own length rule (8-byte units, 4-byte units for
// the authentication header, 8 bytes for a fragment's) to the TCP header
// behind, alone and chained; a first fragment is decoded and marked, a
// later one skipped; a chain cut short, or longer than the payload length
// says, is refused.
func TestDecodeIPv6ExtensionHeaders(t *testing.T) {
	seg := frame(t, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8:53::1")},
		&layers.TCP{SrcPort: 51000, DstPort: 443, Seq: 1, PSH: true, ACK: true, Window: 1000}, gopacket.Payload("hello, resolver"))
	// ext is an extension header of type typ; body[0], its next header,
	// is set when chained.
	type ext struct {
		typ  byte
		body []byte
	}
	withExts := func(exts ...ext) []byte {
		b := append([]byte(nil), seg[:40]...)
		next := &b[6]
		for _, e := range exts {
			*next = e.typ
			b = append(b, e.body...)
			next = &b[len(b)-len(e.body)]
		}
		*next = protoTCP
		b = append(b, seg[40:]...)
		be.PutUint16(b[4:], uint16(len(b)-40))
		return b
	}
	options := func(typ byte, units int) ext { // hop-by-hop, destination: 8+8*units bytes
		body := make([]byte, 8+8*units)
		body[1] = byte(units)
		return ext{typ, body}
	}
	routing := ext{43, []byte{0, 2, 0, 0, 0, 0, 0, 0, 15: 0, 23: 0}}
	auth := ext{51, append([]byte{0, 4}, make([]byte, 22)...)} // 24 bytes: (4+2)*4
	fragment := func(offset uint16, more bool) ext {
		body := make([]byte, 8)
		be.PutUint16(body[2:], offset<<3)
		if more {
			body[3] |= 1
		}
		return ext{44, body}
	}
	decoded := func(extBytes uint32) want {
		return want{src: mustAddr("2001:db8::1"), dst: mustAddr("2001:db8:53::1"), srcPort: 51000, dstPort: 443, proto: 6,
			ipLen: 40 + extBytes + 20 + 15, payloadLen: 15, tcpSeq: 1, tcpFlags: 0x18}
	}
	chain := withExts(options(0, 1), options(60, 0), routing, auth, fragment(0, true))
	for _, tc := range []struct {
		name      string
		frame     []byte
		want      want
		firstFrag bool
	}{
		{"hop-by-hop of 16 bytes", withExts(options(0, 1)), decoded(16), false},
		{"destination options", withExts(options(60, 0)), decoded(8), false},
		{"routing", withExts(routing), decoded(24), false},
		{"authentication header", withExts(auth), decoded(24), false},
		{"first fragment", withExts(fragment(0, true)), decoded(8), true},
		{"unfragmented fragment header", withExts(fragment(0, false)), decoded(8), false},
		{"later fragment", withExts(fragment(185, true)), want{skip: Fragment}, false},
		{"last fragment", withExts(fragment(185, false)), want{skip: Fragment}, false},
		{"a chain of five", chain, decoded(16 + 8 + 24 + 24 + 8), true},
		{"cut in an extension header", chain[:40+16+8+1], want{skip: Truncated}, false},
		{"longer than the payload length", patch(patch(chain, 4, 0), 5, 20), want{skip: Malformed}, false},
	} {
		var p Packet
		got := p.got(Decoder{Link: LinkRaw}.Decode(tc.frame, 0, &p))
		if got != tc.want || got.skip == Decoded && p.FirstFragment != tc.firstFrag {
			t.Errorf("%s: %+v, first fragment %v; want %+v, %v", tc.name, got, p.FirstFragment, tc.want, tc.firstFrag)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// patch returns a copy of b with b[i] = v.
func patch(b []byte, i int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[i] = v
	return c
}
