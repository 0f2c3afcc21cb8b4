package flowmeter

import (
	"io"
	"sync/atomic"
	"time"

	"github.com/alfd/alfd/trap"
)

// Records reads the finished flows of meters as UniRec records of
// UniRecSpec, taking from each meter's ring in turn: what a TRAP input
// would deliver had ipfixprobe exported the flows. It is for one
// goroutine; the meters run on others.
type Records struct {
	meters  []*Meter
	enc     *Encoder
	buf     []byte
	turn    int
	done    <-chan struct{}
	live    bool
	closed  atomic.Bool
	ended   bool // Next returned io.EOF: the meters are done
	timeout time.Duration
}

// NewRecords reads the flows of meters until done is closed (the meters
// have finished, their last flows published) and every ring is empty.
// live says that the meters capture live traffic rather than files.
func NewRecords(meters []*Meter, done <-chan struct{}, live bool) *Records {
	return &Records{meters: meters, enc: NewEncoder(), done: done, live: live, timeout: 200 * time.Millisecond}
}

// Next returns the next flow's record, valid until the next call. It waits
// for one up to a fraction of a second and then returns trap.ErrTimeout;
// io.EOF once the meters are done and their flows taken, the end of its
// one stream; trap.ErrClosed after that (the source has ended for good:
// a live capture that stopped does not start again), and after Close.
func (r *Records) Next() (trap.Record, error) {
	deadline := time.Time{}
	for {
		if r.closed.Load() || r.ended {
			return trap.Record{}, trap.ErrClosed
		}
		for range r.meters {
			ring := r.meters[r.turn].Ring()
			r.turn = (r.turn + 1) % len(r.meters)
			if f := ring.Next(); f != nil {
				var err error
				r.buf, err = r.enc.Append(r.buf[:0], f)
				ring.Release()
				if err != nil {
					return trap.Record{}, err
				}
				return r.enc.Template().Decode(r.buf)
			}
		}
		select {
		case <-r.done:
			// The meters' last flows were published before done: one more
			// look finds any left.
			if r.drained() {
				r.ended = true
				return trap.Record{}, io.EOF
			}
			continue
		default:
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(r.timeout)
		} else if time.Now().After(deadline) {
			return trap.Record{}, trap.ErrTimeout
		}
		time.Sleep(time.Millisecond)
	}
}

// drained reports whether every ring is empty.
func (r *Records) drained() bool { return !r.Buffered() }

// Buffered reports whether a record may be had without waiting.
func (r *Records) Buffered() bool {
	for _, m := range r.meters {
		if m.Ring().tail.Load() != m.Ring().read {
			return true
		}
	}
	return false
}

// Streams is 1: the meters' flows are one stream.
func (r *Records) Streams() uint64 { return 1 }

// Live says whether the flows come from a live capture.
func (r *Records) Live() bool { return r.live }

// Close makes Next return trap.ErrClosed.
func (r *Records) Close() error {
	r.closed.Store(true)
	return nil
}
