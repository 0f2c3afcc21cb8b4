package trap

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrBadIfcSpec is wrapped by every error about an interface specifier.
var ErrBadIfcSpec = errors.New("bad interface specifier")

// Timeout is how long an interface may block, as libtrap's timeout parameter
// sets it: a duration, or one of Wait, NoWait and HalfWait.
type Timeout time.Duration

// The special timeouts of libtrap.
const (
	// Wait blocks as long as it takes (libtrap's default).
	Wait Timeout = -1
	// NoWait never blocks: an output drops what it cannot send now.
	NoWait Timeout = 0
	// HalfWait blocks an output only while a reader is connected.
	HalfWait Timeout = -2
)

func (t Timeout) String() string {
	switch t {
	case Wait:
		return "WAIT"
	case NoWait:
		return "NO_WAIT"
	case HalfWait:
		return "HALF_WAIT"
	}
	return time.Duration(t).String()
}

// libtrap's defaults.
const (
	DefaultMaxClients  = 64
	DefaultBufferCount = 50
	DefaultBufferSize  = 100000
	DefaultAutoflush   = 2 * time.Second
	// defaultSocketDir is libtrap's built-in socket directory;
	// TRAP_SOCKET_DIR overrides it.
	defaultSocketDir = "/tmp"
)

// IfcSpec is one interface of an IFC_SPEC, parsed.
type IfcSpec struct {
	// Kind is the interface type: 'u', 't', 'f' or 'b'.
	Kind byte
	// Text is the interface's part of the IFC_SPEC, as given.
	Text string
	// Args are the positional parameters (a socket name; a host and port; a
	// file name and its mode and split parameters).
	Args []string

	Timeout     Timeout
	Buffer      bool          // buffer=on|off (outputs)
	Autoflush   time.Duration // autoflush=off|µs; 0 is off
	MaxClients  int
	BufferCount int
	BufferSize  int
}

func (s IfcSpec) String() string { return s.Text }

// ParseIfcSpecs parses a comma-separated IFC_SPEC as NEMEA modules take it
// with -i: "t:localhost:7600,u:my_socket". Inputs come first, outputs after;
// how many of each is the module's business.
func ParseIfcSpecs(list string) ([]IfcSpec, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadIfcSpec)
	}
	var specs []IfcSpec
	for _, text := range strings.Split(list, ",") {
		s, err := ParseIfcSpec(text)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// ParseIfcSpec parses one interface: "TYPE:PARAM:PARAM...". The common
// parameters timeout=, buffer= and autoflush= may follow any interface;
// max_clients=, buffer_count= and buffer_size= any socket output.
func ParseIfcSpec(text string) (IfcSpec, error) {
	s := IfcSpec{
		Text:        text,
		Timeout:     Wait,
		Buffer:      true,
		Autoflush:   DefaultAutoflush,
		MaxClients:  DefaultMaxClients,
		BufferCount: DefaultBufferCount,
		BufferSize:  DefaultBufferSize,
	}
	bad := func(format string, args ...any) (IfcSpec, error) {
		return IfcSpec{}, fmt.Errorf("%w %q: %s", ErrBadIfcSpec, text, fmt.Sprintf(format, args...))
	}
	kind, params, _ := strings.Cut(text, ":")
	if len(kind) != 1 {
		return bad("the interface type must be one letter (u, t, f or b) followed by ':'")
	}
	s.Kind = kind[0]
	switch s.Kind {
	case 'u', 't', 'f', 'b':
	case 'T':
		return bad("TLS interfaces are not supported; use t: over a secured network or a tunnel")
	case 'g':
		return bad("generator interfaces are not supported")
	default:
		return bad("unknown interface type %q", kind)
	}
	for _, p := range splitParams(params) {
		key, value, isKV := strings.Cut(p, "=")
		if !isKV {
			s.Args = append(s.Args, p)
			continue
		}
		var err error
		switch key {
		case "timeout":
			s.Timeout, err = parseTimeout(value)
		case "buffer":
			switch value {
			case "on":
				s.Buffer = true
			case "off":
				s.Buffer = false
			default:
				err = errors.New("want on or off")
			}
		case "autoflush":
			if value == "off" {
				s.Autoflush = 0
			} else {
				var us int
				us, err = parseCount(value, 1, math.MaxInt32)
				s.Autoflush = time.Duration(us) * time.Microsecond
			}
		case "max_clients":
			s.MaxClients, err = parseCount(value, 1, 1<<16)
		case "buffer_count":
			s.BufferCount, err = parseCount(value, 1, 1<<16)
		case "buffer_size":
			// A larger container would overflow libtrap's receivers.
			s.BufferSize, err = parseCount(value, socketHeaderLen+2+eosLen, DefaultBufferSize)
		case "time", "size":
			// File output parameters, interpreted by the file interface.
			s.Args = append(s.Args, p)
		default:
			return bad("unknown parameter %q", key)
		}
		if err != nil {
			return bad("parameter %s=%s: %v", key, value, err)
		}
	}
	switch s.Kind {
	case 'u', 't':
		if len(s.Args) == 0 || s.Args[0] == "" {
			return bad("missing socket name or port")
		}
	case 'f':
		if len(s.Args) == 0 || s.Args[0] == "" {
			return bad("missing file name")
		}
	}
	return s, nil
}

// splitParams splits at ':' but keeps a bracketed IPv6 address together.
func splitParams(params string) []string {
	if params == "" {
		return nil
	}
	var out []string
	for params != "" {
		if params[0] == '[' {
			if end := strings.IndexByte(params, ']'); end > 0 {
				out = append(out, params[1:end])
				params = strings.TrimPrefix(params[end+1:], ":")
				continue
			}
		}
		p, rest, _ := strings.Cut(params, ":")
		out = append(out, p)
		params = rest
	}
	return out
}

func parseTimeout(v string) (Timeout, error) {
	switch v {
	case "WAIT":
		return Wait, nil
	case "NO_WAIT":
		return NoWait, nil
	case "HALF_WAIT":
		return HalfWait, nil
	}
	us, err := parseCount(v, 0, math.MaxInt32)
	if err != nil {
		return 0, errors.New("want WAIT, NO_WAIT, HALF_WAIT or microseconds")
	}
	return Timeout(time.Duration(us) * time.Microsecond), nil
}

func parseCount(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

// SocketPath is where a u: interface named name lives: trap-NAME.sock in
// $TRAP_SOCKET_DIR, or in /tmp as libtrap is built by default. (Distribution
// packages of libtrap built with /run/libtrap need TRAP_SOCKET_DIR set so.)
func SocketPath(name string) string {
	dir := os.Getenv("TRAP_SOCKET_DIR")
	if dir == "" {
		dir = defaultSocketDir
	}
	return filepath.Join(dir, "trap-"+name+".sock")
}

// expandHome replaces a leading ~ with the home directory, as wordexp does.
func expandHome(path string) string {
	if path == "~" || strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return home + path[1:]
		}
	}
	return path
}
