package bpf

import "github.com/alfd/alfd/flowmeter"

// Where pre-aggregation runs.
const (
	AggregateOff    = ""
	AggregateSocket = "socket" // in the AF_PACKET sockets' filter: safe on any host, both directions
	AggregateXDP    = "xdp"    // at XDP: earlier and cheaper; ingress only, and its drops are the host's too
)

// Config says which programs to load.
type Config struct {
	// Ports, when set, restrict the meters to these protocols and ports,
	// by flowmeter.Config.Ports' rule.
	Ports []flowmeter.Port
	// Aggregate is AggregateOff, AggregateSocket or AggregateXDP.
	Aggregate string
	// Interface is where XDP attaches.
	Interface string
	// MaxFlows sizes the kernel's flow table (default 2^18 flows, 80
	// bytes each and the hash table's overhead): the long flows the
	// kernel counts at once; when it is full, a new long flow's packets
	// go up as without pre-aggregation, counted as Full.
	MaxFlows int
	// Steer loads the fanout steering program.
	Steer bool

	unbound bool // XDP's program not bound to the interface, as where it cannot be (tests)
}

// Counts are the programs' counters, summed over the CPUs.
type Counts struct {
	Passed   uint64 // went up to user space
	Dropped  uint64 // not of a wanted port
	Counted  uint64 // counted in the kernel's flow table, not sent up
	Unparsed uint64 // not IP, a later fragment, broken headers
	// Full counts the long flows the meters would have had the kernel
	// count, for which its flow table had no room: their packets all went
	// up.
	Full uint64
	// NoVLANHint counts the frames at XDP whose driver could not tell
	// the program the VLAN tag it may have taken off (see
	// Programs.VLANHint).
	NoVLANHint uint64
}
