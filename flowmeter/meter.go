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
	// its consumer, a power of two (default 8192); their records are the
	// cache's, RingSize more than it holds flows.
	RingSize int
	// Aggregator, when set, holds the counts of the packets the kernel
	// kept back.
	Aggregator Aggregator
	// Ports, when set, are the protocols and ports the meter keeps: a
	// packet is kept when either of its ports is listed for its protocol,
	// as alfd's eBPF socket filter keeps them; the others are skipped as
	// Filtered. (A capture whose socket filter does this leaves it unset.)
	Ports []Port
}

// counters are a meter's counts, kept without atomics on the hot path and
// published to Stats in batches.
type counters struct {
	packets, bytes uint64
	skipped        [numSkips]uint64
	created        uint64
	exported       [numEndReasons]uint64
	sniTruncated   uint64
	// ClientHellos over several segments or packets put back together,
	// and not.
	hellosAssembled, hellosUnassembled uint64
	// QUIC Initial packets read, and those whose header or frames did not
	// parse.
	quicInitials, quicMalformed uint64
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
	// HellosAssembled counts the ClientHellos put back together from
	// several TCP segments or QUIC packets; HellosUnassembled those that
	// were not: longer than 4 KiB, no buffer free, a segment missing, out
	// of order or cut by the capture, a QUIC hello in too many pieces, or
	// the flow ended first.
	HellosAssembled, HellosUnassembled atomic.Uint64
	// QUICInitials counts the QUIC client Initial packets read
	// (CacheConfig.QUIC); QUICMalformed those whose header or frames did
	// not parse (a frame cut by the capture aside).
	QUICInitials, QUICMalformed atomic.Uint64
	Flows                       atomic.Int64 // flows in the cache at the last Flush
}

// SocketCounts are a capture socket's counters, as the kernel reports
// them: the packets it received, and those it dropped because the
// socket's ring was full.
type SocketCounts struct {
	Received, Dropped uint64
}

// SkipReasons lists the reasons a frame is skipped, for reports.
func SkipReasons() []Skip {
	return []Skip{Truncated, Malformed, NotIP, Fragment, Oversized, UnknownLink, Filtered}
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
	ports *portSet // Config.Ports, or nil for every packet
	c     counters
	stats Stats

	pending      [framesBatch]pending // Frames' frames in flight
	crowdedFlows int64                // crowdedFlows; tests lower it
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
	m := &Meter{dec: Decoder{Link: link}, crowdedFlows: crowdedFlows}
	if cfg.Ports != nil {
		if m.ports, err = newPortSet(cfg.Ports); err != nil {
			return nil, err
		}
	}
	if m.cache, err = newCache(cc, cfg.RingSize, &m.c); err != nil {
		return nil, err
	}
	m.ring = m.cache.ring
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
	if m.decode(frame, micros, wireLen, vlan, &m.pkt) {
		m.cache.add(&m.pkt)
	}
}

// decode counts a frame and decodes it into p; it reports false, having
// counted why, for a frame that makes no flow update.
func (m *Meter) decode(frame []byte, micros int64, wireLen int, vlan uint16, p *Packet) bool {
	m.c.packets++
	m.c.bytes += uint64(wireLen)
	if s := m.dec.Decode(frame, micros, p); s != Decoded {
		m.c.skipped[s]++
		return false
	}
	if m.ports != nil && !m.ports.wanted(p) {
		m.c.skipped[Filtered]++
		return false
	}
	if vlan != 0 {
		p.VLAN = vlan
	}
	return true
}

// A Frame is one captured frame, for Meter.Frames.
type Frame struct {
	Data    []byte
	Micros  int64  // capture time, microseconds since the epoch
	WireLen int    // length on the wire
	VLAN    uint16 // the outer VLAN the NIC took off, or 0
}

// Frames works ahead on batches of framesBatch frames: it decodes and
// hashes them all, in a loop of its own (it is cheaper so than in stages);
// then it accounts them one by one, having fetched each frame's line of
// the cache lookAhead frames before, and its flow's record fetchAhead
// frames before.
const (
	framesBatch = 64
	lookAhead   = 16
	fetchAhead  = 8
)

// crowdedFlows is how many flows in the cache make Frames fetch ahead:
// from about this many (8 MiB of records) they no longer stay in the
// processor's last-level cache, and every packet waits for memory several
// times. Below, the processor overlaps the waits by itself, and working
// ahead only costs (on the VM of bench/README.md, 10^4 flows: 69
// ns/packet one by one, 75 ahead; 1.6·10^4: 85 and 86; 2·10^4: 143 and
// 85; 10^5: 258 and 90).
const crowdedFlows = 1 << 14

// crowded reports whether Frames works ahead: with enough flows in the
// cache, where there is a prefetch instruction.
func (m *Meter) crowded() bool {
	live := m.stats.Flows.Load() + int64(m.c.created) - sumExported(&m.c)
	return canPrefetch && live >= m.crowdedFlows
}

// pending is a decoded frame on its way through Frames.
type pending struct {
	pkt  Packet
	hash uint64
	ok   bool
}

// Frames accounts frames in order, as Packet does one by one. With many
// flows in the cache it works on several frames at once: while one is
// accounted, the cache lines of those behind it are fetched, so that their
// waits for memory overlap instead of adding up. The frames' data must stay
// valid during the call.
func (m *Meter) Frames(fs []Frame) {
	if !m.crowded() {
		for i := range fs {
			f := &fs[i]
			m.PacketVLAN(f.Data, f.Micros, f.WireLen, f.VLAN)
		}
		return
	}
	for len(fs) > 0 {
		n := min(len(fs), len(m.pending))
		m.framesAhead(fs[:n])
		fs = fs[n:]
	}
}

// framesAhead is Frames for at most framesBatch frames in a crowded cache.
// Each round of its second loop fetches the line of frame i+lookAhead, then
// the record of frame i+fetchAhead's flow (its line came in meanwhile),
// then accounts frame i.
func (m *Meter) framesAhead(fs []Frame) {
	q := m.pending[:len(fs)]
	for i := range fs {
		f, p := &fs[i], &q[i]
		if p.ok = m.decode(f.Data, f.Micros, f.WireLen, f.VLAN, &p.pkt); p.ok {
			p.hash = hashKey(&p.pkt.Key)
		}
	}
	for i := -lookAhead; i < len(q); i++ {
		// The line of frame i+lookAhead, with the flow of frame
		// i+fetchAhead when there is one.
		j, line := i+lookAhead, i+lookAhead < len(q) && q[i+lookAhead].ok
		if f := i + fetchAhead; f >= 0 && f < len(q) && q[f].ok {
			next := q[f].hash // a line come already, when there is no other
			if line {
				next = q[j].hash
			}
			m.cache.fetchAhead(q[f].hash, next)
		} else if line {
			m.cache.prefetchLine(q[j].hash)
		}
		if i >= 0 && q[i].ok {
			m.cache.addHashed(&q[i].pkt, q[i].hash)
		}
	}
}

// Expire exports the flows that have seen no packet for the inactive
// timeout at time micros: a live capture calls it when no packets come.
// Once the last packet is that long ago, each flow's own time is read (see
// quiet).
func (m *Meter) Expire(micros int64) {
	k, now := m.cache, seconds(micros)
	k.expire(0, len(k.slots), now, now-k.latestSec >= k.inactiveSec)
}

// Finish exports every flow in the cache, as at the end of the input. When
// the ring is full it publishes and waits for the consumer while ctx
// lasts; after that, flows that do not fit are dropped and counted.
func (m *Meter) Finish(ctx context.Context) {
	m.FinishWith(func() { m.waitForRoom(ctx) })
}

// waitForRoom waits until the consumer has made room in the ring, or ctx
// ends.
func (m *Meter) waitForRoom(ctx context.Context) {
	for m.cache.ringFull() && ctx.Err() == nil {
		time.Sleep(100 * time.Microsecond)
	}
}

// whileFull has the meter publish and call room whenever its ring is full
// before it would drop a flow, until the function it returns is called.
func (m *Meter) whileFull(room func()) (restore func()) {
	was := m.cache.waitRoom
	m.cache.waitRoom = func() {
		m.ring.publish()
		room()
	}
	return func() { m.cache.waitRoom = was }
}

// FinishWith exports every flow in the cache, publishing and calling room
// whenever the ring is full: a consumer on the same goroutine takes flows
// there. Flows that still do not fit are dropped and counted.
func (m *Meter) FinishWith(room func()) {
	defer m.whileFull(room)()
	m.cache.exportAll()
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
	s.HellosAssembled.Add(c.hellosAssembled)
	s.HellosUnassembled.Add(c.hellosUnassembled)
	s.QUICInitials.Add(c.quicInitials)
	s.QUICMalformed.Add(c.quicMalformed)
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

// Close gives back the memory of the meter's flow cache, which is not the
// Go heap's when the cache is large (it is mapped on huge pages); the
// meter must not meter after. Its ring and counters stay readable: while
// the consumer has flows to read in the ring, their records stay, and the
// memory goes once the ring is unreachable. A meter never closed gives it
// back then too.
func (m *Meter) Close() { m.cache.close() }

// Ring is where the meter's finished flows go.
func (m *Meter) Ring() *Ring { return m.ring }

// Stats are the meter's counters.
func (m *Meter) Stats() *Stats { return &m.stats }
