package bpf

import (
	"fmt"
	"strconv"
	"strings"
)

// Port is a protocol and port worth metering.
type Port struct {
	Proto uint8 // 6 TCP, 17 UDP
	Port  uint16
}

// DefaultPorts are DoH's and DNS over TLS's (and QUIC's, on UDP 443).
var DefaultPorts = []Port{{6, 443}, {17, 443}, {6, 853}, {17, 853}}

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
			ports = append(ports, Port{6, uint16(n)})
		case "udp":
			ports = append(ports, Port{17, uint16(n)})
		default:
			return nil, fmt.Errorf("port %q: protocol %q, want tcp or udp", item, proto)
		}
	}
	return ports, nil
}

// Where pre-aggregation runs.
const (
	AggregateOff    = ""
	AggregateSocket = "socket" // in the AF_PACKET sockets' filter: safe on any host, both directions
	AggregateXDP    = "xdp"    // at XDP: earlier and cheaper; ingress only, and its drops are the host's too
)

// Config says which programs to load.
type Config struct {
	// Ports, when set, restrict the meters to these protocols and ports.
	Ports []Port
	// Aggregate is AggregateOff, AggregateSocket or AggregateXDP.
	Aggregate string
	// Interface is where XDP attaches.
	Interface string
	// MaxFlows sizes the kernel's flow table (default 2^18 flows, 72
	// bytes each and the hash table's overhead); when it is full, new
	// flows' packets go up as without pre-aggregation, counted as Full.
	MaxFlows int
	// Steer loads the fanout steering program.
	Steer bool
}

// Counts are the programs' counters, summed over the CPUs.
type Counts struct {
	Passed   uint64 // went up to user space
	Dropped  uint64 // not of a wanted port
	Counted  uint64 // counted in the kernel's flow table, not sent up
	Full     uint64 // went up because the flow table was full
	Unparsed uint64 // not IP, a later fragment, broken headers
}
