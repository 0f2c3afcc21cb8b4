// Package flowmeter turns packets into bidirectional flows, as ipfixprobe
// does, at line rate: a zero-copy decoder (Ethernet with VLAN tags, Linux
// cooked captures, raw IP; IPv4 and IPv6 with extension headers; TCP and
// UDP), a preallocated set-associative flow cache per meter with
// ipfixprobe's timeouts and end-of-flow rules, the per-packet information
// of the first 30 packets (ipfixprobe's pstats plugin), the TLS server
// name and, on request, the JA3 and JA4 fingerprints of the ClientHello
// (its tls plugin; a hello over several TCP segments is put back
// together, which ipfixprobe does not do), and the inputs that feed it: pcap and pcapng
// files or standard input, and AF_PACKET (TPACKET_V3 rings read in place, with eBPF filters
// and steering when given) with a fanout group, one meter per core. A
// meter may keep only some protocols and ports (Config.Ports), by the rule
// of the eBPF socket filter, so that a capture file gives the flows the
// live link did.
// Finished flows leave each meter through a lock-free single-producer ring
// that passes their records, not copies: a record comes back to the meter
// once the consumer has released it. When the consumer falls behind and
// the ring is full, a live capture's meter drops the flow and counts it,
// never waiting: the kernel would drop packets meanwhile. A file's meter
// waits instead (ReadPcap): a file can wait, and the same file then gives
// the same flows however fast its consumer is.
//
// With many flows in the cache, every packet waits for memory: for its
// line of the cache, then for its flow's record. Meter.Frames works on
// several frames at once and fetches their lines and records ahead (a
// prefetch instruction on amd64; with AVX-512, one call a packet that also
// compares the line's tags, fetchFlow), so that the waits overlap. The AF_PACKET
// reader hands it each block's frames; pcap reading copies frames into
// batches for it once the cache is crowded (pcapgo reuses its buffer). A
// large cache lives on huge pages, outside the Go heap (Meter.Close gives
// it back), so that those waits are not doubled by misses of the TLB; a
// new flow's record, one the consumer released, is fetched while the flow
// before it is being created.
//
// Capture files are read by gopacket's pcapgo, which allocates what a file
// claims for a frame before reading it: alfd caps the snapshot length of a
// pcap, and checks a pcapng's blocks on their way in (ngGuard), so that a
// corrupt file is refused by name instead of exhausting memory.
package flowmeter
