package flowmeter

import (
	"context"
	"sync/atomic"
	"time"
)

// Config sets up a Meter.
type Config struct {
	Cache CacheConfig
	// RingSize is the number of finished flows the meter's ring holds for
	// its consumer, a power of two (default 8192).
	RingSize int
	// Aggregator, when set, holds the counts of the packets the kernel
	// kept back.
	Aggregator Aggregator
}

// counters are a meter's counts, kept without atomics on the hot path and
// published to Stats in batches.
type counters struct {
	packets, bytes uint64
	skipped        [numSkips]uint64
	created        uint64
	exported       [numEndReasons]uint64
	sniTruncated   uint64
}

// Stats are a meter's counters; they may be read from any goroutine, and
// are brought up to date at each Flush.
type Stats struct {
	Packets atomic.Uint64 // frames seen
	Bytes   atomic.Uint64 // their bytes on the wire
	// Skipped counts the frames that made no flow update, by reason
	// (Skipped[Decoded] is unused).
	Skipped [numSkips]atomic.Uint64
	Created atomic.Uint64 // flows started
	// Exported counts the flows that ended, by reason (Exported[0] is
	// unused); those the ring had no room for are also in RingDrops.
	Exported     [numEndReasons]atomic.Uint64
	RingDrops    atomic.Uint64
	SNITruncated atomic.Uint64 // server names longer than the flow keeps
	Flows        atomic.Int64  // flows in the cache at the last Flush
}

// SkipReasons lists the reasons a frame is skipped, for reports.
func SkipReasons() []Skip {
	return []Skip{Truncated, Malformed, NotIP, Fragment, Oversized, UnknownLink}
}

// EndReasons lists the reasons a flow ends, for reports.
func EndReasons() []EndReason {
	return []EndReason{EndInactive, EndActive, EndOfFlow, EndForced, EndNoResources}
}

// A Meter turns the frames of one capture into flows. It is for one
// goroutine; its ring and stats are for others.
type Meter struct {
	dec   Decoder
	cache *cache
	ring  *Ring
	pkt   Packet
	c     counters
	stats Stats
}

// NewMeter returns a meter for frames of the link type.
func NewMeter(cfg Config, link LinkType) (*Meter, error) {
	cc, err := cfg.Cache.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = 8192
	}
	ring, err := NewRing(cfg.RingSize)
	if err != nil {
		return nil, err
	}
	m := &Meter{dec: Decoder{Link: link}, ring: ring}
	m.cache = newCache(cc, ring, &m.c)
	m.cache.agg = cfg.Aggregator
	return m, nil
}

// Packet accounts one frame captured at micros, wireLen bytes long on the
// wire. It does not allocate, lock or wait.
func (m *Meter) Packet(frame []byte, micros int64, wireLen int) {
	m.PacketVLAN(frame, micros, wireLen, 0)
}

// PacketVLAN is Packet for a frame whose outer VLAN tag the NIC took off
// and the capture reported apart: vlan, when not 0, is the flow's VLAN.
func (m *Meter) PacketVLAN(frame []byte, micros int64, wireLen int, vlan uint16) {
	m.c.packets++
	m.c.bytes += uint64(wireLen)
	if s := m.dec.Decode(frame, micros, &m.pkt); s != Decoded {
		m.c.skipped[s]++
		return
	}
	if vlan != 0 {
		m.pkt.VLAN = vlan
	}
	m.cache.add(&m.pkt)
}

// Expire exports the flows that have seen no packet for the inactive
// timeout at time micros: a live capture calls it when no packets come.
func (m *Meter) Expire(micros int64) {
	m.cache.expire(0, len(m.cache.hashes), seconds(micros))
}

// Finish exports every flow in the cache, as at the end of the input. When
// the ring is full it publishes and waits for the consumer while ctx
// lasts; after that, flows that do not fit are dropped and counted.
func (m *Meter) Finish(ctx context.Context) {
	m.FinishWith(func() {
		for m.ring.full() && ctx.Err() == nil {
			time.Sleep(100 * time.Microsecond)
		}
	})
}

// FinishWith exports every flow in the cache, publishing and calling room
// whenever the ring is full: a consumer on the same goroutine takes flows
// there. Flows that still do not fit are dropped and counted.
func (m *Meter) FinishWith(room func()) {
	m.cache.exportAll(func() {
		m.ring.publish()
		room()
	})
}

// FinishWithin ends the flows when the input stopped, and publishes them:
// it waits for the consumer as long as it takes when the input ended, and
// for grace only when ctx ended (a signal).
func (m *Meter) FinishWithin(ctx context.Context, grace time.Duration) {
	finish, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if ctx.Err() != nil {
		stop := time.AfterFunc(grace, cancel)
		defer stop.Stop()
	}
	m.Finish(finish)
	m.Flush()
}

// FinishGrace is how long a meter stopped by its context waits for its
// consumer to take the flows left in its cache.
const FinishGrace = time.Second

// Flush publishes the flows exported since the last Flush to the ring,
// and the counters to Stats.
func (m *Meter) Flush() {
	m.ring.publish()
	c, s := &m.c, &m.stats
	s.Packets.Add(c.packets)
	s.Bytes.Add(c.bytes)
	for i := range c.skipped {
		s.Skipped[i].Add(c.skipped[i])
	}
	s.Created.Add(c.created)
	for i := range c.exported {
		s.Exported[i].Add(c.exported[i])
	}
	s.SNITruncated.Add(c.sniTruncated)
	s.RingDrops.Store(m.ring.Dropped())
	s.Flows.Add(int64(c.created) - sumExported(c))
	*c = counters{}
}

func sumExported(c *counters) int64 {
	var n uint64
	for _, e := range c.exported {
		n += e
	}
	return int64(n)
}

// Ring is where the meter's finished flows go.
func (m *Meter) Ring() *Ring { return m.ring }

// Stats are the meter's counters.
func (m *Meter) Stats() *Stats { return &m.stats }
