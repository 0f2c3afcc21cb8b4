package bench

import (
	"context"
	"hash/fnv"
	"io"
	"sync"
	"testing"

	"github.com/alfd/alfd/classify"
	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/infer"
	"github.com/alfd/alfd/learner"
	"github.com/alfd/alfd/synth"
	"github.com/alfd/alfd/trap"
)

// model is a model of kind trained on a synthetic D_0.
func model(b *testing.B, kind string) *infer.Model {
	b.Helper()
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Flows, cfg.DriftAt = 99, 2000, 1
	d := synth.Dataset(cfg, features.SetALF)
	forests, err := learner.TrainModel(context.Background(), kind, d, 1)
	if err != nil {
		b.Fatal(err)
	}
	k := infer.KindSingle
	path, err := learner.WriteModel(b.TempDir(), 1, k, features.SetALF, forests, d.Len())
	if err != nil {
		b.Fatal(err)
	}
	m, err := infer.Load(path, features.SetALF)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// traffic is the synthetic traffic of flows flows.
func traffic(flows int) synth.Config {
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Flows = 7, flows
	return cfg
}

// memRecords is a classify.Source over records in memory.
type memRecords struct {
	t    *trap.Template
	recs [][]byte
	i    int
}

func (m *memRecords) Next() (trap.Record, error) {
	if m.i == len(m.recs) {
		return trap.Record{}, io.EOF
	}
	m.i++
	return m.t.Decode(m.recs[m.i-1])
}
func (m *memRecords) Buffered() bool  { return m.i < len(m.recs) }
func (m *memRecords) Streams() uint64 { return 1 }
func (m *memRecords) Live() bool      { return false }
func (m *memRecords) Close() error    { return nil }

// pipeline is the fast path to a TRAP blackhole, with the dry run.
func pipeline(b *testing.B, m *infer.Model) *classify.Pipeline {
	var slot infer.Slot
	slot.Store(m)
	spec, err := trap.ParseIfcSpec("b:")
	if err != nil {
		b.Fatal(err)
	}
	w, err := trap.OpenOutput(spec)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	return classify.New(classify.Config{Set: features.SetALF, Slot: &slot, Output: classify.TrapOutput{W: w}})
}

// BenchmarkEndToEndTrapcap is flows as UniRec records in memory (what a
// trapcap or ipfixprobe delivers) through features, a model and the dry
// run to a TRAP output, on one core; an op is a record. ALF itself did
// about 600-1,900 flows/s end to end on this kind of machine.
func BenchmarkEndToEndTrapcap(b *testing.B) {
	enc := flowmeter.NewEncoder()
	var recs [][]byte
	if err := synth.MeterTraffic(traffic(20000), func(f *flowmeter.Flow) {
		rec, err := enc.Append(nil, f)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
	}); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"gbdt", "single"} {
		b.Run(kind, func(b *testing.B) {
			p := pipeline(b, model(b, kind))
			src := &memRecords{t: enc.Template(), recs: recs}
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for n < b.N {
				src.i = 0
				if err := p.Run(context.Background(), src); err != nil {
					b.Fatal(err)
				}
				n += len(recs)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(n), "ns/flow")
		})
	}
}

// packet is a frame of the synthetic traffic, in memory.
type packet struct {
	frame  []byte
	micros int64
	wire   int
}

// packets loads the traffic's frames, split over meters by flow (a hash of
// the endpoints that is the same both ways, as a fanout group's).
func packets(cfg synth.Config, meters int) [][]packet {
	out := make([][]packet, meters)
	t := synth.NewTraffic(cfg)
	var p synth.Packet
	for t.Next(&p) {
		f := p.Frame
		h := fnv.New32a()
		ip := f[14:]
		var a, c []byte
		if ip[0]>>4 == 4 {
			a, c = ip[12:16], ip[16:20]
		} else {
			a, c = ip[8:24], ip[24:40]
		}
		if string(a) > string(c) {
			a, c = c, a
		}
		h.Write(a)
		h.Write(c)
		i := int(h.Sum32()) % meters
		out[i] = append(out[i], packet{append([]byte(nil), f...), p.Time.UnixMicro(), p.WireLen})
	}
	return out
}

// BenchmarkEndToEndPcap is packets in memory (headers, as a capture with a
// short snapshot length keeps them) through one or two meters, each on its
// own goroutine, into the fast path, a classifier a meter: the whole of
// alfd but the capture itself. An op is a packet; flows/s counts the flows
// classified.
func BenchmarkEndToEndPcap(b *testing.B) {
	cfg := traffic(5000)
	m := model(b, "gbdt")
	for _, meters := range []int{1, 2} {
		b.Run([]string{"", "1-meter", "2-meters"}[meters], func(b *testing.B) {
			split := packets(cfg, meters)
			total := 0
			for _, s := range split {
				total += len(s)
			}
			p := pipeline(b, m)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for n < b.N {
				ms := make([]*flowmeter.Meter, meters)
				for i := range ms {
					var err error
					if ms[i], err = flowmeter.NewMeter(flowmeter.Config{Cache: flowmeter.CacheConfig{Size: 1 << 14}}, flowmeter.LinkEthernet); err != nil {
						b.Fatal(err)
					}
				}
				done := make(chan struct{})
				var wg sync.WaitGroup
				for i, m := range ms {
					wg.Go(func() {
						for k, pk := range split[i] {
							m.Packet(pk.frame, pk.micros, pk.wire)
							if k&255 == 255 {
								m.Flush()
							}
						}
						m.FinishWithin(context.Background(), flowmeter.FinishGrace)
					})
				}
				go func() { wg.Wait(); close(done) }()
				// As the daemon runs them: each meter's flows classified
				// on a goroutine of their own.
				sources := make([]classify.Source, len(ms))
				for i, m := range ms {
					sources[i] = flowmeter.NewRecords([]*flowmeter.Meter{m}, done, false)
				}
				if err := p.RunAll(context.Background(), sources); err != nil {
					b.Fatal(err)
				}
				for _, m := range ms {
					m.Close()
				}
				n += total
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mpackets/s")
			b.ReportMetric(float64(p.Stats().Records.Load())/b.Elapsed().Seconds(), "flows/s")
		})
	}
}
