package trap

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// The service interface's requests and replies: a header of a command
// byte, three bytes of padding and a size in the host's byte order, then
// for a reply the size's bytes of JSON ending in a NUL.
const (
	serviceHeaderLen = 8
	serviceGet       = 10 // a request for the interfaces' counters
	serviceOK        = 12 // the reply to it
)

// ServiceStats is what the service interface reports: the counters of a
// module's TRAP interfaces, in libtrap's JSON.
type ServiceStats struct {
	InCount  int             `json:"in_cnt"`
	OutCount int             `json:"out_cnt"`
	In       []ServiceInput  `json:"in"`
	Out      []ServiceOutput `json:"out"`
}

// ServiceInput is one input interface's counters.
type ServiceInput struct {
	State    int    `json:"ifc_state"` // 1 while connected (a file: open), else 0
	ID       string `json:"ifc_id"`    // the socket's name, the port, the file
	Type     int    `json:"ifc_type"`  // 'u', 't', 'f'
	Messages uint64 `json:"messages"`  // records read, a container behind at most
	Buffers  uint64 `json:"buffers"`   // containers read
	// DelayLast is how long, in microseconds, the input waited for its
	// last container; DelayTotal, in seconds, for all of them.
	DelayLast  uint64 `json:"delay_last"`
	DelayTotal uint64 `json:"delay_total"`
}

// ServiceOutput is one output interface's counters.
type ServiceOutput struct {
	Clients     int    `json:"num_clients"`
	ID          string `json:"ifc_id"`
	Type        int    `json:"ifc_type"`
	Sent        uint64 `json:"sent-messages"`
	Dropped     uint64 `json:"dropped-messages"`
	Buffers     uint64 `json:"buffers"` // containers sent
	Autoflushes uint64 `json:"autoflushes"`
	// ClientStats is libtrap's per-reader counters, which alfd does not
	// keep: always empty.
	ClientStats []struct{} `json:"client_stats_arr"`
}

// serviceID is the interface's name in the service's report, as libtrap
// gives it: a socket's name, a TCP port, a file's name.
func (s IfcSpec) serviceID() string {
	switch {
	case s.Kind == 'b' || len(s.Args) == 0:
		return "none"
	case s.Kind == 't':
		return s.Args[len(s.Args)-1]
	}
	return s.Args[0]
}

// ServiceInput reports the reader's counters; it is safe to call from any
// goroutine.
func (r *Reader) ServiceInput() ServiceInput {
	state := 0
	if r.shared.connected.Load() {
		state = 1
	}
	return ServiceInput{State: state, ID: r.spec.serviceID(), Type: int(r.spec.Kind),
		Messages: r.shared.messages.Load(), Buffers: r.shared.containers.Load(),
		DelayLast:  uint64(time.Duration(r.shared.delayLast.Load()).Microseconds()),
		DelayTotal: uint64(time.Duration(r.shared.delaySum.Load()) / time.Second)}
}

// ServiceOutput reports the writer's counters; it is safe to call from any
// goroutine.
func (w *Writer) ServiceOutput() ServiceOutput {
	st := w.Stats()
	return ServiceOutput{Clients: st.Clients, ID: w.spec.serviceID(), Type: int(w.spec.Kind),
		Sent: st.Messages, Dropped: st.Dropped, Buffers: st.Containers, Autoflushes: st.Autoflushes,
		ClientStats: []struct{}{}}
}

// ServicePath is where a process's service interface listens: libtrap's
// u:service_PID.
func ServicePath(pid int) string { return SocketPath("service_" + strconv.Itoa(pid)) }

// A Service is libtrap's service interface, which every NEMEA module
// serves on u:service_PID so that NEMEA's supervisor (and trap_stats) can
// ask for its interfaces' counters.
type Service struct {
	ln    net.Listener
	path  string
	self  os.FileInfo // the socket file bound, to remove no other
	stats func() ServiceStats

	mu    sync.Mutex
	conns map[net.Conn]struct{} // nil once closed
	wg    sync.WaitGroup

	stop      func() // stops waiting for the context's end
	closeOnce sync.Once
	closeErr  error
}

// ServeService serves stats on this process's service socket until ctx
// ends or Close. As libtrap, it replaces a socket left at the path.
func ServeService(ctx context.Context, stats func() ServiceStats) (*Service, error) {
	path := ServicePath(os.Getpid())
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("service interface %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("service interface: %w", err)
	}
	// Close removes the socket only if it is still this one.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	// Readable by the supervisor whoever runs it, as libtrap makes it.
	self, err := os.Stat(path)
	if err == nil {
		err = os.Chmod(path, 0o666)
	}
	if err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("service interface: %w", err)
	}
	s := &Service{ln: ln, path: path, self: self, stats: stats, conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.accept)
	stop := context.AfterFunc(ctx, func() { s.Close() })
	s.stop = func() { stop() }
	return s, nil
}

// Path is the socket's path.
func (s *Service) Path() string { return s.path }

func (s *Service) accept() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.conns == nil {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			s.serve(conn)
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
			conn.Close()
		})
	}
}

// serve answers a client's requests until it leaves or asks for what
// the service does not know, which ends its connection, as in libtrap.
func (s *Service) serve(conn net.Conn) {
	var hdr [serviceHeaderLen]byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil || hdr[0] != serviceGet {
			return
		}
		stats := s.stats()
		stats.InCount, stats.OutCount = len(stats.In), len(stats.Out)
		// Arrays, never null, even without interfaces.
		stats.In, stats.Out = append([]ServiceInput{}, stats.In...), append([]ServiceOutput{}, stats.Out...)
		body, err := json.Marshal(stats)
		if err != nil {
			return
		}
		reply := make([]byte, serviceHeaderLen, serviceHeaderLen+len(body)+1)
		reply[0] = serviceOK
		binary.NativeEndian.PutUint32(reply[4:], uint32(len(body)+1))
		reply = append(append(reply, body...), 0)
		if _, err := conn.Write(reply); err != nil {
			return
		}
	}
}

// Close stops the service, ends its connections and removes its socket,
// if the socket is still its own. It may be called more than once.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.closeErr = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.conns = nil
		s.mu.Unlock()
		s.wg.Wait()
		if fi, err := os.Stat(s.path); err == nil && os.SameFile(fi, s.self) {
			if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.closeErr = errors.Join(s.closeErr, err)
			}
		}
	})
	return s.closeErr
}

// maxServiceReply bounds a reply QueryService accepts: libtrap's are a few
// hundred bytes an interface.
const maxServiceReply = 1 << 20

// QueryService asks the service interface at path (ServicePath of a
// module's PID) for its interfaces' counters, as NEMEA's trap_stats does,
// waiting at most timeout.
func QueryService(path string, timeout time.Duration) (ServiceStats, error) {
	var st ServiceStats
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return st, fmt.Errorf("service interface: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	var hdr [serviceHeaderLen]byte
	hdr[0] = serviceGet
	if _, err := conn.Write(hdr[:]); err != nil {
		return st, fmt.Errorf("service interface %s: %w", path, err)
	}
	if st, err = readServiceReply(conn); err != nil {
		return st, fmt.Errorf("service interface %s: %w", path, err)
	}
	return st, nil
}

// readServiceReply reads a reply to a request for the counters.
func readServiceReply(r io.Reader) (ServiceStats, error) {
	var st ServiceStats
	var hdr [serviceHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return st, fmt.Errorf("reply: %w", err)
	}
	size := binary.NativeEndian.Uint32(hdr[4:])
	if hdr[0] != serviceOK || size > maxServiceReply {
		return st, fmt.Errorf("reply %d of %d bytes, want %d of at most %d", hdr[0], size, serviceOK, maxServiceReply)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return st, fmt.Errorf("reply: %w", err)
	}
	body, _ = bytes.CutSuffix(body, []byte{0})
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("reply: %w", err)
	}
	return st, nil
}
