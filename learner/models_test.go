package learner

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// modelFiles reads the files in the models folder of experiment id in dir,
// by name.
func modelFiles(t *testing.T, dir, id string) map[string]string {
	t.Helper()
	files := map[string]string{}
	entries, err := os.ReadDir(filepath.Join(dir, "models", id))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, "models", id, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(data)
	}
	return files
}

// TestExperimentsShareWorkDir: two experiments in one working directory,
// as ALF's --id allows, keep their models apart.
func TestExperimentsShareWorkDir(t *testing.T) {
	d0, oracle, _ := synthSetup(t)
	dir := t.TempDir()
	a, _ := newLearner(t, dir, d0, oracle, 0, func(c *Config) { c.ID, c.Seed = "a", 1 })
	before := modelFiles(t, dir, "a")
	b, _ := newLearner(t, dir, d0, oracle, 0, func(c *Config) { c.ID, c.Seed = "b", 2 })
	if a.Version() != 1 || b.Version() != 1 {
		t.Fatalf("versions %d and %d, want each experiment's first", a.Version(), b.Version())
	}
	if after := modelFiles(t, dir, "a"); !maps.Equal(before, after) {
		t.Error("experiment b's first model changed experiment a's")
	}
	if slices.Equal(slices.Sorted(maps.Values(before)), slices.Sorted(maps.Values(modelFiles(t, dir, "b")))) {
		t.Error("the two experiments trained the same model: the test shows nothing")
	}
}

// TestKeepModels: the working directory keeps the newest KeepModels
// models, the one in use among them, and the leftovers of a model a crash
// cut short; a user's own files stay. A restart from another directory
// loads the model in use.
func TestKeepModels(t *testing.T) {
	d0, oracle, _ := synthSetup(t)
	for _, tc := range []struct {
		keep int
		want []uint32
	}{
		{2, []uint32{9, 10}},
		{20, []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{0, []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	} {
		t.Run(fmt.Sprint(tc.keep), func(t *testing.T) {
			base := t.TempDir()
			t.Chdir(base)
			options := func(c *Config) { c.KeepModels, c.SwapMargin = tc.keep, 1 }
			l, _ := newLearner(t, "wd", d0, oracle, 0, options)
			models := filepath.Join("wd", "models", "t")
			for _, name := range []string{"model-000000.0.txt", "notes.txt"} {
				if err := os.WriteFile(filepath.Join(models, name), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Past version 7, as model-000008 is no octal number.
			for range 9 {
				if _, err := l.Generation(context.Background(), GenerationStats{}); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"notes.txt"}
			for _, v := range tc.want {
				want = append(want, fmt.Sprintf("model-%06d.0.txt", v), fmt.Sprintf("model-%06d.json", v))
			}
			if tc.keep == 0 {
				want = append(want, "model-000000.0.txt")
			}
			if got := slices.Sorted(maps.Keys(modelFiles(t, "wd", "t"))); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Errorf("files %v, want %v", got, want)
			}

			t.Chdir(t.TempDir())
			again, slot := newLearner(t, filepath.Join(base, "wd"), d0, oracle, 0, options)
			if again.Version() != 10 || slot.Load().Version != 10 {
				t.Errorf("after a restart from elsewhere: model v%d in use (v%d in the slot), want v10", again.Version(), slot.Load().Version)
			}
			// A state naming its model by an absolute path, as alfd's
			// did before.
			statePath := filepath.Join(base, "wd", "state.t.json")
			abs := fmt.Sprintf(`{"generation": 9, "model_version": 10, "model": %q}`, filepath.Join(base, "wd", "models", "t", "model-000010.json"))
			if err := os.WriteFile(statePath, []byte(abs), 0o644); err != nil {
				t.Fatal(err)
			}
			if again, slot := newLearner(t, filepath.Join(base, "wd"), d0, oracle, 0, options); again.Version() != 10 || slot.Load().Version != 10 {
				t.Errorf("from an absolute path: model v%d in use (v%d in the slot), want v10", again.Version(), slot.Load().Version)
			}
		})
	}
}

// TestReadTail: a restart reads the end of a long metrics file, from a
// line's start, not the whole file.
func TestReadTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	var all []byte
	for i := range 1000 {
		all = fmt.Appendf(all, "{\"generation\":%d}\n", i)
	}
	if err := os.WriteFile(path, all, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{100, int64(len(all)), 1 << 20} {
		got, err := readTail(path, n)
		if err != nil {
			t.Fatal(err)
		}
		whole := n >= int64(len(all))
		if whole && string(got) != string(all) ||
			!whole && (int64(len(got)) > n || !bytes.HasPrefix(got, []byte("{\"generation\":")) || !bytes.HasSuffix(all, got)) {
			t.Errorf("the last %d bytes: %q", n, got)
		}
	}
}
