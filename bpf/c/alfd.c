//go:build ignore

// alfd's eBPF programs. port_filter is a socket filter for the AF_PACKET
// sockets: it passes only the protocols and ports worth metering, and can
// pre-aggregate long flows (below). steer picks each packet's socket for
// PACKET_FANOUT_EBPF. aggregate pre-aggregates at XDP, before the kernel
// makes a socket buffer: earlier and cheaper, but only for ingress, and its
// drops are the host's too (for capture ports).
//
// Pre-aggregation: the flow meter asks the kernel to count a flow once it
// holds the flow's per-packet information (its first 30 packets with
// payload), by putting the flow in the flows map; from then on the
// flow's packets are counted there and dropped, but for SYN, FIN and RST,
// which end flows and go up. The meter adds the counts to the flow when
// it exports it, and removes the entry. A flow the meter never asks about
// (most: they are short) costs the kernel one lookup a packet.

#include "parse.h"
#include <linux/if_packet.h>
#include <linux/errno.h>

// Set by the loader.
volatile const __u8 filter_ports = 0;    // port_filter and aggregate keep only wanted ports
volatile const __u8 aggregate_flows = 0; // port_filter pre-aggregates

// Set by aggregate_hinted when a driver could not tell it a frame's VLAN
// tag: the kernel may then see a flow in a VLAN without it, and the
// meters hand such a flow over under both keys. (Read in place by user
// space, which maps it: no system call.)
volatile __u8 vlan_hint_missing = 0;

enum { PASSED, DROPPED, COUNTED, UNPARSED, NO_VLAN_HINT, COUNTERS };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

// A flow's key: its endpoints in a fixed order, the lower first, and its
// outer VLAN, as the flow meter keys flows (a flow routed from one VLAN to
// another on a mirrored trunk is two).
struct flow_key {
	__u8 lo[16];
	__u8 hi[16];
	__u16 lo_port;
	__u16 hi_port;
	__u8 proto;
	__u8 ipver;
	__u16 vlan;
};

// A flow's counts, its entry put there by the flow meter.
struct flow_counts {
	__u64 bytes[2];   // forward (the first sender's), reverse
	__u64 last_ns;    // CLOCK_MONOTONIC of the last packet seen here
	__u32 packets[2]; // packets counted here, not sent up
	__u8 flags[2];    // TCP flags of the packets counted here
	__u8 first_lo;    // the first sender is the lower endpoint
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); // sized by the loader
	__type(key, struct flow_key);
	__type(value, struct flow_counts);
} flows SEC(".maps");

// lower reports whether endpoint a is below endpoint b: the address byte
// by byte, then the port.
static __always_inline int lower(const __u8 a[16], __u16 ap, const __u8 b[16], __u16 bp)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (a[i] != b[i])
			return a[i] < b[i];
	}
	return ap < bp;
}

// keep decides whether a parsed packet goes up (1) or is counted (0).
static __always_inline int keep(const struct pkt *p)
{
	struct flow_key k = {.proto = p->proto, .ipver = p->ipver, .vlan = p->vlan};
	int src_lo = lower(p->src, p->sport, p->dst, p->dport);
	if (src_lo) {
		__builtin_memcpy(k.lo, p->src, 16);
		__builtin_memcpy(k.hi, p->dst, 16);
		k.lo_port = p->sport;
		k.hi_port = p->dport;
	} else {
		__builtin_memcpy(k.lo, p->dst, 16);
		__builtin_memcpy(k.hi, p->src, 16);
		k.lo_port = p->dport;
		k.hi_port = p->sport;
	}
	struct flow_counts *c = bpf_map_lookup_elem(&flows, &k);
	if (!c)
		return 1; // not a flow the meter handed over
	c->last_ns = bpf_ktime_get_ns();
	if (p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST))
		return 1;
	// Without a branch: an index that paths set to different constants
	// may not move a map value's address without CAP_PERFMON (the
	// verifier's Spectre v1 mitigation); one it cannot tell apart may.
	int dir = (src_lo ^ c->first_lo) & 1;
	__sync_fetch_and_add(&c->packets[dir], 1);
	__sync_fetch_and_add(&c->bytes[dir], p->ip_len);
	c->flags[dir] |= p->tcp_flags;
	return 0;
}

// The loopback interface's index in every network namespace.
#define LOOPBACK_IFINDEX 1

// port_filter runs on the capture's packet sockets, whose data starts at
// the Ethernet header.
SEC("socket")
int port_filter(struct __sk_buff *skb)
{
	// Loopback hands the sockets each packet twice, going out and coming
	// back in: the copy going out is neither the meters' nor counted.
	if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == LOOPBACK_IFINDEX)
		return 0;
	struct pkt p = {};
	if (parse_pkt(skb, AT_MAC, &p) < 0) {
		COUNT(counts, UNPARSED);
		return 0;
	}
	if (filter_ports && !wanted(&p)) {
		COUNT(counts, DROPPED);
		return 0;
	}
	if (aggregate_flows && !keep(&p)) {
		COUNT(counts, COUNTED);
		return 0;
	}
	COUNT(counts, PASSED);
	return skb->len;
}

// A driver's hint of the VLAN tag it took off a frame before XDP
// (rx-vlan-offload), for programs bound to its device; weak, as kernels
// before 6.8 lack it.
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto, __u16 *vlan_tci) __ksym __weak;

// aggregate_frame pre-aggregates at XDP a frame whose outer VLAN, when not
// in the frame, is vlan (0 for none).
static __always_inline int aggregate_frame(struct xdp_md *ctx, __u16 vlan)
{
	struct pkt p = {.vlan = vlan};
	if (parse_pkt(ctx, AT_XDP, &p) < 0) {
		COUNT(counts, UNPARSED);
		return XDP_PASS;
	}
	if (filter_ports && !wanted(&p)) {
		COUNT(counts, DROPPED);
		return XDP_PASS; // not for the meters; the host's all the same
	}
	if (!keep(&p)) {
		COUNT(counts, COUNTED);
		return XDP_DROP;
	}
	COUNT(counts, PASSED);
	return XDP_PASS;
}

// aggregate takes frames in fragments (xdp.frags), as an interface with
// an MTU over a page has them: bpf_xdp_load_bytes reads across them. It
// sees no VLAN tag the NIC took off the frame.
SEC("xdp.frags")
int aggregate(struct xdp_md *ctx)
{
	return aggregate_frame(ctx, 0);
}

// aggregate_hinted is aggregate bound to its device, whose driver tells
// the VLAN tag it took off the frame, where it can (veth, ice; others say
// they cannot, and the frame's own tag counts, as in aggregate).
SEC("xdp.frags")
int aggregate_hinted(struct xdp_md *ctx)
{
	// Set: without CAP_PERFMON the verifier takes no unset stack as a
	// kfunc's argument.
	__be16 proto = 0;
	__u16 tci = 0;
	int err = bpf_xdp_metadata_rx_vlan_tag(ctx, &proto, &tci);
	if (err != 0) {
		if (err == -EOPNOTSUPP) { // not a frame without a tag: a driver that cannot tell
			COUNT(counts, NO_VLAN_HINT);
			if (!vlan_hint_missing) // written once: the CPUs share its line
				vlan_hint_missing = 1;
		}
		tci = 0;
	}
	return aggregate_frame(ctx, tci & 0x0fff);
}

static __always_inline __u32 fold(const __u8 a[16])
{
	__u32 h = 0;
#pragma unroll
	for (int i = 0; i < 16; i += 4)
		h ^= (__u32)a[i] << 24 | (__u32)a[i + 1] << 16 | (__u32)a[i + 2] << 8 | a[i + 3];
	return h;
}

// steer runs in the fanout, before the packet sockets: there a packet
// going out starts at its Ethernet header, one received past it.
SEC("socket")
int steer(struct __sk_buff *skb)
{
	struct pkt p = {};
	if (parse_pkt(skb, skb->pkt_type == PACKET_OUTGOING ? AT_MAC : AT_NET, &p) < 0)
		return 0;
	// XOR is the same both ways; the mixing spreads it.
	__u32 h = fold(p.src) ^ fold(p.dst) ^ (p.sport ^ p.dport) ^ (__u32)p.proto << 16;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

char _license[] SEC("license") = "Dual BSD/GPL";
