package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/alfd/alfd/internal/quic"
	"github.com/alfd/alfd/internal/quic/quictest"
)

// quicPcap writes a pcap of a QUIC client's first Initial packet, of
// version, whose ClientHello names server.
func quicPcap(t *testing.T, version uint32, server string) string {
	t.Helper()
	name := []byte(server)
	sni := append([]byte{0, 0, 0, byte(len(name) + 5), 0, byte(len(name) + 3), 0, 0, byte(len(name))}, name...)
	body := append([]byte{3, 3}, make([]byte, 32)...)                 // version, random
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0, 0, byte(len(sni))) // session id, a cipher suite, compression, extensions
	body = append(body, sni...)
	hello := append([]byte{1, 0, 0, byte(len(body))}, body...)
	in := quictest.Initial{Version: version, DCID: []byte{1, 2, 3, 4, 5, 6, 7, 8}, PNLen: 1, Frames: quictest.Crypto(nil, 0, hello)}
	in.Frames = append(in.Frames, make([]byte, 1000)...)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{192, 0, 2, 1}}
	udp := &layers.UDP{SrcPort: 50000, DstPort: 443}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(in.Seal())); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "quic.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	frame := buf.Bytes()
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFlowsQUIC: alfd flows --quic prints a QUIC flow's server name and
// version as ipfixprobe's quic plugin names them; without --quic, neither.
func TestFlowsQUIC(t *testing.T) {
	pcap := quicPcap(t, quic.Version2, "dns.example.net")
	for _, on := range []bool{true, false} {
		args := []string{"flows", "--pcap", pcap, "--format", "json"}
		if on {
			args = append(args, "--quic")
		}
		out, stderr, err := runCmd(t, context.Background(), args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		named := strings.Contains(out, `"QUIC_SNI":"dns.example.net"`) && strings.Contains(out, `"QUIC_VERSION":1798521807`) && strings.Contains(out, `"TLS_SNI":""`)
		if len(lines) != 1 || named != on {
			t.Errorf("alfd %s:\n%s", strings.Join(args, " "), out)
		}
	}
}
