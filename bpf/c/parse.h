// Packet parsing shared by alfd's eBPF programs: the headers are read with
// the program type's load_bytes helper, so one parser serves socket
// filters, fanout steering and XDP. It reads what alfd's flow meter reads:
// Ethernet with up to two VLAN tags, IPv4, IPv6 with its extension headers
// (up to MAX_IPV6_EXT of them), TCP, UDP.

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct pkt {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport; // host order
	__u16 dport;
	__u8 proto;
	__u8 ipver;
	__u8 tcp_flags;
	__u8 pad;
	__u32 ip_len;  // the IP packet's length by its header
	__u32 payload; // the transport payload's length by the headers
	__u16 vlan;    // the outer VLAN ID, 0 without: the flow meter keys flows by it
	__u16 pad2;
};

// MAX_IPV6_EXT bounds the IPv6 extension headers skipped: RFC 8200's
// order (hop-by-hop, destination, routing, fragment, authentication,
// destination) has six. The flow meter skips any number.
#define MAX_IPV6_EXT 6

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04

// Where a program's packet data starts, which its offsets count from.
enum start {
	AT_XDP, // an XDP frame: its Ethernet header
	AT_MAC, // a socket buffer from its Ethernet header: in a packet
		// socket's filter, and a packet going out in the fanout
	AT_NET, // a socket buffer past its Ethernet header, whose type is the
		// buffer's protocol: a packet received, in the fanout (and in
		// every test run of a socket buffer program)
};

// LOAD reads n bytes at off from the start of the data into dst with the
// program type's helper. Both helpers read the whole packet, where the
// kernel holds it in pages past the buffer's linear head too (a large
// frame, from 4 KiB, sent from a packet socket across a veth pair has
// only its Ethernet header there); bpf_skb_load_bytes_relative would read
// the head only, and miss such a packet's IP header.
#define LOAD(ctx, at, off, dst, n)                                       \
	((at) == AT_XDP ? bpf_xdp_load_bytes((ctx), (off), (dst), (n))   \
			: bpf_skb_load_bytes((ctx), (off), (dst), (n)))

// parse_pkt fills p from the packet at ctx, its data starting at at; it
// returns -1 for what the flow meter would not key (not IP, a later
// fragment, broken headers).
static __always_inline int parse_pkt(void *ctx, enum start at, struct pkt *p)
{
	__u16 type;
	__u32 off = 0;
	if (at == AT_NET) {
		type = bpf_ntohs(((struct __sk_buff *)ctx)->protocol);
	} else {
		__u8 eth[14];
		if (LOAD(ctx, at, 0, eth, sizeof(eth)) < 0)
			return -1;
		type = (__u16)eth[12] << 8 | eth[13];
		off = 14;
	}
	// The outer VLAN ID as the flow meter takes it: a socket buffer's outer
	// tag is mostly off the frame already (the NIC's or the kernel's
	// doing), its ID beside the frame as the meters get it; else, or when
	// that is 0, the first tag in the frame.
	if (at != AT_XDP && ((struct __sk_buff *)ctx)->vlan_present)
		p->vlan = ((struct __sk_buff *)ctx)->vlan_tci & 0x0fff;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (type != 0x8100 && type != 0x88a8)
			break;
		__u8 tag[4];
		if (LOAD(ctx, at, off, tag, sizeof(tag)) < 0)
			return -1;
		if (i == 0 && p->vlan == 0)
			p->vlan = ((__u16)tag[0] << 8 | tag[1]) & 0x0fff;
		type = (__u16)tag[2] << 8 | tag[3];
		off += 4;
	}
	__u32 left; // the IP packet's bytes after its headers
	if (type == 0x0800) {
		__u8 ip[20];
		if (LOAD(ctx, at, off, ip, sizeof(ip)) < 0)
			return -1;
		__u32 ihl = (ip[0] & 0x0f) * 4;
		__u32 total = (__u32)ip[2] << 8 | ip[3];
		if (ip[0] >> 4 != 4 || ihl < 20 || total < ihl)
			return -1;
		if ((((__u16)ip[6] << 8 | ip[7]) & 0x1fff) != 0)
			return -1; // a later fragment: no ports
		p->ipver = 4;
		p->proto = ip[9];
		__builtin_memcpy(p->src, &ip[12], 4);
		__builtin_memcpy(p->dst, &ip[16], 4);
		p->ip_len = total;
		off += ihl;
		left = total - ihl;
	} else if (type == 0x86dd) {
		__u8 ip[40];
		if (LOAD(ctx, at, off, ip, sizeof(ip)) < 0)
			return -1;
		if (ip[0] >> 4 != 6)
			return -1;
		__u32 plen = (__u32)ip[4] << 8 | ip[5];
		p->ipver = 6;
		__builtin_memcpy(p->src, &ip[8], 16);
		__builtin_memcpy(p->dst, &ip[24], 16);
		p->ip_len = plen + 40;
		__u8 next = ip[6];
		off += 40;
		left = plen;
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			if (next != 0 && next != 43 && next != 60 && next != 135 && next != 51 && next != 44)
				break;
			__u8 ext[4];
			if (LOAD(ctx, at, off, ext, sizeof(ext)) < 0)
				return -1;
			__u32 len = 8 + (__u32)ext[1] * 8; // hop-by-hop, routing, destination, mobility
			if (next == 51) // authentication: 4-byte units, minus 2
				len = ((__u32)ext[1] + 2) * 4;
			else if (next == 44) { // fragment
				if ((((__u16)ext[2] << 8 | ext[3]) & 0xfff8) != 0)
					return -1; // a later fragment: no ports
				len = 8;
			}
			if (len > left)
				return -1;
			next = ext[0];
			off += len;
			left -= len;
		}
		p->proto = next;
	} else {
		return -1;
	}
	if (p->proto == IPPROTO_TCP) {
		__u8 tcp[14];
		if (LOAD(ctx, at, off, tcp, sizeof(tcp)) < 0)
			return -1;
		__u32 doff = (tcp[12] >> 4) * 4;
		if (doff < 20 || doff > left)
			return -1;
		p->sport = (__u16)tcp[0] << 8 | tcp[1];
		p->dport = (__u16)tcp[2] << 8 | tcp[3];
		p->tcp_flags = tcp[13];
		p->payload = left - doff;
	} else if (p->proto == IPPROTO_UDP) {
		__u8 udp[4];
		if (LOAD(ctx, at, off, udp, sizeof(udp)) < 0)
			return -1;
		if (left < 8)
			return -1;
		p->sport = (__u16)udp[0] << 8 | udp[1];
		p->dport = (__u16)udp[2] << 8 | udp[3];
		p->payload = left - 8;
	} else {
		p->payload = left;
	}
	return 0;
}

// A protocol and port worth metering; a packet is when either port is.
struct port_key {
	__u8 proto;
	__u8 pad;
	__u16 port; // host order
};

// wanted_ports lists them; port_filter_on says whether to use it.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct port_key);
	__type(value, __u8);
} wanted_ports SEC(".maps");

static __always_inline int wanted(const struct pkt *p)
{
	struct port_key k = {.proto = p->proto, .port = p->sport};
	if (bpf_map_lookup_elem(&wanted_ports, &k))
		return 1;
	k.port = p->dport;
	return bpf_map_lookup_elem(&wanted_ports, &k) != 0;
}

// count adds one to a per-CPU counter.
#define COUNT(map, i)                                  \
	do {                                           \
		__u32 key = (i);                       \
		__u64 *c = bpf_map_lookup_elem(&(map), &key); \
		if (c)                                 \
			*c += 1;                       \
	} while (0)
