package flowmeter

import "sync/atomic"

// A Ring hands finished flows from one meter to one consumer without locks,
// waiting or copying: its slots name records of the meter's flow cache,
// which the meter takes back once the consumer has released them. The
// meter publishes slots in batches; when the consumer falls behind and the
// ring is full, the meter drops the flow and counts it rather than wait.
type Ring struct {
	flows []Flow   // the meter's records
	slots []uint32 // record indices
	mask  uint64

	_    [64]byte
	head atomic.Uint64 // slots the consumer is done with
	_    [56]byte
	tail atomic.Uint64 // slots the producer has published
	_    [56]byte

	// The producer's own.
	next      uint64 // slots filled, published or not
	reclaimed uint64 // slots whose records the producer took back: it fills no others
	headSeen  uint64 // head, as the producer last read it
	dropped   atomic.Uint64
	_         [32]byte

	// The consumer's own.
	read     uint64 // slots the consumer has taken
	tailSeen uint64
}

// newRing returns a ring of size slots, a power of two, naming records of
// flows.
func newRing(size int, flows []Flow) *Ring {
	return &Ring{flows: flows, slots: make([]uint32, size), mask: uint64(size - 1)}
}

// full reports whether the producer has no slot to fill: none whose
// record it took back (see takeReleased).
func (r *Ring) full() bool { return r.next-r.reclaimed > r.mask }

// push puts record rec in the next slot, for the consumer once published;
// the ring must not be full.
func (r *Ring) push(rec uint32) {
	r.slots[r.next&r.mask] = rec
	r.next++
}

// takeReleased takes back the record of the first slot the consumer has
// released and the producer has not taken back, freeing the slot; ok is
// false when there is none.
func (r *Ring) takeReleased() (rec uint32, ok bool) {
	if r.reclaimed == r.headSeen {
		if r.headSeen = r.head.Load(); r.reclaimed == r.headSeen {
			return 0, false
		}
	}
	rec = r.slots[r.reclaimed&r.mask]
	r.reclaimed++
	return rec, true
}

// peekReleased is the record takeReleased would return, as far as the
// producer knows without reading head.
func (r *Ring) peekReleased() (rec uint32, ok bool) {
	if r.reclaimed == r.headSeen {
		return 0, false
	}
	return r.slots[r.reclaimed&r.mask], true
}

// drained reports whether the consumer has released every flow pushed.
func (r *Ring) drained() bool { return r.head.Load() == r.next }

// publish makes the filled slots visible to the consumer.
func (r *Ring) publish() {
	if r.tail.Load() != r.next {
		r.tail.Store(r.next)
	}
}

// Next returns the next published flow, or nil when there is none. The
// flow stays valid until Release.
func (r *Ring) Next() *Flow {
	if r.read == r.tailSeen {
		r.tailSeen = r.tail.Load()
		if r.read == r.tailSeen {
			return nil
		}
	}
	f := &r.flows[r.slots[r.read&r.mask]]
	r.read++
	return f
}

// Release gives the flows Next returned back to the producer.
func (r *Ring) Release() { r.head.Store(r.read) }

// Dropped is the number of flows dropped because the ring was full.
func (r *Ring) Dropped() uint64 { return r.dropped.Load() }
