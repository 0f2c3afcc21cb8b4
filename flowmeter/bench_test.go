package flowmeter

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
)

// preloaded holds frames in memory with their times and wire lengths.
type preloaded struct {
	frames [][]byte
	micros []int64
	wire   []int
}

// ndpiFrames loads every frame of the shared pcaps.
func ndpiFrames(b *testing.B) preloaded {
	var p preloaded
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
			p.frames = append(p.frames, append([]byte(nil), frame...))
			p.micros = append(p.micros, info.Micros)
			p.wire = append(p.wire, info.WireLen)
		}
		r.Close()
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
func BenchmarkMeter(b *testing.B) {
	for _, tc := range []struct {
		name string
		load func() preloaded
	}{
		{"ndpi", func() preloaded { return ndpiFrames(b) }},
		{"mix", func() preloaded { return syntheticMix(1_000_000, 100_000) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := tc.load()
			m, err := NewMeter(Config{}, LinkEthernet)
			if err != nil {
				b.Fatal(err)
			}
			var shift int64
			span := p.micros[len(p.micros)-1] - p.micros[0] + 1
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for b.Loop() {
				i := n % len(p.frames)
				if i == 0 && n > 0 {
					shift += span + 3600e6 // a later round: the old flows time out
				}
				m.Packet(p.frames[i], p.micros[i]+shift, p.wire[i])
				n++
				if n&1023 == 0 {
					m.Flush()
					for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
					}
					m.Ring().Release()
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mpackets/s")
			b.ReportMetric(float64(BytesPerFlow), "bytes/flow")
		})
	}
}

// BenchmarkHandoff is the cost per flow of handing finished flows from a
// meter to its consumer on another goroutine: the ring against a Go
// channel of flows.
func BenchmarkHandoff(b *testing.B) {
	var f Flow
	f.packets[0] = 1
	b.Run("ring", func(b *testing.B) {
		r, _ := NewRing(1 << 12)
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
			if s := r.reserve(); s != nil {
				*s = f
				i++
				if i&63 == 0 {
					r.publish()
				}
				continue
			}
			r.dropped.Store(0) // a full ring: wait here, to count every flow
			r.publish()
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
