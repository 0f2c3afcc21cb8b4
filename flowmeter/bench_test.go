package flowmeter

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	farm "github.com/dgryski/go-farm"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/alfd/alfd/internal/shareddata"
)

// preloaded holds frames in memory with their times and wire lengths.
type preloaded struct {
	frames [][]byte
	micros []int64
	wire   []int
}

// ndpiFrames loads every frame of the shared pcaps, back to back in one
// buffer, as a capture's ring block or a file's buffer holds them.
func ndpiFrames(b testing.TB) preloaded {
	var p preloaded
	var all []byte
	var ends []int
	for _, path := range ndpiPcaps(b) {
		r, err := OpenPcap(path)
		if err != nil {
			b.Fatal(err)
		}
		for {
			frame, info, err := r.Next()
			if err != nil {
				break
			}
			all = append(all, frame...)
			ends = append(ends, len(all))
			p.micros = append(p.micros, info.Micros)
			p.wire = append(p.wire, info.WireLen)
		}
		r.Close()
	}
	start := 0
	for _, end := range ends {
		p.frames = append(p.frames, all[start:end:end])
		start = end
	}
	return p
}

// syntheticMix makes n packets of flows concurrent TCP flows in a random
// order, as headers only (a short snapshot length), a microsecond apart.
func syntheticMix(n, flows int) preloaded {
	rng := rand.New(rand.NewPCG(1, 2))
	p := preloaded{frames: make([][]byte, n), micros: make([]int64, n), wire: make([]int, n)}
	for i := range n {
		f := rng.IntN(flows)
		back := rng.IntN(3) == 0
		fr := make([]byte, 14+20+20)
		binary.BigEndian.PutUint16(fr[12:], 0x0800)
		ip := fr[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, protoTCP
		payload := 100 + rng.IntN(1300)
		binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
		client := [4]byte{10, byte(f >> 16), byte(f >> 8), byte(f)}
		server := [4]byte{192, 0, 2, byte(f % 7)}
		cport, sport := uint16(1024+f%50000), uint16(443)
		if back {
			client, server, cport, sport = server, client, sport, cport
		}
		copy(ip[12:], client[:])
		copy(ip[16:], server[:])
		tcp := ip[20:]
		binary.BigEndian.PutUint16(tcp, cport)
		binary.BigEndian.PutUint16(tcp[2:], sport)
		tcp[12], tcp[13] = 0x50, pshAck
		p.frames[i], p.micros[i], p.wire[i] = fr, 1_700_000_000_000_000+int64(i), 14+40+payload
	}
	return p
}

// BenchmarkMeter is decode + flow update + per-packet information, one
// core, packets in memory; the goal is 15 million packets/s, 0 allocs/op.
// ndpi replays the shared pcaps' frames (their flows start over each
// round: times go forward); mix is 10^6 packets of 10^5 concurrent flows.
// Frames go in by Meter.Frames, 64 at a time, as a capture hands them
// over; mix-packet is mix one frame at a time (Meter.Packet), which cannot
// fetch ahead. ndpi-fingerprints adds the TLS fingerprints of the
// ClientHellos (one in some 50 of the replay's packets).
func BenchmarkMeter(b *testing.B) {
	for _, tc := range []struct {
		name    string
		load    func() preloaded
		batched bool
		cache   CacheConfig
	}{
		{"ndpi", func() preloaded { return ndpiFrames(b) }, true, CacheConfig{}},
		{"ndpi-fingerprints", func() preloaded { return ndpiFrames(b) }, true, CacheConfig{TLSFingerprints: true}},
		{"mix", func() preloaded { return syntheticMix(1_000_000, 100_000) }, true, CacheConfig{}},
		{"mix-packet", func() preloaded { return syntheticMix(1_000_000, 100_000) }, false, CacheConfig{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := tc.load()
			m, err := NewMeter(Config{Cache: tc.cache}, LinkEthernet)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			// Each round of the frames comes later than the last, so that
			// the old flows time out.
			span := p.micros[len(p.micros)-1] - p.micros[0] + 1 + 3600e6
			b.ReportAllocs()
			b.ResetTimer()
			n := meterLoop(b, m, p, span, tc.batched)
			b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mpackets/s")
			b.ReportMetric(float64(BytesPerFlow), "bytes/flow")
		})
	}
}

// meterLoop feeds p's frames round after round to m, one op a frame, in
// batches through Frames or one by one; round r's times are r*span later.
// It drains the ring as a consumer would and returns how many frames went
// in.
func meterLoop(b *testing.B, m *Meter, p preloaded, span int64, batched bool) int {
	var batch [64]Frame
	n, i, shift := 0, 0, int64(0)
	next := func() (frame []byte, micros int64, wire int) {
		frame, micros, wire = p.frames[i], p.micros[i]+shift, p.wire[i]
		if i++; i == len(p.frames) {
			i, shift = 0, shift+span
		}
		return frame, micros, wire
	}
	for b.Loop() {
		if !batched {
			m.Packet(next())
		} else if n%len(batch) == 0 {
			for k := range batch {
				f := &batch[k]
				f.Data, f.Micros, f.WireLen = next()
			}
			m.Frames(batch[:])
		}
		n++
		if n&1023 == 0 {
			m.Flush()
			for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			}
			m.Ring().Release()
		}
	}
	return n
}

// BenchmarkHandoff is the cost per flow of handing finished flows from a
// meter to its consumer on another goroutine: the ring, which passes the
// index of the flow's record (the consumer reads the record when it
// encodes the flow, as it would a copy), against a Go channel of flows,
// which copies them.
func BenchmarkHandoff(b *testing.B) {
	var f Flow
	f.packets[0] = 1
	b.Run("ring", func(b *testing.B) {
		r := newRing(1<<12, make([]Flow, 1<<12))
		var wg sync.WaitGroup
		wg.Go(func() {
			for got := 0; got < b.N; {
				for s := r.Next(); s != nil; s = r.Next() {
					got++
				}
				r.Release()
			}
		})
		b.ResetTimer()
		for i := 0; i < b.N; {
			if r.full() {
				// Take back what the consumer released, as the meter does
				// (it keeps the records for new flows); none: wait here,
				// to count every flow.
				n := 0
				for _, ok := r.takeReleased(); ok; _, ok = r.takeReleased() {
					n++
				}
				if n == 0 {
					r.publish()
				}
				continue
			}
			r.push(uint32(i) & uint32(r.mask))
			if i++; i&63 == 0 {
				r.publish()
			}
		}
		r.publish()
		wg.Wait()
	})
	b.Run("chan", func(b *testing.B) {
		c := make(chan Flow, 1<<12)
		var wg sync.WaitGroup
		wg.Go(func() {
			for range b.N {
				<-c
			}
		})
		b.ResetTimer()
		for range b.N {
			c <- f
		}
		wg.Wait()
	})
}

// decodeFrames are the frames the decoding benchmarks read: the shared
// pcaps' when there, else a synthetic mix.
func decodeFrames(b *testing.B) [][]byte {
	if shareddata.Dir() != "" {
		return ndpiFrames(b).frames
	}
	return syntheticMix(10000, 1000).frames
}

// BenchmarkDecode compares the decoder with gopacket's DecodingLayerParser,
// the usual fast way in Go, on the same frames: each reads addresses,
// ports, protocol, lengths and TCP flags.
func BenchmarkDecode(b *testing.B) {
	frames := decodeFrames(b)
	b.Run("alfd", func(b *testing.B) {
		var p Packet
		var sink uint64
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if (Decoder{Link: LinkEthernet}).Decode(frames[n%len(frames)], 0, &p) == Decoded {
				sink += uint64(p.SrcPort) + uint64(p.PayloadLen)
			}
			n++
		}
		b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(n), "ns/packet")
		_ = sink
	})
	b.Run("gopacket", func(b *testing.B) {
		var (
			eth     layers.Ethernet
			dot1q   layers.Dot1Q
			ip4     layers.IPv4
			ip6     layers.IPv6
			tcp     layers.TCP
			udp     layers.UDP
			payload gopacket.Payload
		)
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp, &payload)
		parser.IgnoreUnsupported = true
		decoded := make([]gopacket.LayerType, 0, 8)
		var sink uint64
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			parser.DecodeLayers(frames[n%len(frames)], &decoded)
			for _, l := range decoded {
				switch l {
				case layers.LayerTypeIPv4:
					sink += uint64(ip4.Length) + uint64(ip4.SrcIP[0])
				case layers.LayerTypeIPv6:
					sink += uint64(ip6.Length) + uint64(ip6.SrcIP[0])
				case layers.LayerTypeTCP:
					sink += uint64(tcp.SrcPort) + uint64(len(tcp.Payload))
				case layers.LayerTypeUDP:
					sink += uint64(udp.SrcPort)
				}
			}
			n++
		}
		b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(n), "ns/packet")
		_ = sink
	})
}

// naiveFlow is a flow as the obvious Go program keeps it.
type naiveFlow struct {
	packets, bytes [2]uint64
	lengths        []uint16
	dirs           []int8
	times          []int64
}

// BenchmarkMeterBaseline is the obvious Go flow meter, the baseline of
// BenchmarkMeter/mix: gopacket's DecodingLayerParser and a map of
// bidirectional keys to flows that grow their per-packet slices, on the
// same 10^6 packets of 10^5 concurrent flows.
func BenchmarkMeterBaseline(b *testing.B) {
	p := syntheticMix(1_000_000, 100_000)
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		tcp     layers.TCP
		payload gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &tcp, &payload)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	type key struct {
		a, b         [4]byte
		aPort, bPort uint16
	}
	flows := make(map[key]*naiveFlow)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		i := n % len(p.frames)
		n++
		if parser.DecodeLayers(p.frames[i], &decoded) != nil || len(decoded) < 3 {
			continue
		}
		k := key{[4]byte(ip4.SrcIP.To4()), [4]byte(ip4.DstIP.To4()), uint16(tcp.SrcPort), uint16(tcp.DstPort)}
		dir := 0
		if k.aPort > k.bPort {
			k = key{k.b, k.a, k.bPort, k.aPort}
			dir = 1
		}
		f := flows[k]
		if f == nil {
			f = &naiveFlow{}
			flows[k] = f
		}
		f.packets[dir]++
		f.bytes[dir] += uint64(ip4.Length)
		if pl := int(ip4.Length) - int(ip4.IHL)*4 - int(tcp.DataOffset)*4; pl > 0 && len(f.lengths) < MaxPPI {
			f.lengths = append(f.lengths, uint16(pl))
			f.dirs = append(f.dirs, int8(1-2*dir))
			f.times = append(f.times, p.micros[i])
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mpackets/s")
}

// BenchmarkMemoryLatency is the machine's memory latency as the flow cache
// meets it: loads one after another, each at the address the one before
// read, at random over memory mapped as a large cache is (on huge pages).
// 8MiB and 64MiB visit every cache line: ns/op is the wait of one miss,
// which Meter.Frames overlaps; two machines' flow meter figures compare
// through it. The spread cases visit 8192 lines (512 KiB, which the
// processor's caches hold) spread over 4 or 64 MiB: they differ in the
// pages only, and cost alike where the TLB maps huge pages whole. On a
// virtual machine whose host backs its memory with 4 KiB pages, each load
// of spread-64MiB also walks the page tables.
func BenchmarkMemoryLatency(b *testing.B) {
	for _, tc := range memoryLayouts {
		b.Run(tc.name, func(b *testing.B) {
			mem, unmap, n, line := tc.spans(64)
			if unmap != nil {
				defer unmap()
			}
			// A cycle through the lines in random order; a line's first
			// word is the index of the next's.
			words := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), len(mem)/8)
			order := rand.New(rand.NewPCG(1, 2)).Perm(n)
			for i, k := range order {
				words[line(k)/8] = uint64(line(order[(i+1)%len(order)]) / 8)
			}
			at := uint64(line(order[0]) / 8)
			for b.Loop() {
				at = words[at]
			}
			latencySink = at
		})
	}
}

// BenchmarkFetchAhead models a crowded flow cache's memory traffic without
// its bookkeeping: each op fetches the four cache lines of a random
// 256-byte record eight ops ahead (as Meter.Frames fetches a flow's
// record), hashes a 40-byte key work times, each hash on the one before
// (about 13 ns each here), then writes three lines of its own record. With work 0, ns/op is how fast the memory serves the
// records; 64MiB less spread-64MiB is what the misses cost that the
// work does not hide, spread-64MiB less spread-4MiB what translating the
// addresses costs.
func BenchmarkFetchAhead(b *testing.B) {
	for _, tc := range memoryLayouts {
		for _, work := range []int{0, 3} {
			b.Run(tc.name+"/work"+strconv.Itoa(work), func(b *testing.B) {
				mem, unmap, spans, record := tc.spans(256)
				if unmap != nil {
					defer unmap()
				}
				const n = 1 << 20
				rng := rand.New(rand.NewPCG(1, 2))
				records := make([]*[32]uint64, n)
				for i := range records {
					records[i] = (*[32]uint64)(unsafe.Pointer(&mem[record(rng.IntN(spans))]))
				}
				var key [40]byte
				var sum uint64
				i := 0
				for b.Loop() {
					prefetch(unsafe.Pointer(records[(i+fetchAhead)%n]), 4)
					for w := range work {
						key[w] = byte(sum)
						sum += farm.Hash64(key[:])
					}
					r := records[i%n]
					r[0]++
					r[9] += sum
					r[17]++
					i++
				}
				latencySink = sum
			})
		}
	}
}

// memoryLayouts are the memory BenchmarkMemoryLatency and BenchmarkFetchAhead
// visit: mib MiB, with what they read there (a line, a record) one in
// stride bytes, or back to back when it is longer than stride.
var memoryLayouts = []memoryLayout{
	{"8MiB", 8, 64},
	{"64MiB", 64, 64},
	{"spread-4MiB", 4, 512},
	{"spread-64MiB", 64, 8192},
}

// memoryLayout is one of memoryLayouts.
type memoryLayout struct {
	name        string
	mib, stride int
}

// spans maps the layout's memory (on huge pages, as a large cache) and
// returns how many spans of size bytes it holds, one a stride (at least
// size), and where span k starts: k lines into its stride, as far as it
// fits, so that the spans spread over the cache's sets.
func (l memoryLayout) spans(size int) (mem []byte, unmap func(), n int, span func(k int) int) {
	mem, unmap = mapMemory(l.mib << 20)
	stride := max(l.stride, size)
	return mem, unmap, len(mem) / stride, func(k int) int { return k*stride + k*64%(stride-size+64) }
}

// latencySink keeps the memory benchmarks' loads from being optimized
// away.
var latencySink uint64

// rssBytes is the process's resident memory.
func rssBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkMeterOccupancy is the cost per packet as the cache fills: 10^3
// to 10^6 concurrent flows, three packets each on average, in a cache of
// twice as many places. For 10^6 it reports the resident memory the
// cache's flows take.
func BenchmarkMeterOccupancy(b *testing.B) {
	for _, flows := range []int{1_000, 10_000, 100_000, 1_000_000} {
		b.Run(strconv.Itoa(flows), func(b *testing.B) {
			p := syntheticMix(3*flows, flows)
			size := 1
			for size < 2*flows {
				size <<= 1
			}
			runtime.GC()
			before := rssBytes(b)
			m, err := NewMeter(Config{Cache: CacheConfig{Size: size}}, LinkEthernet)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			// Fill the cache once, then measure in steady state.
			for i := range p.frames {
				m.Packet(p.frames[i], p.micros[i], p.wire[i])
			}
			m.Flush()
			inCache := m.Stats().Flows.Load()
			rss := rssBytes(b) - before
			b.ReportAllocs()
			b.ResetTimer()
			n := meterLoop(b, m, p, 0, true)
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(n), "ns/packet")
			if flows == 1_000_000 {
				b.ReportMetric(float64(rss)/float64(inCache), "rss-bytes/flow")
				b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
			}
		})
	}
}
