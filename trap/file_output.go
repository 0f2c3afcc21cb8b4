package trap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// fileSink writes trapcap files as libtrap's f: output does: the hello at
// the start of every file (with its first container), then containers with
// a 4-byte length header. Parameters: w (overwrite, the default), a (a new
// file NAME.00000, NAME.00001, ... whichever does not exist yet), time=MIN
// (a new file every MIN minutes, NAME.YYYYmmddHHMM) and size=MB (a new file
// when the current one reaches MB megabytes, with a numbered suffix).
type fileSink struct {
	template string // the file name, with strftime conversions
	append   bool
	every    time.Duration
	maxSize  int64
	now      func() time.Time

	f         *os.File
	path      string
	written   int64
	index     int       // the next numbered suffix
	period    time.Time // start of the current time= period
	hello     []byte
	needHello bool
	files     uint64
}

func newFileSink(spec IfcSpec, now func() time.Time) (*fileSink, error) {
	s := &fileSink{template: expandHome(spec.Args[0]), now: now}
	if !strings.HasPrefix(s.template, "/dev/stdout") {
		for _, p := range spec.Args[1:] {
			switch {
			case p == "w":
				s.append = false
			case p == "a":
				s.append = true
			case strings.HasPrefix(p, "time="):
				m, err := parseCount(p[len("time="):], 1, 1<<20)
				if err != nil {
					return nil, fmt.Errorf("time=: minutes: %w", err)
				}
				s.every = time.Duration(m) * time.Minute
				s.template += ".%Y%m%d%H%M"
			case strings.HasPrefix(p, "size="):
				mb, err := parseCount(p[len("size="):], 1, 1<<30)
				if err != nil {
					return nil, fmt.Errorf("size=: megabytes: %w", err)
				}
				s.maxSize = int64(mb) << 20
			default:
				return nil, fmt.Errorf("unknown file parameter %q (want w, a, time=MIN or size=MB)", p)
			}
		}
	}
	if err := s.openNext(false); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSink) payloadLimit() int           { return MaxContainer }
func (s *fileSink) clients() int                { return 0 }
func (s *fileSink) stopWaiting(context.Context) {}

// openNext closes the current file and opens the next one. numbered forces
// a numbered suffix (a new format in the same period).
func (s *fileSink) openNext(numbered bool) error {
	if err := s.closeFile(); err != nil {
		return err
	}
	now := s.now()
	if s.every > 0 {
		period := int64(s.every / time.Second)
		s.period = time.Unix(now.Unix()-now.Unix()%period, 0)
		now = s.period
	}
	base := strftime(s.template, now.Local())
	if dir := filepath.Dir(base); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	path := base
	switch {
	case s.append:
		for {
			path = fmt.Sprintf("%s.%05d", base, s.index)
			s.index++
			if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
				break
			}
		}
	case s.maxSize > 0 || numbered:
		path = fmt.Sprintf("%s.%05d", base, s.index)
		s.index++
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	s.f, s.path, s.written = f, path, 0
	s.needHello = true
	s.files++
	return nil
}

func (s *fileSink) closeFile() error {
	if s.f == nil {
		return nil
	}
	var err error
	if fi, statErr := s.f.Stat(); statErr == nil && fi.Mode().IsRegular() {
		// So that a closed trapcap survives a crash whole.
		err = s.f.Sync()
	}
	err = errors.Join(err, s.f.Close())
	s.f = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

func (s *fileSink) setFormat(hello []byte, changed bool) error {
	s.hello = hello
	if changed && s.written > 0 {
		return s.openNext(true)
	}
	s.needHello = true
	return nil
}

func (s *fileSink) write(buf []byte, _ int, _ uint64) ([]byte, bool, error) {
	if s.every > 0 && s.now().Sub(s.period) >= s.every {
		s.index = 0
		if err := s.openNext(false); err != nil {
			return buf, false, err
		}
	} else if s.maxSize > 0 && s.written >= s.maxSize {
		if err := s.openNext(false); err != nil {
			return buf, false, err
		}
	}
	if s.needHello {
		if _, err := s.f.Write(s.hello); err != nil {
			return buf, false, fmt.Errorf("write %s: %w", s.path, err)
		}
		s.written += int64(len(s.hello))
		s.needHello = false
	}
	container := buf[socketHeaderLen-fileHeaderLen:]
	be.PutUint32(container, uint32(len(buf)-socketHeaderLen))
	if _, err := s.f.Write(container); err != nil {
		return buf, false, fmt.Errorf("write %s: %w", s.path, err)
	}
	s.written += int64(len(container))
	return buf, false, nil
}

func (s *fileSink) close(context.Context) error { return s.closeFile() }

// strftime expands the conversions libtrap's file names use.
func strftime(format string, t time.Time) string {
	if !strings.Contains(format, "%") {
		return format
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		pad := func(v, width int) {
			s := strconv.Itoa(v)
			for range width - len(s) {
				b.WriteByte('0')
			}
			b.WriteString(s)
		}
		switch format[i] {
		case 'Y':
			pad(t.Year(), 4)
		case 'y':
			pad(t.Year()%100, 2)
		case 'm':
			pad(int(t.Month()), 2)
		case 'd':
			pad(t.Day(), 2)
		case 'H':
			pad(t.Hour(), 2)
		case 'M':
			pad(t.Minute(), 2)
		case 'S':
			pad(t.Second(), 2)
		case 'j':
			pad(t.YearDay(), 3)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
