package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// leaveTemp writes path as a process killed in the middle would: its
// temporary file stays.
func leaveTemp(t *testing.T, path string) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("the write went through")
		}
	}()
	WriteWith(path, func(w io.Writer) error { panic("killed") })
}

// TestRemoveLeftovers: the temporary files of interrupted writes of the
// wanted files go; the files themselves, other files' leftovers and
// unrelated files stay.
func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"db.a.csv", "db.b.csv"} {
		if err := WriteFile(filepath.Join(dir, name), []byte("x")); err != nil {
			t.Fatal(err)
		}
		leaveTemp(t, filepath.Join(dir, name))
	}
	if err := os.WriteFile(filepath.Join(dir, ".db.a.csv.tmpX"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemoveLeftovers(dir, func(name string) bool { return name == "db.a.csv" }); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 4 || !slices.Contains(names, "db.a.csv") || !slices.Contains(names, "db.b.csv") || !slices.Contains(names, ".db.a.csv.tmpX") {
		t.Errorf("left %v, want db.a.csv, db.b.csv, b's leftover and .db.a.csv.tmpX", names)
	}
}
