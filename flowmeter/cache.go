package flowmeter

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"runtime"
	"time"
	"unsafe"

	farm "github.com/dgryski/go-farm"

	"github.com/alfd/alfd/internal/quic"
)

// CacheConfig sets up a meter's flow cache; zero values take ipfixprobe's
// defaults.
type CacheConfig struct {
	// Size is the number of flows the cache holds, a power of two
	// (default 2^17); LineSize the flows of a line, a power of two that
	// divides Size (default 16).
	Size, LineSize int
	// Active ends a flow that has lasted this long (default 300 s);
	// Inactive one that has seen no packet for this long (default 30 s).
	// Both count whole seconds, as ipfixprobe's do.
	Active, Inactive time.Duration
	// IncludeZeroPayload keeps packets without payload in the per-packet
	// information (pstats' include_zeroes); they are skipped by default.
	IncludeZeroPayload bool
	// TLSFingerprints computes the JA3 and JA4 fingerprints of each flow's
	// ClientHello (see Flow.JA3), some 1.3 µs a hello; without, flows have
	// none.
	TLSFingerprints bool
	// QUIC reads the ClientHellos of QUIC clients (versions 1 and 2) in
	// their Initial packets, which it decrypts (see quic.go), some 2 µs a
	// connection; without, UDP flows have no server name.
	QUIC bool
}

// maxActive bounds the active timeout: per-packet times are kept as
// 32-bit microsecond offsets from the flow's start. maxInactive bounds the
// inactive one: a slot keeps its flow's last second modulo 2^16, which
// tells up to 9 h (see quiet).
const (
	maxActive   = 30 * time.Minute
	maxInactive = 8 * time.Hour
)

func (c CacheConfig) withDefaults() (CacheConfig, error) {
	if c.Size == 0 {
		c.Size = 1 << 17
	}
	if c.LineSize == 0 {
		c.LineSize = min(16, c.Size)
	}
	if c.Active == 0 {
		c.Active = 300 * time.Second
	}
	if c.Inactive == 0 {
		c.Inactive = 30 * time.Second
	}
	switch {
	case c.Size < 1 || c.Size&(c.Size-1) != 0:
		return c, fmt.Errorf("flow cache size %d: want a power of two", c.Size)
	case c.LineSize < 2 || c.LineSize&(c.LineSize-1) != 0 || c.LineSize > c.Size:
		return c, fmt.Errorf("flow cache line size %d: want a power of two of at least 2, at most the cache size %d", c.LineSize, c.Size)
	case c.Active < time.Second || c.Active > maxActive:
		return c, fmt.Errorf("active timeout %v: want 1 s to %v", c.Active, maxActive)
	case c.Inactive < time.Second || c.Inactive > maxInactive:
		return c, fmt.Errorf("inactive timeout %v: want 1 s to %v", c.Inactive, maxInactive)
	}
	return c, nil
}

// BytesPerFlow is the cache's memory per flow: the flow, its slot and its
// place among the free records. (The meter's ring adds as much and its
// index per slot.)
const BytesPerFlow = int(unsafe.Sizeof(Flow{})+unsafe.Sizeof(slot{})) + 4

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
)

// cache is a set-associative flow cache, as ipfixprobe's: a flow's hash
// picks a line; a flow found moves to the line's front; a new flow takes a
// free place, or, in a full line, the place of the line's last flow, which
// is exported, and then sits in the line's middle. Both directions of a
// flow hash alike, so one line holds it.
type cache struct {
	cfg         CacheConfig
	flows       []Flow   // Size records for flows in the cache, RingSize more for those in the ring
	slots       []slot   // lines of LineSize slots
	free        []uint32 // records given back, the last on top; room for all
	unused      uint32   // records from here on were never used
	lineMask    uint64
	insertAt    int   // where a new flow goes in a full line
	sweep       int   // the next slot the per-packet sweep looks at
	exactLeft   int   // slots the sweep is to judge by their flows' times, not their own
	roundSec    int64 // the second the sweep's round began
	latestSec   int64 // the latest second of a packet
	swept       bool  // a round began and ended in second sweptSec
	sweptSec    int64
	activeSec   int64
	inactiveSec int64
	ring        *Ring
	c           *counters
	agg         Aggregator // nil without pre-aggregation
	// hello is what tlsHello read last; fingerprints (nil without
	// CacheConfig.TLSFingerprints) and hellos (hellos.go) serve the
	// ClientHellos.
	hello        helloParts
	fingerprints *fingerprinter
	hellos       *helloAssembler
	quic         *quic.Opener  // nil without CacheConfig.QUIC
	quicScratch  helloAssembly // a QUIC hello's first packets (quic.go)
	// waitRoom, when set, is called while the ring is full before a flow
	// would be dropped: a file's meter, and any meter ending its flows,
	// waits there for its consumer (Meter.whileFull); a live capture
	// cannot, and drops.
	waitRoom func()
	unmap    func() // gives back the memory of slots, flows and free; nil for Go memory
}

// slot is a place in a line: which flow is there, and enough to pass it by
// without reading it: a tag of its hash, to tell it from the line's other
// flows, and when it last saw a packet, for sweeping. A line of 16 is two
// cache lines, fetched together.
type slot struct {
	tag     uint16 // see tag; 0 when the slot is free (its flow is stale then)
	lastSec uint16 // the second of its last packet, modulo 2^16 (see quiet)
	flow    uint32
}

// quiet is how long, in seconds, the flow in s has seen no packet at second
// now, as far as its slot tells: the truth while it is under 2^15 s (9 h),
// and negative when the capture's time went back. A sweep that may meet
// longer (see expireSome) reads the flow's own time instead.
func quiet(now int64, s slot) int64 { return int64(int16(uint16(now) - s.lastSec)) }

// newCache returns a cache and the ring of ringSize slots its flows leave
// by.
func newCache(cfg CacheConfig, ringSize int, c *counters) (*cache, error) {
	k := &cache{
		cfg:         cfg,
		lineMask:    uint64(cfg.Size-1) &^ uint64(cfg.LineSize-1),
		insertAt:    cfg.LineSize / 2,
		activeSec:   int64(cfg.Active / time.Second),
		inactiveSec: int64(cfg.Inactive / time.Second),
		c:           c,
	}
	if cfg.TLSFingerprints {
		k.fingerprints = newFingerprinter()
	}
	k.hellos = newHelloAssembler(min(helloBuffers, max(1, cfg.Size/2048)))
	if cfg.QUIC {
		k.quic = quic.NewOpener()
	}
	if ringSize < 2 || ringSize&(ringSize-1) != 0 {
		return nil, fmt.Errorf("ring size %d: want a power of two, at least 2", ringSize)
	}
	records := cfg.Size + ringSize
	// Slots first: lines start on a boundary of two cache lines.
	mem, unmap := mapMemory(cfg.Size*int(unsafe.Sizeof(slot{})) + records*int(unsafe.Sizeof(Flow{})+4))
	k.slots, mem = carve[slot](mem, cfg.Size)
	k.flows, mem = carve[Flow](mem, records)
	k.free, _ = carve[uint32](mem, records)
	k.free = k.free[:0]
	k.ring = newRing(ringSize, k.flows)
	if unmap != nil {
		// The consumer reads flows in the ring after the meter has gone:
		// unmapped by close once it has released them all, or else once
		// the ring is unreachable.
		cleanup := runtime.AddCleanup(k.ring, func(unmap func()) { unmap() }, unmap)
		k.unmap = func() {
			cleanup.Stop()
			unmap()
		}
	}
	return k, nil
}

// takeRecord returns a record for a new flow: the last one given back,
// else the one the consumer released first, else one never used. There
// is always one: at most Size flows are in the cache and RingSize in the
// ring. No record is read to find one.
func (k *cache) takeRecord() uint32 {
	if n := len(k.free); n > 0 {
		r := k.free[n-1]
		k.free = k.free[:n-1]
		return r
	}
	if r, ok := k.ring.takeReleased(); ok {
		return r
	}
	r := k.unused
	k.unused++
	return r
}

// prefetchNextRecord fetches the record takeRecord would likely return
// next, if there is one: with the cache full and the consumer behind,
// every record may be in use until an export gives one back.
func (k *cache) prefetchNextRecord() {
	r := k.unused
	if n := len(k.free); n > 0 {
		r = k.free[n-1]
	} else if released, ok := k.ring.peekReleased(); ok {
		r = released
	}
	if int(r) < len(k.flows) {
		prefetch(unsafe.Pointer(&k.flows[r]), 4)
	}
}

// giveRecord returns a record no flow needs.
func (k *cache) giveRecord(r uint32) { k.free = append(k.free, r) }

// carve takes the first n Ts off mem, which holds at least that many,
// aligned for them. T holds no Go pointers (TestCacheTypesHoldNoPointers):
// the memory may be the Go heap's, as bytes, or not the Go heap's at all.
func carve[T any](mem []byte, n int) ([]T, []byte) {
	size := n * int(unsafe.Sizeof(*new(T)))
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem[:size]))), n), mem[size:]
}

// close gives the cache's memory back, unless the consumer has flows in the
// ring yet (then the ring's cleanup does); the cache must not be used
// after. What used it now fails on a nil slice rather than on unmapped
// memory.
func (k *cache) close() {
	if k.unmap != nil && k.ring.drained() {
		k.unmap()
		k.unmap = nil
	}
	k.flows, k.slots, k.free = nil, nil, nil
}

// keyWords views a key as five words: the source address, the destination
// address, then ports, protocol, version and VLAN.
func keyWords(k *Key) *[5]uint64 { return (*[5]uint64)(unsafe.Pointer(k)) }

// swapPorts turns a key's last word into the other direction's.
func swapPorts(w uint64) uint64 { return w&^0xffffffff | w>>16&0xffff | w&0xffff<<16 }

// hashKey hashes a key so that both directions of a flow hash alike: the
// endpoints in a fixed order, IPv4 addresses by their 4 bytes.
func hashKey(k *Key) uint64 {
	w := keyWords(k)
	src0, src1, dst0, dst1, rest := w[0], w[1], w[2], w[3], w[4]
	// The endpoints go in the order of (port, address), without a branch:
	// a packet's direction is a coin toss the processor cannot predict.
	// The borrow of (dst port, dst) - (src port, src) is 1 when the
	// source comes second.
	_, borrow := bits.Sub64(dst1, src1, 0)
	_, borrow = bits.Sub64(dst0, src0, borrow)
	_, borrow = bits.Sub64(uint64(k.DstPort), uint64(k.SrcPort), borrow)
	swap := -borrow
	src0, dst0 = src0^(src0^dst0)&swap, dst0^(src0^dst0)&swap
	src1, dst1 = src1^(src1^dst1)&swap, dst1^(src1^dst1)&swap
	rest ^= (rest ^ swapPorts(rest)) & swap
	var buf [40]byte
	n := 40
	if k.IPVersion == 4 {
		binary.LittleEndian.PutUint64(buf[0:], src0&0xffffffff|dst0<<32)
		binary.LittleEndian.PutUint64(buf[8:], rest)
		n = 16
	} else {
		binary.LittleEndian.PutUint64(buf[0:], src0)
		binary.LittleEndian.PutUint64(buf[8:], src1)
		binary.LittleEndian.PutUint64(buf[16:], dst0)
		binary.LittleEndian.PutUint64(buf[24:], dst1)
		binary.LittleEndian.PutUint64(buf[32:], rest)
	}
	return farm.Hash64(buf[:n])
}

// tag is what a slot keeps of its flow's hash h, to tell it from the other
// flows of its line before their keys are compared: its top 16 bits, which
// the line's index does not use, and never 0, which marks a free slot. One
// in 2^16 flows of a line shares a packet's tag and has its key compared
// for nothing.
func tag(h uint64) uint16 { return max(uint16(h>>48), 1) }

// seconds is whole seconds, as ipfixprobe compares struct timeval's tv_sec.
func seconds(micros int64) int64 {
	s := micros / 1e6
	if micros < 0 && s*1e6 != micros {
		s--
	}
	return s
}

// add accounts a packet to its flow.
func (k *cache) add(p *Packet) { k.addHashed(p, hashKey(&p.Key)) }

// addHashed accounts a packet whose key hashes to h.
func (k *cache) addHashed(p *Packet, h uint64) {
	start := int(h & k.lineMask)
	t := tag(h)
	now := seconds(p.TimeMicros)
	for {
		s, dir := k.find(t, start, &p.Key)
		if s < 0 {
			k.create(t, start, now, p)
			break
		}
		// Found: to the line's front.
		// (A loop, not copy: slots are small, and a flow seen is mostly
		// near the front.)
		found := k.slots[s]
		for i := s; i > start; i-- {
			k.slots[i] = k.slots[i-1]
		}
		k.slots[start] = found
		f := &k.flows[found.flow]
		switch {
		case p.Proto == protoTCP && p.TCPFlags&tcpSYN != 0 && f.tcpFlags[dir]&(tcpFIN|tcpRST) != 0:
			// A new connection on the same ports after this side ended one.
			k.export(start, EndOfFlow)
			continue
		case now-seconds(f.last) >= k.inactiveSec && k.idle(start, f, now):
			k.export(start, f.timeoutReason())
			continue
		case now-seconds(f.first) >= k.activeSec:
			k.export(start, EndActive)
			continue
		}
		k.slots[start].lastSec = uint16(now)
		k.update(f, p, dir)
		break
	}
	k.expireSome(now)
}

// prefetchLine asks for the slots of the line of hash h.
func (k *cache) prefetchLine(h uint64) {
	start := int(h & k.lineMask)
	prefetch(unsafe.Pointer(&k.slots[start]), max(1, k.cfg.LineSize*int(unsafe.Sizeof(slot{}))/64))
}

// prefetchFlow asks for the record of the flow of hash h, if the line holds
// one, or else for the record a new flow would take (and in a full line,
// the counters of the flow that goes): the lines a packet touches first
// (key, counters, the first packets' information).
func (k *cache) prefetchFlow(h uint64) {
	start := int(h & k.lineMask)
	s, full := k.scanTag(start, tag(h))
	if s >= 0 {
		prefetch(unsafe.Pointer(&k.flows[k.slots[s].flow]), 4)
		return
	}
	k.prefetchNew(start, full)
}

// prefetchNew asks for what a new flow in the line at start touches: the
// record it would take, and in a full line the counters of the flow that
// goes.
func (k *cache) prefetchNew(start int, full bool) {
	if full {
		prefetch(unsafe.Pointer(&k.flows[k.slots[start+k.cfg.LineSize-1].flow]), 1)
	}
	k.prefetchNextRecord()
}

// scanTag returns the first slot of the line at start whose tag is t, or
// -1 and whether the line is full.
func (k *cache) scanTag(start int, t uint16) (s int, full bool) {
	full = true
	for i, sl := range k.slots[start : start+k.cfg.LineSize] {
		if sl.tag == t {
			return start + i, false
		}
		full = full && sl.tag != 0
	}
	return -1, full
}

// find looks for the flow of key, whose hash's tag is t, in the line at
// start: its slot and the packet's direction (0 forward, 1 reverse), or
// slot -1.
func (k *cache) find(t uint16, start int, key *Key) (slot, dir int) {
	w := keyWords(key)
	back := swapPorts(w[4])
	for i, s := range k.slots[start : start+k.cfg.LineSize] {
		if s.tag != t {
			continue
		}
		// Both directions are compared in full, without a branch on the
		// way: whether a packet goes forward or back is a coin toss.
		fw := keyWords(&k.flows[s.flow].key)
		forward := (fw[4] ^ w[4]) | (fw[0] ^ w[0]) | (fw[1] ^ w[1]) | (fw[2] ^ w[2]) | (fw[3] ^ w[3])
		reverse := (fw[4] ^ back) | (fw[0] ^ w[2]) | (fw[1] ^ w[3]) | (fw[2] ^ w[0]) | (fw[3] ^ w[1])
		if min(forward, reverse) == 0 {
			if forward != 0 {
				dir = 1
			}
			return start + i, dir
		}
	}
	return -1, 0
}

// create starts a flow for p, whose hash's tag is t, in the line at start.
func (k *cache) create(t uint16, start int, now int64, p *Packet) {
	free := -1
	for i, s := range k.slots[start : start+k.cfg.LineSize] {
		if s.tag == 0 {
			free = start + i
			break
		}
	}
	if free < 0 {
		// A full line: its last flow goes, and the new one takes the
		// middle place.
		last := start + k.cfg.LineSize - 1
		k.export(last, EndNoResources)
		free = start + k.insertAt
		copy(k.slots[free+1:last+1], k.slots[free:last])
	}
	k.slots[free] = slot{tag: t, lastSec: uint16(now), flow: k.takeRecord()}
	// The next new flow's record, released by the consumer a while ago,
	// is fetched while this one goes on.
	k.prefetchNextRecord()
	f := &k.flows[k.slots[free].flow]
	f.key = p.Key
	f.first, f.last = p.TimeMicros, p.TimeMicros
	f.packets = [2]uint32{1, 0}
	f.bytes = [2]uint64{uint64(p.IPLen), 0}
	f.tcpFlags = [2]uint8{}
	if p.Proto == protoTCP {
		f.tcpFlags[0] = p.TCPFlags
	}
	f.nPPI, f.sniLen, f.tls, f.inKernel, f.hello = 0, 0, tlsLooking, false, 0
	k.c.created++
	k.perPacket(f, p, 0)
}

// update accounts a packet to its flow.
func (k *cache) update(f *Flow, p *Packet, dir int) {
	f.last = p.TimeMicros
	f.packets[dir]++
	f.bytes[dir] += uint64(p.IPLen)
	if p.Proto == protoTCP {
		f.tcpFlags[dir] |= p.TCPFlags
	}
	k.perPacket(f, p, dir)
}

// perPacket keeps the packet's information (ipfixprobe's pstats) and looks
// for a TLS hello (its tls plugin).
func (k *cache) perPacket(f *Flow, p *Packet, dir int) {
	if f.nPPI < MaxPPI && (p.PayloadLen > 0 || k.cfg.IncludeZeroPayload) {
		f.ppi[f.nPPI] = ppiEntry{dt: int32(p.TimeMicros - f.first), length: uint16(min(p.PayloadLen, 0xffff)),
			flags: p.TCPFlags, dir: int8(1 - 2*dir)}
		if f.nPPI++; f.nPPI == MaxPPI && k.agg != nil {
			// All the flow's information is here: the kernel may count
			// the rest.
			f.inKernel = k.agg.Watch(&f.key)
		}
	}
	if f.tls != tlsDone && len(p.Payload) > 0 {
		k.tls(f, p, dir)
	}
}

// tls looks for a TLS hello in p, or adds p to the ClientHello being put
// back together (see hellos.go); with CacheConfig.QUIC, a UDP flow's long
// header packets go to quicPacket.
func (k *cache) tls(f *Flow, p *Packet, dir int) {
	if p.Proto == protoUDP && k.quic != nil && (f.tls == tlsAssembling || p.Payload[0]&0x80 != 0) {
		k.quicPacket(f, p, dir)
		return
	}
	if f.tls == tlsAssembling {
		k.continueHello(f, p, dir)
		return
	}
	sni, done := tlsHello(p.Payload, &k.hello, k.hellos.scratch())
	tcp := p.Proto == protoTCP
	if k.hello.need > 0 && tcp && k.startHello(f, p, dir, k.hello.need, seconds(p.TimeMicros)) {
		return
	}
	transport := byte(0)
	if tcp {
		transport = 't'
	}
	k.keepHello(f, sni, done, transport)
}

// keepHello keeps what tlsHello or helloMessage read into k.hello for flow
// f: the server name, whether to look further, and the fingerprints of a
// ClientHello over transport, 't' for TCP or 'q' for QUIC (JA4's first
// letter), none over 0.
func (k *cache) keepHello(f *Flow, sni []byte, done bool, transport byte) {
	if len(sni) > maxSNI {
		k.c.sniTruncated++
		sni = sni[:maxSNI]
	}
	f.sniLen = uint8(copy(f.sni[:], sni))
	f.tls = tlsLooking
	if done {
		f.tls = tlsDone
	}
	f.hello = 0
	if k.fingerprints != nil && k.hello.whole && transport != 0 {
		k.fingerprints.fingerprint(&k.hello, transport, &f.ja3, &f.ja4)
		f.hello = helloFingerprinted
	}
}

// timeoutReason is why a flow that timed out ended: ipfixprobe calls it
// the end of the flow when FIN or RST was seen.
func (f *Flow) timeoutReason() EndReason {
	if (f.tcpFlags[0]|f.tcpFlags[1])&(tcpFIN|tcpRST) != 0 {
		return EndOfFlow
	}
	return EndInactive
}

// export hands the flow in slot s to the ring, its record with it, and
// frees the slot.
func (k *cache) export(s int, reason EndReason) {
	f := &k.flows[k.slots[s].flow]
	// pstats drops the packet information of a lone SYN (port scans).
	if f.packets[0]+f.packets[1] <= 1 && (f.tcpFlags[0]|f.tcpFlags[1])&tcpSYN != 0 {
		f.nPPI = 0
	}
	if f.tls == tlsAssembling {
		k.abandonHello(f, k.hellos.of(f))
	}
	if f.inKernel {
		a := k.agg.Take(&f.key)
		f.merge(&a)
		if reason == EndInactive {
			reason = f.timeoutReason() // the kernel may have seen a FIN
		}
	}
	f.end = reason
	k.c.exported[reason]++
	k.slots[s].tag = 0
	if k.waitRoom != nil && k.ringFull() {
		k.waitRoom()
	}
	if rec := k.slots[s].flow; k.ringFull() {
		k.ring.dropped.Add(1)
		k.giveRecord(rec)
	} else {
		k.ring.push(rec)
	}
}

// ringFull reports whether the ring has no room for a flow, once the
// records of the flows the consumer released are taken back (as when
// flows end faster than new ones take them).
func (k *cache) ringFull() bool {
	if k.ring.full() {
		for r, ok := k.ring.takeReleased(); ok; r, ok = k.ring.takeReleased() {
			k.giveRecord(r)
		}
	}
	return k.ring.full()
}

// expireSome exports the flows that timed out among the next few slots, as
// ipfixprobe does at each packet, so that quiet flows leave in time. Once a
// whole round of the cache has looked at every slot within one second,
// the rounds wait for the next: times are whole seconds, so no flow can
// time out before then that the round did not export. (At 10^6 packets a
// second a round takes a few milliseconds.)
//
// A slot's time (see quiet) tells 9 h at most: when the capture's time
// leaps by the inactive timeout (every flow in the cache is then quiet,
// for however long), or a round has lasted 4 h (a trickle of packets), the
// next whole round reads the time of each flow whose slot says it is not
// quiet enough. One that says it is, is right whatever the leap: its flow
// has been quiet for what the slot says, or for more than 9 h.
func (k *cache) expireSome(now int64) {
	if now-k.latestSec >= k.inactiveSec || now-k.roundSec >= 1<<14 {
		k.exactLeft = k.cfg.Size
	}
	k.latestSec = max(k.latestSec, now)
	if k.swept && now == k.sweptSec {
		return
	}
	if k.sweep == 0 {
		k.roundSec = now
	}
	exported := k.expire(k.sweep, k.insertAt, now, k.exactLeft > 0)
	k.exactLeft = max(k.exactLeft-k.insertAt, 0)
	k.sweep = (k.sweep + k.insertAt) & (k.cfg.Size - 1)
	if exported {
		// Flows that went quiet together may lie ahead, as when a round
		// meets a second's worth of timeouts: their records, which the
		// export reads, are fetched a few packets before the sweep gets
		// there, so that the waits overlap (a burst at 10^5 flows: the
		// mix 3 % faster).
		k.prefetchExpiring((k.sweep+sweepAhead*k.insertAt)&(k.cfg.Size-1), now)
	}
	k.swept, k.sweptSec = k.sweep == 0 && k.roundSec == now, now
}

// sweepAhead is how many packets before the sweep comes to them the
// records of flows it will likely export are fetched.
const sweepAhead = 4

// prefetchExpiring fetches the records of the flows among insertAt slots
// from first whose slots say they have seen no packet for the inactive
// timeout, for the sweep to export.
func (k *cache) prefetchExpiring(first int, now int64) {
	for _, s := range k.slots[first : first+k.insertAt] {
		if s.tag != 0 && quiet(now, s) >= k.inactiveSec {
			prefetch(unsafe.Pointer(&k.flows[s.flow]), 2)
		}
	}
}

// expire exports the flows of n slots from first that have seen no packet
// for the inactive timeout at second now; exact reads the time of a flow
// whose slot says it has not (see expireSome). It reports whether it
// exported any.
func (k *cache) expire(first, n int, now int64, exact bool) (exported bool) {
	// Sweeps mostly cross free slots: one branch for all their tags.
	slots := k.slots[first : first+n]
	var any uint16
	for _, s := range slots {
		any |= s.tag
	}
	if any == 0 {
		return false
	}
	for i, s := range slots {
		if s.tag == 0 {
			continue
		}
		f := &k.flows[s.flow]
		if quiet(now, s) < k.inactiveSec && (!exact || now-seconds(f.last) < k.inactiveSec) {
			continue
		}
		if k.idle(first+i, f, now) {
			k.export(first+i, f.timeoutReason())
			exported = true
		}
	}
	return exported
}

// idle confirms that flow f in slot s, quiet here for the inactive timeout,
// was quiet in the kernel too: a flow whose packets the kernel counts may
// have gone on there.
func (k *cache) idle(s int, f *Flow, now int64) bool {
	if !f.inKernel {
		return true
	}
	if last := k.agg.LastSeen(&f.key); now-seconds(last) < k.inactiveSec {
		// Its last packet is the kernel's: the flow's time and its
		// slot's say so, and it is not asked about again until it has
		// been quiet for the timeout since.
		f.last = max(f.last, last)
		k.slots[s].lastSec = uint16(seconds(f.last))
		return false
	}
	return true
}

// exportAll exports every flow, as at the end of the input (waitRoom,
// when set, waits for the consumer whenever the ring is full).
func (k *cache) exportAll() {
	for s := range k.slots {
		if k.slots[s].tag != 0 {
			k.export(s, EndForced)
		}
	}
}
