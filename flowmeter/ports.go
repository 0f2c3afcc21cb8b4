package flowmeter

import (
	"fmt"
	"strconv"
	"strings"
)

// Port is a transport protocol and port worth metering (Config.Ports).
type Port struct {
	Proto uint8 // 6 TCP, 17 UDP
	Port  uint16
}

// ParsePorts reads a list such as "tcp:443,udp:443,tcp:853".
func ParsePorts(s string) ([]Port, error) {
	var ports []Port
	for _, item := range strings.Split(s, ",") {
		proto, port, ok := strings.Cut(strings.TrimSpace(item), ":")
		n, err := strconv.ParseUint(port, 10, 16)
		if !ok || err != nil || n == 0 {
			return nil, fmt.Errorf("port %q: want tcp:PORT or udp:PORT", item)
		}
		switch proto {
		case "tcp":
			ports = append(ports, Port{protoTCP, uint16(n)})
		case "udp":
			ports = append(ports, Port{protoUDP, uint16(n)})
		default:
			return nil, fmt.Errorf("port %q: protocol %q, want tcp or udp", item, proto)
		}
	}
	return ports, nil
}

// portSet is Config.Ports as each packet asks it: a bit a TCP or UDP port.
type portSet struct {
	tcp, udp [1 << 16 / 64]uint64
}

func newPortSet(ports []Port) (*portSet, error) {
	s := new(portSet)
	for _, p := range ports {
		switch p.Proto {
		case protoTCP:
			s.tcp[p.Port/64] |= 1 << (p.Port % 64)
		case protoUDP:
			s.udp[p.Port/64] |= 1 << (p.Port % 64)
		default:
			return nil, fmt.Errorf("port %d of protocol %d: want TCP (6) or UDP (17)", p.Port, p.Proto)
		}
	}
	return s, nil
}

// wanted reports whether either of p's ports is in the set for its
// protocol, as alfd's eBPF socket filter decides.
func (s *portSet) wanted(p *Packet) bool {
	var bits *[1 << 16 / 64]uint64
	switch p.Proto {
	case protoTCP:
		bits = &s.tcp
	case protoUDP:
		bits = &s.udp
	default:
		return false
	}
	return bits[p.SrcPort/64]>>(p.SrcPort%64)&1 != 0 || bits[p.DstPort/64]>>(p.DstPort%64)&1 != 0
}
