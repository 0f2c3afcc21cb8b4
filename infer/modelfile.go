package infer

import (
	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/internal/reload"
)

// ModelFile keeps a Slot's model that of a file chosen by hand, such as a
// model vetted offline or trained elsewhere: Reload (reload.Watch's, when
// the file changes) loads it again and swaps it in; a file that does not
// load leaves the model in use. A model whose file records no version (a
// LightGBM or XGBoost file without alfd's metadata) is numbered by its
// loads, 1 first, so that MODEL_VERSION tells them apart.
type ModelFile struct {
	path  string
	set   features.Set
	slot  *Slot
	loads uint32
	stamp reload.Stamp
}

// NewModelFile loads the model at path, computed on set, into slot.
func NewModelFile(path string, set features.Set, slot *Slot) (*ModelFile, error) {
	f := &ModelFile{path: path, set: set, slot: slot}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload loads the file again and puts its model in the slot. Reload is
// for one goroutine at a time.
func (f *ModelFile) Reload() error {
	return f.stamp.Read(f.path, func() error {
		m, err := Load(f.path, f.set)
		if err != nil {
			return err
		}
		f.loads++
		if m.Version == 0 {
			m.Version = f.loads
		}
		f.slot.Store(m)
		return nil
	})
}

// Changed reports whether the file changed since it was loaded.
func (f *ModelFile) Changed() (bool, error) { return f.stamp.Changed(f.path) }

// Path is the model's file.
func (f *ModelFile) Path() string { return f.path }
