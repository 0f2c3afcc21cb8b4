//go:build linux

package flowmeter

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/alfd/alfd/internal/netnstest"
)

// TestAFPacketFanout is the flow meter's root test: two network namespaces
// joined by a veth pair; known UDP traffic from one side; on the other, two
// meters in one fanout group. Every flow comes out exactly once, with its
// exact packet count, and both meters take part.
func TestAFPacketFanout(t *testing.T) {
	pair := netnstest.NewPair(t, 0)

	var capture *Capture
	var sinks []net.PacketConn
	netnstest.In(t, pair.B, func() {
		var err error
		capture, err = OpenAFPacket(AFPacketConfig{Interface: pair.IfB, Fanout: 2})
		if err != nil {
			t.Error(err)
			return
		}
		// Listeners, so that no ICMP "port unreachable" goes back.
		for port := 5000; port < 5004; port++ {
			c, err := net.ListenPacket("udp4", fmt.Sprintf("10.77.0.2:%d", port))
			if err != nil {
				t.Error(err)
				return
			}
			sinks = append(sinks, c)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	defer func() {
		for _, c := range sinks {
			c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- capture.Run(ctx) }()

	// 20 flows, flow i of i+1 datagrams.
	const flows = 20
	netnstest.In(t, pair.A, func() {
		for i := range flows {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 77, 0, 1), Port: 40000 + i},
				&net.UDPAddr{IP: net.IPv4(10, 77, 0, 2), Port: 5000 + i%4})
			if err != nil {
				t.Error(err)
				return
			}
			for range i + 1 {
				if _, err := c.Write([]byte("known traffic")); err != nil {
					t.Error(err)
				}
				time.Sleep(time.Millisecond)
			}
			c.Close()
		}
	})
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}

	seen := make(map[uint16]int)
	perMeter := make([]int, 2)
	for i, m := range capture.Meters() {
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			if f.key.Proto != protoUDP || f.Src() != netip.MustParseAddr("10.77.0.1") {
				continue // ARP is no flow; IPv6 neighbour discovery and the like are others
			}
			port := f.key.SrcPort
			seen[port]++
			perMeter[i]++
			want := uint32(port-40000) + 1
			if f.Packets() != want || f.PacketsRev() != 0 || f.Dst() != netip.MustParseAddr("10.77.0.2") || f.End() != EndForced {
				t.Errorf("flow from port %d: %d packets, %d back, to %v, ended %v; want %d", port, f.Packets(), f.PacketsRev(), f.Dst(), f.End(), want)
			}
			if f.NPPI() != int(want) || len(f.SNI()) != 0 {
				t.Errorf("flow from port %d: %d packets' information", port, f.NPPI())
			}
		}
		m.Ring().Release()
	}
	for i := range flows {
		if n := seen[uint16(40000+i)]; n != 1 {
			t.Errorf("flow from port %d seen %d times", 40000+i, n)
		}
	}
	if perMeter[0] == 0 || perMeter[1] == 0 {
		t.Errorf("the fanout gave the meters %v flows", perMeter)
	}
	if received, dropped := capture.SocketStats(); received < flows*(flows+1)/2 || dropped != 0 {
		t.Errorf("sockets received %d packets, dropped %d", received, dropped)
	}
}
