package annotate

import (
	"context"
	"os"
	"sync/atomic"
	"time"
)

// A List is an oracle read from a file: a Blacklist, Domains, a person's
// labels (Human).
type List interface {
	Oracle
	Len() int // entries: addresses, names, flows
}

// Reloading keeps a list fresh: Watch reads its file again when it
// changes, and Label and Load, safe from any goroutine, use the current
// one.
type Reloading[L List] struct {
	path  string
	load  func(path string) (L, []*LineError, error)
	cur   atomic.Pointer[L]
	stamp fileStamp // of the file read last; Watch's alone after NewReloading
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewReloading loads the list at path with load, such as LoadBlacklist,
// and keeps it fresh with it.
func NewReloading[L List](path string, load func(path string) (L, []*LineError, error)) (*Reloading[L], []*LineError, error) {
	r := &Reloading[L]{path: path, load: load}
	bad, err := r.Reload()
	if err != nil {
		return nil, nil, err
	}
	return r, bad, nil
}

// Reload reads the file again. A file that fails to load keeps the old
// list in use.
func (r *Reloading[L]) Reload() ([]*LineError, error) {
	// Its time and size before it is read: a change while it is read is
	// seen at the next look. A file that cannot be looked at fails to
	// load too, with load's error, which names the list.
	fi, statErr := os.Stat(r.path)
	l, bad, err := r.load(r.path)
	if err != nil {
		return nil, err
	}
	r.cur.Store(&l)
	r.stamp = fileStamp{}
	if statErr == nil {
		r.stamp = fileStamp{fi.ModTime(), fi.Size()}
	}
	return bad, nil
}

// changed reports whether the file's time or size is not what they were
// when it was read.
func (r *Reloading[L]) changed() (bool, error) {
	fi, err := os.Stat(r.path)
	if err != nil {
		return false, err
	}
	return (fileStamp{fi.ModTime(), fi.Size()}) != r.stamp, nil
}

// Path is the list's file.
func (r *Reloading[L]) Path() string { return r.path }

// Load returns the current list.
func (r *Reloading[L]) Load() L { return *r.cur.Load() }

// Len is the current list's.
func (r *Reloading[L]) Len() int { return r.Load().Len() }

// Label makes Reloading an Oracle: the current list's label.
func (r *Reloading[L]) Label(f *Flow) (bool, bool) { return r.Load().Label(f) }

// A Reloader is a list that Watch keeps fresh: a Reloading.
type Reloader interface {
	Path() string
	Len() int
	Reload() ([]*LineError, error)
	changed() (bool, error)
}

// Watch checks the files of lists every interval (never when 0) until ctx
// ends and reloads each whose time or size changed, and all of them at
// once, whatever changed, when now delivers (SIGHUP). A file that fails
// to load keeps its old list in use; report says what happened to each
// list either way.
func Watch(ctx context.Context, interval time.Duration, now <-chan os.Signal, lists []Reloader, report func(l Reloader, bad []*LineError, err error)) {
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
		for _, l := range lists {
			if !all {
				changed, err := l.changed()
				if err != nil {
					report(l, nil, err)
				}
				if !changed {
					continue
				}
			}
			bad, err := l.Reload()
			report(l, bad, err)
		}
	}
}
