package annotate

import (
	"sync/atomic"

	"github.com/alfd/alfd/internal/reload"
)

// A List is an oracle read from a file: a Blacklist, Domains, a person's
// labels (Human).
type List interface {
	Oracle
	Len() int // entries: addresses, names, flows
}

// Reloading keeps a list fresh: reload.Watch reads its file again when it
// changes, and Label and Load, safe from any goroutine, use the current
// one.
type Reloading[L List] struct {
	path  string
	load  func(path string) (L, []*LineError, error)
	cur   atomic.Pointer[L]
	stamp reload.Stamp // of the file read last
	bad   []*LineError // the lines the last read skipped
}

// NewReloading loads the list at path with load, such as LoadBlacklist,
// and keeps it fresh with it. bad are the lines it skipped.
func NewReloading[L List](path string, load func(path string) (L, []*LineError, error)) (r *Reloading[L], bad []*LineError, err error) {
	r = &Reloading[L]{path: path, load: load}
	if err := r.Reload(); err != nil {
		return nil, nil, err
	}
	return r, r.bad, nil
}

// Reload reads the file again. A file that fails to load keeps the old
// list in use. Reload and Bad are for one goroutine, Watch's.
func (r *Reloading[L]) Reload() error {
	return r.stamp.Read(r.path, func() error {
		l, bad, err := r.load(r.path)
		if err != nil {
			return err
		}
		r.cur.Store(&l)
		r.bad = bad
		return nil
	})
}

// Bad are the lines the last successful read skipped.
func (r *Reloading[L]) Bad() []*LineError { return r.bad }

// Changed reports whether the file's time or size is not what they were
// when it was read.
func (r *Reloading[L]) Changed() (bool, error) { return r.stamp.Changed(r.path) }

// Path is the list's file.
func (r *Reloading[L]) Path() string { return r.path }

// Load returns the current list.
func (r *Reloading[L]) Load() L { return *r.cur.Load() }

// Len is the current list's.
func (r *Reloading[L]) Len() int { return r.Load().Len() }

// Label makes Reloading an Oracle: the current list's label.
func (r *Reloading[L]) Label(f *Flow) (bool, bool) { return r.Load().Label(f) }

// A Reloader is a list that reload.Watch keeps fresh: a Reloading.
type Reloader interface {
	reload.File
	Len() int
	Bad() []*LineError
}
