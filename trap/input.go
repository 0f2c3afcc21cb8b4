package trap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrClosed is returned by a Reader or Writer used after Close.
	ErrClosed = os.ErrClosed
	// ErrTimeout is returned when an interface's timeout expires.
	ErrTimeout = errors.New("TRAP interface timeout")
)

// A StreamError reports input that was malformed, cut off or of the wrong
// format, and has been skipped: the rest of a container, a file, or a
// connection. The Reader has recovered; Recv may be called again.
type StreamError struct {
	Ifc    string // the interface, as in the IFC_SPEC
	Stream string // the file or socket address
	Offset int64  // byte offset in that file or connection where the bad data starts
	Err    error
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("input %s (%s) at byte %d: %v", e.Ifc, e.Stream, e.Offset, e.Err)
}

func (e *StreamError) Unwrap() error { return e.Err }

// Skipped reports whether err is a *StreamError: the reader skipped broken
// input and may be read on. Unlike errors.As with a variable of the
// caller's, it does not allocate, for loops that ask it of every record.
func Skipped(err error) bool {
	_, ok := errors.AsType[*StreamError](err)
	return ok
}

// InputConfig holds what an input needs beyond its IFC_SPEC.
type InputConfig struct {
	// Required, if set, lists the UniRec fields the input must carry: a
	// stream whose format lacks one is skipped with a StreamError, as
	// libtrap refuses a format that is not a superset of the required one.
	Required *Template
	// RetryInterval is the pause before connecting again after a failed
	// attempt or a "format not set yet" reply. Zero means libtrap's 1 s.
	RetryInterval time.Duration
}

// InputStats counts what a Reader has read and skipped.
type InputStats struct {
	Streams       uint64 // files opened and connections made
	Containers    uint64
	Messages      uint64 // records, not counting end-of-stream messages
	Bytes         uint64 // container payload bytes
	Missed        uint64 // messages a socket sender sent that never arrived (sequence gaps)
	Skipped       uint64 // broken or cut-off containers, files and connections skipped
	BadRecords    uint64 // records that do not fit their template
	FormatChanges uint64
	NotReady      uint64 // "format not set yet" replies from a socket sender
}

type readState uint8

const (
	stateOpen readState = iota
	stateHelloHead
	stateHelloSpec
	stateHeader
	statePayload
	stateMessages
)

// A Reader reads messages from one TRAP input interface: trapcap files, or a
// unix or TCP socket served by a libtrap output. It reconnects to sockets
// after a loss, renegotiates the format from every hello, and skips what is
// broken, reporting it as a *StreamError. Recv and Next are for one
// goroutine; Close may be called from any. The interface's timeout bounds
// the wait for data and between connection attempts, not an attempt under
// way (at most dialTimeout): a sender that accepted a connection counts
// on its reader.
type Reader struct {
	spec IfcSpec
	src  source
	cfg  InputConfig

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards conn between Recv's goroutine and Close
	conn   io.ReadCloser

	stream    string // name of the current file or socket
	headerLen int
	state     readState
	have      int // bytes of the current unit read so far
	off       int64
	unitOff   int64
	specLen   int
	dataType  DataType
	hdr       [socketHeaderLen]byte
	buf       []byte // container payload (or a hello's specifier)
	pos       int    // next message in buf
	payloadAt int64  // stream offset of buf[0]
	msgOff    int64
	seq       uint64 // expected sequence number of the next socket container
	seqKnown  bool
	deadline  time.Time // for this Recv, when the spec has a timeout

	format    Format
	templates map[string]*Template
	stats     InputStats
	waitFrom  time.Time // when the wait for the next container began
	shared    sharedInput
}

// sharedInput is what the service interface reads of a Reader from another
// goroutine, published a container at a time.
type sharedInput struct {
	containers, messages atomic.Uint64
	connected            atomic.Bool
	delayLast, delaySum  atomic.Int64 // nanoseconds waited for the last container, and for all
}

type source interface {
	// next opens the next stream: the next file (io.EOF after the last
	// one), or a new connection, tried until wait ends; a connection
	// under way is given until base ends or dialTimeout passes.
	next(wait, base context.Context) (io.ReadCloser, string, error)
	// backoff makes the next connection attempt wait a while.
	backoff()
	headerLen() int
	isSocket() bool
}

// OpenInput opens an input interface: f: (files; a glob pattern or several
// names separated by spaces, read in order), u: or t: (a socket served by a
// TRAP output; connecting happens in Recv). b: is an output only.
func OpenInput(spec IfcSpec, cfg InputConfig) (*Reader, error) {
	var src source
	switch spec.Kind {
	case 'f':
		files, err := expandFiles(strings.Join(spec.Args, ":"))
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", spec, err)
		}
		src = &fileSource{files: files}
	case 'u':
		src = &dialSource{network: "unix", addr: SocketPath(spec.Args[0]), retry: cmp.Or(cfg.RetryInterval, time.Second)}
	case 't':
		host, port := "localhost", spec.Args[0]
		if len(spec.Args) > 1 {
			host, port = spec.Args[0], spec.Args[1]
		}
		src = &dialSource{network: "tcp", addr: net.JoinHostPort(host, port), retry: cmp.Or(cfg.RetryInterval, time.Second)}
	default:
		return nil, fmt.Errorf("input %s: %c: interfaces are outputs only", spec, spec.Kind)
	}
	return newReader(spec, src, cfg), nil
}

func newReader(spec IfcSpec, src source, cfg InputConfig) *Reader {
	r := &Reader{
		spec:      spec,
		src:       src,
		cfg:       cfg,
		headerLen: src.headerLen(),
		buf:       make([]byte, 0, MaxContainer),
		templates: make(map[string]*Template),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// expandFiles turns a file input's parameter into the files to read, as
// libtrap's wordexp does: ~ is the home directory, words are separated by
// spaces, and glob patterns expand to the matching names in sorted order.
func expandFiles(param string) ([]string, error) {
	var files []string
	for _, word := range strings.Fields(param) {
		word = expandHome(word)
		if !strings.ContainsAny(word, "*?[") {
			if _, err := os.Stat(word); err != nil {
				return nil, err
			}
			files = append(files, word)
			continue
		}
		matches, err := filepath.Glob(word)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", word, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("no file matches %q", word)
		}
		files = append(files, matches...)
	}
	if len(files) == 0 {
		return nil, errors.New("no file named")
	}
	return files, nil
}

// Spec is the interface's IFC_SPEC.
func (r *Reader) Spec() IfcSpec { return r.spec }

// Name is the interface as given in the IFC_SPEC.
func (r *Reader) Name() string { return r.spec.Text }

// Format is the format of the stream being read (zero before the first hello).
func (r *Reader) Format() Format { return r.format }

// Stats returns the counters. Call it from the goroutine that calls Recv.
func (r *Reader) Stats() InputStats { return r.stats }

// Offset is the byte offset, in its file or connection, of the message Recv
// returned last.
func (r *Reader) Offset() int64 { return r.msgOff }

// Stream names the file or socket being read.
func (r *Reader) Stream() string { return r.stream }

// Buffered reports whether messages of the current container are left to
// read: while it does, Recv returns without waiting.
func (r *Reader) Buffered() bool { return r.state == stateMessages && r.pos < len(r.buf) }

// Close stops the reader; a Recv blocked in another goroutine returns
// ErrClosed.
func (r *Reader) Close() error {
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		r.conn.Close()
	}
	return nil
}

// Next returns the next UniRec record. A record that does not fit its
// template is skipped with a *StreamError that says why and where.
func (r *Reader) Next() (Record, error) {
	msg, err := r.Recv()
	if err != nil {
		return Record{}, err
	}
	t := r.format.Template
	if t == nil {
		return Record{}, fmt.Errorf("input %s carries %s data, not UniRec records", r.spec, r.format.Type)
	}
	rec, err := t.Decode(msg)
	if err != nil {
		r.stats.BadRecords++
		return Record{}, &StreamError{Ifc: r.spec.Text, Stream: r.stream, Offset: r.msgOff, Err: err}
	}
	return rec, nil
}

// Recv returns the next message. It stays valid until the next call. At the
// end of a stream (an end-of-stream message, or the end of the last file)
// it returns io.EOF; calling Recv again on a socket input connects anew and
// reads the next stream. Broken input is skipped and reported as a
// *StreamError; ErrTimeout means the interface's timeout expired.
func (r *Reader) Recv() ([]byte, error) {
	if r.spec.Timeout != Wait {
		// A deadline already past fails a read without trying it, so
		// NO_WAIT gets a moment to take what the kernel holds.
		r.deadline = time.Now().Add(max(time.Duration(r.spec.Timeout), time.Millisecond))
	}
	for {
		if r.state == stateMessages {
			if r.pos < len(r.buf) {
				return r.nextMessage()
			}
			r.state = stateHeader
		}
		if err := r.advance(); err != nil {
			return nil, err
		}
	}
}

func (r *Reader) nextMessage() ([]byte, error) {
	if len(r.buf)-r.pos < 2 {
		return nil, r.skipContainer(r.pos, errors.New("container ends inside a message header"))
	}
	n := int(be.Uint16(r.buf[r.pos:]))
	start := r.pos + 2
	if start+n > len(r.buf) {
		return nil, r.skipContainer(r.pos, fmt.Errorf("message of %d bytes overruns its container of %d", n, len(r.buf)))
	}
	r.msgOff = r.payloadAt + int64(start)
	r.pos = start + n
	if n <= eosLen {
		if r.src.isSocket() {
			r.disconnect()
		}
		return nil, io.EOF
	}
	r.stats.Messages++
	return r.buf[start:r.pos], nil
}

// skipContainer drops the rest of the current container.
func (r *Reader) skipContainer(at int, err error) error {
	r.pos = len(r.buf)
	r.stats.Skipped++
	return &StreamError{Ifc: r.spec.Text, Stream: r.stream, Offset: r.payloadAt + int64(at), Err: err}
}

// advance does one step of reading: opens a stream, or reads a hello, a
// container header or a payload.
func (r *Reader) advance() error {
	switch r.state {
	case stateOpen:
		return r.open()
	case stateHelloHead:
		if err := r.fill(r.hdr[:helloLen]); err != nil {
			return r.readFailed(err, "hello")
		}
		r.dataType = DataType(r.hdr[0])
		r.specLen = int(be.Uint32(r.hdr[4:]))
		switch {
		case r.dataType == DataUnknown && r.specLen == 0 && r.src.isSocket():
			// The output's format is not set yet; libtrap tries again later.
			r.stats.NotReady++
			r.disconnect()
			r.src.backoff()
			return nil
		case r.specLen > MaxSpecLen:
			return r.skipStream(r.unitOff, fmt.Errorf("hello announces a specifier of %d bytes (at most %d)", r.specLen, MaxSpecLen))
		}
		r.state = stateHelloSpec
	case stateHelloSpec:
		spec := r.buf[:r.specLen]
		if err := r.fill(spec); err != nil {
			return r.readFailed(err, "hello")
		}
		f, err := parseFormat(r.dataType, string(spec), r.templates)
		if err != nil {
			return r.skipStream(r.unitOff-helloLen, err)
		}
		if req := r.cfg.Required; req != nil && (f.Template == nil || !f.Template.Contains(req)) {
			return r.skipStream(r.unitOff-helloLen, fmt.Errorf("format %s %q lacks fields the input requires (%s)", f.Type, f.Spec, req.Spec()))
		}
		if r.format.Type != f.Type || r.format.Spec != f.Spec {
			if r.format.Type != DataUnknown {
				r.stats.FormatChanges++
			}
			r.format = f
		}
		r.state = stateHeader
	case stateHeader:
		if r.have == 0 {
			// The messages of the containers before are all read.
			r.shared.messages.Store(r.stats.Messages)
			r.waitFrom = time.Now()
		}
		if err := r.fill(r.hdr[:r.headerLen]); err != nil {
			return r.readFailed(err, "container header")
		}
		n := int(be.Uint32(r.hdr[:]))
		if n > MaxContainer {
			return r.skipStream(r.unitOff, fmt.Errorf("container of %d bytes is longer than libtrap's %d-byte buffer", n, MaxContainer))
		}
		if r.headerLen == socketHeaderLen {
			seq, count := le.Uint64(r.hdr[4:]), uint64(le.Uint16(r.hdr[12:]))
			if r.seqKnown && seq > r.seq {
				r.stats.Missed += seq - r.seq
			}
			r.seq, r.seqKnown = seq+count, true
		}
		r.buf = r.buf[:n]
		r.state = statePayload
	case statePayload:
		if err := r.fill(r.buf); err != nil {
			return r.readFailed(err, "container")
		}
		r.payloadAt = r.unitOff
		r.pos = 0
		r.stats.Containers++
		r.stats.Bytes += uint64(len(r.buf))
		r.state = stateMessages
		waited := int64(time.Since(r.waitFrom))
		r.shared.delayLast.Store(waited)
		r.shared.delaySum.Add(waited)
		r.shared.containers.Store(r.stats.Containers)
	}
	return nil
}

// fill reads into unit until it is full. A read that fails keeps what it
// got, so that a Recv after a timeout continues where this one stopped.
func (r *Reader) fill(unit []byte) error {
	if r.have == 0 {
		r.unitOff = r.off
	}
	if !r.deadline.IsZero() {
		if c, ok := r.conn.(interface{ SetReadDeadline(time.Time) error }); ok {
			c.SetReadDeadline(r.deadline)
		}
	}
	for r.have < len(unit) {
		n, err := r.conn.Read(unit[r.have:])
		r.have += n
		r.off += int64(n)
		if err != nil && r.have < len(unit) {
			return err
		}
	}
	r.have = 0
	return nil
}

// readFailed handles a read that stopped before a unit was whole: a
// timeout, Close, the clean end of a stream, or a stream cut off.
func (r *Reader) readFailed(err error, unit string) error {
	switch {
	case r.ctx.Err() != nil:
		return ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	}
	clean := r.have == 0 && errors.Is(err, io.EOF) && (r.state == stateHeader || r.state == stateHelloHead)
	if clean {
		// The end of a file, or a sender that went away between
		// containers: go on with the next file or connection.
		r.disconnect()
		return nil
	}
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("stream ends inside a %s: %w", unit, io.ErrUnexpectedEOF)
	}
	return r.skipStream(r.unitOff, err)
}

// skipStream gives up the current file or connection.
func (r *Reader) skipStream(at int64, err error) error {
	r.stats.Skipped++
	stream := r.stream
	r.disconnect()
	r.src.backoff()
	return &StreamError{Ifc: r.spec.Text, Stream: stream, Offset: at, Err: err}
}

func (r *Reader) disconnect() {
	r.mu.Lock()
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
	r.mu.Unlock()
	r.shared.connected.Store(false)
	r.shared.messages.Store(r.stats.Messages)
	r.state = stateOpen
	r.have = 0
	r.buf = r.buf[:0]
	r.pos = 0
}

func (r *Reader) open() error {
	ctx := r.ctx
	if !r.deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, r.deadline)
		defer cancel()
	}
	conn, name, err := r.src.next(ctx, r.ctx)
	if err != nil {
		switch {
		case r.ctx.Err() != nil:
			return ErrClosed
		case ctx.Err() != nil:
			return ErrTimeout
		case err == io.EOF:
			return io.EOF
		}
		r.stats.Skipped++
		return &StreamError{Ifc: r.spec.Text, Stream: name, Err: err}
	}
	r.mu.Lock()
	if r.ctx.Err() != nil {
		r.mu.Unlock()
		conn.Close()
		return ErrClosed
	}
	r.conn = conn
	r.mu.Unlock()
	r.shared.connected.Store(true)
	r.stream = name
	r.off = 0
	r.seqKnown = false
	r.stats.Streams++
	r.state = stateHelloHead
	return nil
}

// fileSource reads trapcap files in order.
type fileSource struct {
	files []string
	i     int
}

func (s *fileSource) next(_, _ context.Context) (io.ReadCloser, string, error) {
	if s.i >= len(s.files) {
		return nil, "", io.EOF
	}
	name := s.files[s.i]
	s.i++
	f, err := os.Open(name)
	return f, name, err
}

func (*fileSource) backoff()       {}
func (*fileSource) headerLen() int { return fileHeaderLen }
func (*fileSource) isSocket() bool { return false }

// dialSource connects to a socket output, again and again, a retry
// interval apart after a failure.
type dialSource struct {
	network, addr string
	retry         time.Duration
	dialer        net.Dialer
	nextTry       time.Time
}

func (s *dialSource) backoff() { s.nextTry = time.Now().Add(s.retry) }

func (s *dialSource) next(wait, base context.Context) (io.ReadCloser, string, error) {
	for {
		if d := time.Until(s.nextTry); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-wait.Done():
				t.Stop()
				return nil, s.addr, wait.Err()
			case <-t.C:
			}
		}
		// The read's deadline does not cut a connection short: the
		// sender may have accepted it already, and would take a reader
		// that hung up at once for one that reads, and send it what this
		// one never gets.
		dial, cancel := context.WithTimeout(base, dialTimeout)
		conn, err := s.dialer.DialContext(dial, s.network, s.addr)
		cancel()
		if err == nil {
			return conn, s.addr, nil
		}
		if base.Err() != nil {
			return nil, s.addr, base.Err()
		}
		s.backoff()
		if wait.Err() != nil {
			return nil, s.addr, wait.Err()
		}
	}
}

// dialTimeout bounds one connection attempt, which a read's timeout does
// not cut short.
const dialTimeout = 3 * time.Second

func (*dialSource) headerLen() int { return socketHeaderLen }
func (*dialSource) isSocket() bool { return true }
