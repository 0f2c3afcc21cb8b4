package flowmeter

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// variedMix is syntheticMix's frames with connections opened, closed and
// reset, some frames cut short, and time jumping past the timeouts now and
// then.
func variedMix(rng *rand.Rand) preloaded {
	mix := syntheticMix(60_000, 5_000)
	micros := int64(1_700_000_000_000_000)
	for i, fr := range mix.frames {
		switch r := rng.IntN(100); {
		case r < 3:
			fr[14+20+13] = tcpSYN
		case r < 5:
			fr[14+20+13] = tcpFIN | 0x10
		case r < 6:
			fr[14+20+13] = tcpRST
		case r < 7:
			mix.frames[i] = fr[:14+10] // cut inside the IP header
		}
		micros += int64(rng.IntN(2000))
		if rng.IntN(20_000) == 0 {
			micros += 40_000_000 // past the inactive timeout
		}
		mix.micros[i] = micros
	}
	return mix
}

// TestFramesLikePacket feeds the same frames to one meter packet by packet
// and to another in batches through Frames, made to work ahead from its
// first flow, and expects the same flows out, in the same order, and the
// same counts. The frames open, close and reset connections, some are cut
// short, and time jumps past the timeouts now and then; the cache is small
// enough for full lines to push flows out.
func TestFramesLikePacket(t *testing.T) {
	if !canPrefetch {
		t.Log("no prefetch on this architecture: Frames takes the one-by-one path")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	mix := variedMix(rng)
	cfg := Config{Cache: CacheConfig{Size: 1 << 12}, RingSize: 1 << 14}
	one, err := NewMeter(cfg, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	batched, err := NewMeter(cfg, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer batched.Close()
	batched.crowdedFlows = 0
	drain := func(m *Meter, into *[]Flow) {
		m.Flush()
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			*into = append(*into, *f)
		}
		m.Ring().Release()
	}
	var want, got []Flow
	frames := make([]Frame, 0, 100)
	for start := 0; start < len(mix.frames); {
		n := min(1+rng.IntN(100), len(mix.frames)-start)
		frames = frames[:0]
		for i := start; i < start+n; i++ {
			one.Packet(mix.frames[i], mix.micros[i], mix.wire[i])
			frames = append(frames, Frame{Data: mix.frames[i], Micros: mix.micros[i], WireLen: mix.wire[i]})
		}
		batched.Frames(frames)
		start += n
		drain(one, &want)
		drain(batched, &got)
	}
	one.Finish(context.Background())
	batched.Finish(context.Background())
	drain(one, &want)
	drain(batched, &got)
	if len(got) != len(want) {
		t.Fatalf("Frames exported %d flows, Packet %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("flow %d differs:\nFrames %+v\nPacket %+v", i, got[i], want[i])
		}
	}
	a, b := &one.stats, &batched.stats
	if a.Packets.Load() != b.Packets.Load() || a.Created.Load() != b.Created.Load() || a.Skipped[Truncated].Load() != b.Skipped[Truncated].Load() {
		t.Errorf("counts differ: packets %d/%d, created %d/%d, truncated %d/%d", a.Packets.Load(), b.Packets.Load(),
			a.Created.Load(), b.Created.Load(), a.Skipped[Truncated].Load(), b.Skipped[Truncated].Load())
	}
	for r := range a.Exported {
		if a.Exported[r].Load() != b.Exported[r].Load() {
			t.Errorf("exported for reason %d: Frames %d, Packet %d", r, b.Exported[r].Load(), a.Exported[r].Load())
		}
	}
	if len(want) < 5_000 || a.Skipped[Truncated].Load() == 0 || a.Exported[EndOfFlow].Load() == 0 || a.Exported[EndInactive].Load() == 0 {
		t.Errorf("the frames did not exercise what they should: %d flows, %d truncated, %d ended, %d inactive",
			len(want), a.Skipped[Truncated].Load(), a.Exported[EndOfFlow].Load(), a.Exported[EndInactive].Load())
	}
}

// TestReadPcapBatched reads one pcap into a meter that batches its frames
// from the start and into one that never does: the same flows, in order.
func TestReadPcapBatched(t *testing.T) {
	mix := variedMix(rand.New(rand.NewPCG(9, 10)))
	var file bytes.Buffer
	writePcap(t, &file, mix)
	var flows [2][]Flow
	for k, crowded := range []int64{0, math.MaxInt64} {
		m, err := NewMeter(Config{Cache: CacheConfig{Size: 1 << 12}, RingSize: 1 << 16}, LinkEthernet)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		m.crowdedFlows = crowded
		r, err := newPcapReader("mix.pcap", bytes.NewReader(file.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.ReadPcap(context.Background(), r, false); err != nil {
			t.Fatal(err)
		}
		m.Finish(context.Background())
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			flows[k] = append(flows[k], *f)
		}
		if m.Stats().RingDrops.Load() != 0 {
			t.Fatal("the ring dropped flows")
		}
	}
	if len(flows[0]) != len(flows[1]) || len(flows[0]) < 5_000 {
		t.Fatalf("batched %d flows, one by one %d", len(flows[0]), len(flows[1]))
	}
	for i := range flows[0] {
		if flows[0][i] != flows[1][i] {
			t.Fatalf("flow %d differs", i)
		}
	}
}

// writePcap writes p's frames to w as a pcap of Ethernet frames.
func writePcap(t testing.TB, w io.Writer, p preloaded) {
	t.Helper()
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range p.frames {
		ci := gopacket.CaptureInfo{Timestamp: time.UnixMicro(p.micros[i]), CaptureLength: len(fr), Length: p.wire[i]}
		if err := pw.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
}
