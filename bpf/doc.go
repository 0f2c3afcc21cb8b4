// Package bpf holds alfd's eBPF programs and loads them with cilium/ebpf,
// so that the kernel does the work that need not reach user space:
//
//   - a socket filter on the AF_PACKET sockets, which passes only the
//     protocols and ports worth metering (flowmeter.Port; alfd's --ports,
//     by default TCP and UDP 443 and 853) before the kernel copies
//     anything to the rings, by the rule a meter keeps them by
//     (flowmeter.Config.Ports);
//   - pre-aggregation of long flows, in that socket filter or at XDP: once
//     the flow meter has a flow's first packets, which the per-packet
//     information needs, it hands the flow to the kernel, whose flow
//     table counts the rest but SYN, FIN and RST, and which the meter
//     reads when the flow ends (flowmeter.Aggregator);
//   - a PACKET_FANOUT_EBPF program that steers both directions of a flow
//     to one socket.
//
// The programs are C (c/alfd.c), compiled by bpf2go into the committed
// alfd_bpfel.go and alfd_bpfel.o; building alfd needs no clang.
//
// Why not TC: the kernel hands packets to AF_PACKET taps before the
// ingress qdisc runs, so a TC program cannot keep packets from the
// meters; the socket filter can, on egress too.
package bpf
