//go:build linux

package bpf

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/internal/loadgen"
	"github.com/alfd/alfd/internal/netnstest"
)

// cpuTime is the process's CPU time, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// longFlows are one datagram of each of n UDP flows from a to b's port:
// sent round and round, they make n long flows. The IP checksum is left
// 0, so that b's IP layer drops them after the capture has seen them.
func longFlows(pair *netnstest.Pair, n int, port uint16) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		f := make([]byte, 14+20+8+100)
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
		ip := f[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], 20+8+100)
		a4, b4 := pair.AddrA.As4(), pair.AddrB.As4()
		copy(ip[12:], a4[:])
		copy(ip[16:], b4[:])
		binary.BigEndian.PutUint16(ip[20:], uint16(44000+i))
		binary.BigEndian.PutUint16(ip[22:], port)
		binary.BigEndian.PutUint16(ip[24:], 8+100)
		frames[i] = f
	}
	return frames
}

// BenchmarkPreaggregation sends long flows (64 UDP flows of 100-byte
// datagrams, one way, from a raw socket, as fast as it goes) over a veth
// pair into a capture with one meter: without pre-aggregation, with it in
// the socket filter, and at XDP. An op is a packet sent. user-pkts/op is
// the share that reaches user space; meter-user-ns/op the meter thread's
// user-mode CPU time per packet (10 ms resolution); cpu-ns/op the whole
// process's CPU time (the sender's, with the kernel's receiving on its
// behalf, and the meter's); metered/op the packets the flows account for
// (1: none lost).
func BenchmarkPreaggregation(b *testing.B) {
	for i, mode := range []string{AggregateOff, AggregateSocket, AggregateXDP} {
		name := mode
		if name == AggregateOff {
			name = "off"
		}
		b.Run(name, func(b *testing.B) {
			r := newRig(b, veth, byte(40+i), Config{Ports: []flowmeter.Port{{Proto: 17, Port: 5353}}, Aggregate: mode}, 1, false)
			frames := longFlows(r.pair, 64, 5353)
			cpu0 := cpuTime(b)
			b.ResetTimer()
			var sent int
			netnstest.In(b, r.pair.A, func() {
				var err error
				if sent, err = loadgen.Send(context.Background(), r.pair.IfA, frames, b.N, 0); err != nil {
					b.Error(err)
				}
			})
			time.Sleep(100 * time.Millisecond) // the meter reads the last blocks
			meterCPU := r.capture.ThreadCPU()
			flows, read := r.stop(b)
			b.StopTimer()
			cpu := cpuTime(b) - cpu0
			var metered uint64
			for _, fl := range flows {
				for i := range fl {
					metered += uint64(fl[i].Packets())
				}
			}
			b.ReportMetric(float64(sum(read))/float64(sent), "user-pkts/op")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(sent), "cpu-ns/op")
			b.ReportMetric(float64(meterCPU.Nanoseconds())/float64(sent), "meter-user-ns/op")
			b.ReportMetric(float64(metered)/float64(sent), "metered/op")
		})
	}
}

// BenchmarkHandOver is what a long flow costs its meter in system calls
// with pre-aggregation: its hand-over to the kernel (Watch) once the meter
// has its first 30 packets with payload, and the counts taken back when
// the flow ends (Take). Short flows cost none of it. An op is a flow; it
// allocates nothing (TestHandOverAllocatesNothing).
func BenchmarkHandOver(b *testing.B) {
	a := mustLoad(b, "", Config{Aggregate: AggregateSocket}).Aggregator()
	k := key(6, client, server, 40000, 443)
	b.ReportAllocs()
	for b.Loop() {
		if !a.Watch(&k) {
			b.Fatal("the kernel's table has no room")
		}
		a.Take(&k)
	}
}
