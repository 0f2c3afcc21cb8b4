// Package shareddata finds the project's shared test data, which lives
// beside the repository (../shared/data) and is read in place, never copied.
// Tests that need it skip when it is absent, so the project builds and tests
// without it. ALFD_SHARED_DATA names another place.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared data directory, or "" when there is none.
func Dir() string {
	if d := os.Getenv("ALFD_SHARED_DATA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	// Tests run in their package's directory: walk up to the module root.
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "data")
			if _, err := os.Stat(d); err == nil {
				return d
			}
			return ""
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// Path returns a path inside the shared data, and skips tb when the data is
// not there.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	d := Dir()
	if d == "" {
		tb.Skip("shared test data (../shared/data) not found; set ALFD_SHARED_DATA")
	}
	p := filepath.Join(append([]string{d}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("shared test data: %v", err)
	}
	return p
}
