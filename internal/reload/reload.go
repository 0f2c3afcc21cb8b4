// Package reload keeps what alfd reads from files fresh while it runs: the
// oracle's lists and a model chosen by hand. A file is read again when its
// time or size changes, and at once on SIGHUP, as daemons reread their
// files; a file that fails to read keeps what was read before in use.
package reload

import (
	"context"
	"os"
	"time"
)

// A File is something read from a file that can be read again.
type File interface {
	Path() string
	// Reload reads the file again; on an error what was read before
	// stays in use.
	Reload() error
	// Changed reports whether the file is not as it was when last read.
	Changed() (bool, error)
}

// Stamp tells whether a file changed since it was read: its modification
// time and size then.
type Stamp struct {
	mod  time.Time
	size int64
}

// Read calls read, and when it succeeds keeps path's stamp from before
// the read: a change made while it read is seen at the next look. A file
// that cannot be looked at is left to read to fail on, with its error.
func (s *Stamp) Read(path string, read func() error) error {
	fi, statErr := os.Stat(path)
	if err := read(); err != nil {
		return err
	}
	*s = Stamp{}
	if statErr == nil {
		*s = Stamp{fi.ModTime(), fi.Size()}
	}
	return nil
}

// Changed reports whether path's time or size is not the stamp's.
func (s *Stamp) Changed(path string) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return (Stamp{fi.ModTime(), fi.Size()}) != *s, nil
}

// Watch looks at files every interval (never when 0) until ctx ends and
// reloads each that changed, and all of them, changed or not, when now
// delivers (SIGHUP). report hears of every reload, and of a file that
// could not be looked at, with the error or nil.
func Watch(ctx context.Context, interval time.Duration, now <-chan os.Signal, files []File, report func(f File, err error)) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		all := false
		select {
		case <-ctx.Done():
			return
		case <-now:
			all = true
		case <-tick:
		}
		for _, f := range files {
			if !all {
				changed, err := f.Changed()
				if err != nil {
					report(f, err)
				}
				if !changed {
					continue
				}
			}
			report(f, f.Reload())
		}
	}
}
