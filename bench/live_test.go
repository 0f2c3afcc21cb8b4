//go:build linux

package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/internal/loadgen"
	"github.com/alfd/alfd/internal/netnstest"
	"github.com/alfd/alfd/synth"
)

// BenchmarkLiveCapture sends synthetic traffic over a veth pair at a target
// rate (loadgen, sendmmsg on an AF_PACKET socket) into a live capture with
// one meter, and reports the share of packets lost (not metered) against
// the rate. An op is a packet sent; it needs root.
func BenchmarkLiveCapture(b *testing.B) {
	var frames [][]byte
	t := synth.NewTraffic(traffic(2000))
	var p synth.Packet
	for t.Next(&p) {
		frames = append(frames, append([]byte(nil), p.Frame...))
	}
	for i, rate := range []float64{100e3, 300e3, 1e6, 0} {
		name := "max"
		if rate > 0 {
			name = fmt.Sprintf("%.0fkpps", rate/1e3)
		}
		b.Run(name, func(b *testing.B) {
			pair := netnstest.NewPair(b, byte(60+i))
			var capture *flowmeter.Capture
			netnstest.In(b, pair.B, func() {
				var err error
				if capture, err = flowmeter.OpenAFPacket(flowmeter.AFPacketConfig{Interface: pair.IfB}); err != nil {
					b.Error(err)
				}
			})
			if capture == nil {
				b.FailNow()
			}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- capture.Run(ctx) }()
			b.ResetTimer()
			var sent int
			start := time.Now()
			netnstest.In(b, pair.A, func() {
				var err error
				if sent, err = loadgen.Send(context.Background(), pair.IfA, frames, b.N, rate); err != nil {
					b.Error(err)
				}
			})
			elapsed := time.Since(start)
			time.Sleep(200 * time.Millisecond) // the meter reads the last blocks
			b.StopTimer()
			cancel()
			if err := <-ran; err != nil {
				b.Fatal(err)
			}
			got := capture.Meters()[0].Stats().Packets.Load()
			_, kernelDrops := capture.SocketStats()
			b.ReportMetric(float64(sent)/elapsed.Seconds(), "sent-pps")
			b.ReportMetric(100*float64(uint64(sent)-min(got, uint64(sent)))/float64(sent), "%lost")
			b.ReportMetric(float64(kernelDrops), "kernel-drops")
		})
	}
}
