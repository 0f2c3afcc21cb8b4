package trap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultDrainTimeout is how long Close waits for connected readers to take
// what was sent before it cuts them off.
const DefaultDrainTimeout = 5 * time.Second

// OutputStats counts what a Writer has sent.
type OutputStats struct {
	Containers uint64
	Messages   uint64 // records, not counting the end-of-stream message
	Bytes      uint64 // container payload bytes
	// Dropped counts messages not delivered because the interface's timeout
	// allowed no waiting: no reader connected, or a reader too slow.
	Dropped uint64
	Clients int    // readers connected now (socket outputs)
	Files   uint64 // files written (file outputs)
	// Autoflushes counts containers sent by the autoflush timeout.
	Autoflushes uint64
}

// A Writer sends messages to one TRAP output interface. It packs them into
// containers as libtrap does and sends a container when the next message
// does not fit, on Flush, and by the autoflush timeout. Send, SetFormat and
// Flush are for one goroutine; Close may be called from any.
type Writer struct {
	spec IfcSpec
	sink sink

	mu        sync.Mutex // between the sending goroutine, the autoflush ticker and Close
	buf       []byte     // socketHeaderLen bytes of room for a header, then the payload
	limit     int        // longest payload
	count     int        // messages in buf
	firstAt   time.Time  // when the first message of buf came
	seq       uint64     // messages sent in containers before buf
	format    Format
	hasFormat bool
	closed    bool
	stats     OutputStats

	stopFlush chan struct{}
	flushDone chan struct{}
}

// sink is where finished containers go: files, sockets, or nowhere.
type sink interface {
	// setFormat announces a format. changed says that a format was set before.
	setFormat(hello []byte, changed bool) error
	// write sends a container: buf holds socketHeaderLen bytes of room for
	// the header, then the payload of msgs messages, the first of them
	// message number seq. It returns the buffer to fill next, and whether
	// the container was dropped.
	write(buf []byte, msgs int, seq uint64) (next []byte, dropped bool, err error)
	// payloadLimit is the longest container payload.
	payloadLimit() int
	// stopWaiting makes write stop waiting for readers to connect, and
	// for slow readers once ctx ends.
	stopWaiting(ctx context.Context)
	close(ctx context.Context) error
	clients() int
}

// OpenOutput opens an output interface: u: or t: (a server that readers
// connect to), f: (trapcap files), b: (blackhole). A socket output listens
// at once; a file output creates its file at once and writes the hello with
// the first container.
func OpenOutput(spec IfcSpec) (*Writer, error) {
	var s sink
	var err error
	switch spec.Kind {
	case 'u', 't':
		s, err = newSocketSink(spec)
	case 'f':
		s, err = newFileSink(spec, time.Now)
	case 'b':
		s = blackhole{}
	}
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", spec, err)
	}
	w := &Writer{
		spec:  spec,
		sink:  s,
		limit: s.payloadLimit(),
		buf:   make([]byte, socketHeaderLen, socketHeaderLen+s.payloadLimit()),
	}
	if spec.Autoflush > 0 && spec.Buffer {
		w.stopFlush = make(chan struct{})
		w.flushDone = make(chan struct{})
		go w.autoflush(spec.Autoflush)
	}
	return w, nil
}

// Name is the interface as given in the IFC_SPEC.
func (w *Writer) Name() string { return w.spec.Text }

// SetFormat sets the format of what follows. Changing a format that was set
// flushes what was sent in the old one; socket readers then get it all, are
// disconnected and reconnect for the new hello (libtrap disconnects them at
// once and loses what they had not yet read); a file output goes on in a
// new file.
func (w *Writer) SetFormat(f Format) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.hasFormat && f.Type == w.format.Type && f.Spec == w.format.Spec {
		return nil
	}
	if err := w.flushLocked(); err != nil {
		return err
	}
	if err := w.sink.setFormat(appendHello(nil, f), w.hasFormat); err != nil {
		return fmt.Errorf("output %s: %w", w.spec, err)
	}
	w.format, w.hasFormat = f, true
	return nil
}

// Addr is the address a socket output listens on, or nil.
func (w *Writer) Addr() net.Addr {
	if s, ok := w.sink.(*socketSink); ok {
		return s.ln.Addr()
	}
	return nil
}

// Format is the format set last.
func (w *Writer) Format() Format { return w.format }

// Send queues one message (a UniRec record). It blocks only as the
// interface's timeout allows.
func (w *Writer) Send(msg []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.appendLocked(msg); err != nil {
		return err
	}
	w.stats.Messages++
	if !w.spec.Buffer {
		return w.flushLocked()
	}
	return nil
}

// SendBatch queues several messages at once, as Send would one by one, but
// taking the Writer's lock once.
func (w *Writer) SendBatch(msgs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, msg := range msgs {
		if err := w.appendLocked(msg); err != nil {
			return err
		}
		w.stats.Messages++
		if !w.spec.Buffer {
			if err := w.flushLocked(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Writer) appendLocked(msg []byte) error {
	switch {
	case w.closed:
		return ErrClosed
	case !w.hasFormat:
		return fmt.Errorf("output %s: send before the format is set", w.spec)
	case len(msg) > MaxRecordLen || 2+len(msg) > w.limit:
		return fmt.Errorf("output %s: message of %d bytes does not fit a container", w.spec, len(msg))
	}
	if len(w.buf)-socketHeaderLen+2+len(msg) > w.limit {
		if err := w.flushLocked(); err != nil {
			return err
		}
	}
	if w.count == 0 {
		w.firstAt = time.Now()
	}
	w.buf = be.AppendUint16(w.buf, uint16(len(msg)))
	w.buf = append(w.buf, msg...)
	w.count++
	return nil
}

// Flush sends the container being filled.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.count == 0 {
		return nil
	}
	payload := len(w.buf) - socketHeaderLen
	next, dropped, err := w.sink.write(w.buf, w.count, w.seq)
	if err != nil {
		return fmt.Errorf("output %s: %w", w.spec, err)
	}
	if dropped {
		w.stats.Dropped += uint64(w.count)
	} else {
		w.stats.Containers++
		w.stats.Bytes += uint64(payload)
	}
	w.seq += uint64(w.count)
	w.count = 0
	if cap(next) < socketHeaderLen+w.limit {
		next = make([]byte, 0, socketHeaderLen+w.limit)
	}
	w.buf = next[:socketHeaderLen]
	return nil
}

func (w *Writer) autoflush(every time.Duration) {
	defer close(w.flushDone)
	tick := time.NewTicker(max(every/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-w.stopFlush:
			return
		case now := <-tick.C:
			w.mu.Lock()
			if !w.closed && w.count > 0 && now.Sub(w.firstAt) >= every {
				// An error here shows again at the next Send or Flush.
				if w.flushLocked() == nil {
					w.stats.Autoflushes++
				}
			}
			w.mu.Unlock()
		}
	}
}

// Stats returns the counters.
func (w *Writer) Stats() OutputStats {
	w.mu.Lock()
	s := w.stats
	w.mu.Unlock()
	s.Clients = w.sink.clients()
	if fs, ok := w.sink.(*fileSink); ok {
		s.Files = fs.files
	}
	return s
}

// Close sends what is queued and, on a socket, the end-of-stream message;
// waits up to DefaultDrainTimeout for connected readers to take it; and
// closes the interface.
func (w *Writer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultDrainTimeout)
	defer cancel()
	return w.CloseContext(ctx)
}

// CloseContext is Close with the wait for readers bounded by ctx.
func (w *Writer) CloseContext(ctx context.Context) error {
	// A Send waiting for a reader to connect gives up now.
	w.sink.stopWaiting(ctx)
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	err := w.flushLocked()
	if _, isSocket := w.sink.(*socketSink); isSocket && w.hasFormat && err == nil {
		w.buf = append(w.buf, 0, eosLen, 0)
		w.count++
		err = w.flushLocked()
	}
	w.closed = true
	w.mu.Unlock()
	if w.stopFlush != nil {
		close(w.stopFlush)
		<-w.flushDone
	}
	return errors.Join(err, w.sink.close(ctx))
}

// blackhole drops everything, as libtrap's b: interface does.
type blackhole struct{}

func (blackhole) setFormat([]byte, bool) error { return nil }
func (blackhole) write(buf []byte, _ int, _ uint64) ([]byte, bool, error) {
	return buf, false, nil
}
func (blackhole) payloadLimit() int           { return MaxContainer }
func (blackhole) stopWaiting(context.Context) {}
func (blackhole) close(context.Context) error { return nil }
func (blackhole) clients() int                { return 0 }
