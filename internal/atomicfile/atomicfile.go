// Package atomicfile writes files that must survive a crash whole: to a
// temporary name beside them, synced, then renamed over them.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tmpInfix comes between the name of the file a temporary file will
// become and CreateTemp's random digits: .NAME.tmp123.
const tmpInfix = ".tmp"

// WriteFile writes data to a temporary file beside path, syncs it, renames
// it over path and syncs the directory, so that path holds the old or the
// new data whole, never a part.
func WriteFile(path string, data []byte) error {
	return WriteWith(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith is WriteFile for data that write produces, through a buffer.
func WriteWith(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+tmpInfix+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<16)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		// CreateTemp makes files only their owner may read.
		err = tmp.Chmod(0o644)
	}
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// RemoveLeftovers removes the temporary files in dir that a process killed
// while writing left behind, of the files whose names want reports true.
// None of those may be being written meanwhile.
func RemoveLeftovers(dir string, want func(name string) bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), ".")
		i := strings.LastIndex(name, tmpInfix)
		if !ok || i < 0 || !e.Type().IsRegular() || !allDigits(name[i+len(tmpInfix):]) || !want(name[:i]) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
