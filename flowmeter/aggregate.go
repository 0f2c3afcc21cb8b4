package flowmeter

// An Aggregator keeps, in the kernel, the counts of the packets of long
// flows that never come up to user space (eBPF pre-aggregation: package
// bpf). The kernel sends up each flow's first packets, all the per-packet
// information needs, and every SYN, FIN and RST; the meter adds the rest
// to the flow when it exports it, and asks for the kernel's last sighting
// before it lets a flow time out.
type Aggregator interface {
	// Take returns what the kernel counted of the flow with key k, whose
	// source is the flow's first sender, and forgets the flow.
	Take(k *Key) Aggregate
	// LastSeen is when the kernel last saw a packet of the flow, in
	// microseconds since the epoch; 0 when it knows of none.
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
