package trap

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"time"
)

// socketSink serves a u: or t: output. Finished containers go into a ring of
// BufferCount slots; every connected reader has its own goroutine that sends
// them in order from the container that was next when it connected. A slot
// is reused only when every reader has sent it, so a slow reader holds the
// producer back (Wait), or makes it drop containers (NoWait, a timeout).
type socketSink struct {
	ln         net.Listener
	timeout    Timeout
	maxClients int
	limit      int

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever the state below changes
	ring     [][]byte      // container k is in ring[k%len(ring)]
	head     uint64        // containers published
	conns    map[*sockClient]struct{}
	hello    []byte          // nil until the format is set
	stopping bool            // Close has begun: no more waiting for readers to connect
	closing  bool            // readers leave once they have sent everything
	drainEnd <-chan struct{} // closed when Close stops waiting for readers

	wg sync.WaitGroup // the accept loop and the readers' goroutines
}

type sockClient struct {
	conn net.Conn
	next uint64 // the next container to send
	// stopAt is the first container of a later format: the reader is
	// disconnected there, to reconnect for the new hello.
	stopAt uint64
}

func newSocketSink(spec IfcSpec) (*socketSink, error) {
	var ln net.Listener
	var err error
	if spec.Kind == 'u' {
		path := SocketPath(spec.Args[0])
		// libtrap unlinks a stale socket before binding.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if ln, err = net.Listen("unix", path); err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o666); err != nil {
			ln.Close()
			return nil, err
		}
	} else if ln, err = net.Listen("tcp", ":"+spec.Args[0]); err != nil {
		return nil, err
	}
	maxClients := spec.MaxClients
	if len(spec.Args) > 1 {
		// libtrap's positional form: NAME:MAX_CLIENTS.
		if maxClients, err = parseCount(spec.Args[1], 1, 1<<16); err != nil {
			ln.Close()
			return nil, errors.New("the second parameter is the maximum number of clients: " + err.Error())
		}
	}
	s := &socketSink{
		ln:         ln,
		timeout:    spec.Timeout,
		maxClients: maxClients,
		limit:      spec.BufferSize - socketHeaderLen,
		changed:    make(chan struct{}),
		ring:       make([][]byte, spec.BufferCount),
		conns:      make(map[*sockClient]struct{}),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *socketSink) payloadLimit() int { return s.limit }

func (s *socketSink) clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.currentClients()
}

// broadcast wakes everyone waiting for a change. Call with mu held.
func (s *socketSink) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait releases mu until the state changes or timer fires. Call with mu held.
func (s *socketSink) wait(timer <-chan time.Time) {
	ch, end := s.changed, s.drainEnd
	s.mu.Unlock()
	select {
	case <-ch:
	case <-timer:
	case <-end:
	}
	s.mu.Lock()
}

func (s *socketSink) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, do not spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		switch {
		case s.closing || len(s.conns) >= s.maxClients:
			conn.Close()
		case s.hello == nil:
			// Format not set yet: libtrap says so with an empty hello
			// and hangs up; the reader tries again later.
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			conn.Write(unknownHello)
			conn.Close()
		default:
			c := &sockClient{conn: conn, next: s.head, stopAt: math.MaxUint64}
			s.conns[c] = struct{}{}
			s.wg.Add(2)
			go s.serve(c, s.hello)
			go s.watch(c)
			s.broadcast()
		}
		s.mu.Unlock()
	}
}

// serve sends one reader its hello and then every container.
func (s *socketSink) serve(c *sockClient, hello []byte) {
	defer s.wg.Done()
	defer s.remove(c)
	if _, err := c.conn.Write(hello); err != nil {
		return
	}
	s.mu.Lock()
	for {
		for c.next == s.head && c.next < c.stopAt && !s.closing {
			s.wait(nil)
		}
		if c.next >= c.stopAt || c.next == s.head {
			// A new format, or closing with everything sent.
			s.mu.Unlock()
			return
		}
		if _, connected := s.conns[c]; !connected {
			s.mu.Unlock()
			return
		}
		buf := s.ring[c.next%uint64(len(s.ring))]
		s.mu.Unlock()
		if _, err := c.conn.Write(buf); err != nil {
			return
		}
		s.mu.Lock()
		c.next++
		s.broadcast()
	}
}

// watch notices a reader that hangs up; readers never send anything.
func (s *socketSink) watch(c *sockClient) {
	defer s.wg.Done()
	io.Copy(io.Discard, c.conn)
	s.remove(c)
}

func (s *socketSink) remove(c *sockClient) {
	s.mu.Lock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.broadcast()
	}
	s.mu.Unlock()
	c.conn.Close()
}

func (s *socketSink) setFormat(hello []byte, changed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hello = hello
	if changed {
		for c := range s.conns {
			c.stopAt = s.head
		}
		s.broadcast()
	}
	return nil
}

// currentClients counts the readers of the current format; readers still
// taking containers of an earlier one do not count. Call with mu held.
func (s *socketSink) currentClients() int {
	n := 0
	for c := range s.conns {
		if c.stopAt == math.MaxUint64 {
			n++
		}
	}
	return n
}

// slotFree reports whether the slot of the next container has been sent to
// every reader. Call with mu held.
func (s *socketSink) slotFree() bool {
	n := uint64(len(s.ring))
	for c := range s.conns {
		if c.next+n <= s.head && c.next < c.stopAt {
			return false
		}
	}
	return true
}

func (s *socketSink) write(buf []byte, msgs int, seq uint64) ([]byte, bool, error) {
	be.PutUint32(buf, uint32(len(buf)-socketHeaderLen))
	le.PutUint64(buf[4:], seq)
	le.PutUint16(buf[12:], uint16(msgs))

	var timer <-chan time.Time
	if s.timeout > 0 {
		t := time.NewTimer(time.Duration(s.timeout))
		defer t.Stop()
		timer = t.C
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		n := s.currentClients()
		if n > 0 && s.slotFree() {
			break
		}
		giveUp := s.timeout == NoWait ||
			n == 0 && (s.timeout == HalfWait || s.stopping) ||
			s.drained()
		if !giveUp && timer != nil {
			select {
			case <-timer:
				giveUp = true
			default:
			}
		}
		if giveUp {
			return buf, true, nil
		}
		s.wait(timer)
	}
	slot := s.head % uint64(len(s.ring))
	old := s.ring[slot]
	s.ring[slot] = buf
	s.head++
	s.broadcast()
	return old, false, nil
}

// drained reports whether Close's wait for readers is over. Call with mu held.
func (s *socketSink) drained() bool {
	if s.drainEnd == nil {
		return false
	}
	select {
	case <-s.drainEnd:
		return true
	default:
		return false
	}
}

func (s *socketSink) stopWaiting(ctx context.Context) {
	s.mu.Lock()
	s.stopping = true
	s.drainEnd = ctx.Done()
	s.broadcast()
	s.mu.Unlock()
}

// close stops accepting, lets every reader take what was sent until ctx
// ends, then disconnects them and removes a unix socket's file.
func (s *socketSink) close(ctx context.Context) error {
	err := s.ln.Close()
	s.mu.Lock()
	s.closing = true
	s.broadcast()
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.conn.Close()
		}
		s.mu.Unlock()
		<-done
	}
	return err
}
