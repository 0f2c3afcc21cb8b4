package flowmeter

// An Aggregator keeps, in the kernel, the counts of the packets of long
// flows that never come up to user space (eBPF pre-aggregation: package
// bpf). The meter asks the kernel to count a flow once it holds the
// flow's per-packet information (its first 30 packets, of those it
// keeps); from then on the kernel counts its packets and sends up only
// SYN, FIN and RST, and the meter adds the counts to the flow when it
// exports it, and asks for the kernel's last sighting before it lets the
// flow time out. Short flows, most of them, cost the kernel nothing.
type Aggregator interface {
	// Watch asks the kernel to count the later packets of the flow with
	// key k, whose source is the flow's first sender; it reports false
	// when the kernel cannot (its table is full).
	Watch(k *Key) bool
	// Take returns what the kernel counted of a flow it watches, and
	// forgets the flow.
	Take(k *Key) Aggregate
	// LastSeen is when the kernel last saw a packet of a flow it
	// watches, in microseconds since the epoch; 0 when it knows of none.
	LastSeen(k *Key) int64
}

// Aggregate is what the kernel counted of a flow.
type Aggregate struct {
	Packets    [2]uint32 // forward, reverse
	Bytes      [2]uint64
	TCPFlags   [2]uint8
	LastMicros int64
}

// merge adds the kernel's counts to f.
func (f *Flow) merge(a *Aggregate) {
	for d := range 2 {
		f.packets[d] += a.Packets[d]
		f.bytes[d] += a.Bytes[d]
		f.tcpFlags[d] |= a.TCPFlags[d]
	}
	f.last = max(f.last, a.LastMicros)
}
