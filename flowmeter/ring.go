package flowmeter

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// A Ring hands finished flows from one meter to one consumer without locks
// or waiting. The meter fills slots and publishes them in batches; when
// the consumer falls behind and the ring is full, the meter drops the flow
// and counts it rather than wait. Slots are Flows, copied in place.
type Ring struct {
	slots []Flow
	mask  uint64

	_    [64]byte
	head atomic.Uint64 // slots the consumer is done with
	_    [56]byte
	tail atomic.Uint64 // slots the producer has published
	_    [56]byte

	// The producer's own.
	next     uint64 // slots filled, published or not
	headSeen uint64 // head, as the producer last read it
	dropped  atomic.Uint64
	_        [48]byte

	// The consumer's own.
	read     uint64 // slots the consumer has taken
	tailSeen uint64
}

// NewRing returns a ring of size slots, a power of two.
func NewRing(size int) (*Ring, error) {
	if size < 2 || size&(size-1) != 0 {
		return nil, fmt.Errorf("ring size %d: want a power of two, at least 2", size)
	}
	return &Ring{slots: make([]Flow, size), mask: uint64(size - 1)}, nil
}

// reserve returns the next free slot for the producer to fill, or nil when
// the ring is full (the flow is dropped and counted).
func (r *Ring) reserve() *Flow {
	if r.next-r.headSeen > r.mask {
		r.headSeen = r.head.Load()
		if r.next-r.headSeen > r.mask {
			r.dropped.Add(1)
			return nil
		}
	}
	s := &r.slots[r.next&r.mask]
	r.next++
	// The slot after it was last filled a ring ago, megabytes back: have
	// it fetched while the meter goes on, so that the next export does not
	// wait for it.
	prefetch(unsafe.Pointer(&r.slots[r.next&r.mask]), int(unsafe.Sizeof(Flow{}))/64)
	return s
}

// full reports whether the producer has no free slot.
func (r *Ring) full() bool {
	if r.next-r.headSeen > r.mask {
		r.headSeen = r.head.Load()
	}
	return r.next-r.headSeen > r.mask
}

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
	f := &r.slots[r.read&r.mask]
	r.read++
	return f
}

// Release gives the slots of the flows Next returned back to the producer.
func (r *Ring) Release() { r.head.Store(r.read) }

// Dropped is the number of flows dropped because the ring was full.
func (r *Ring) Dropped() uint64 { return r.dropped.Load() }
