package reload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// textFile is a File whose text is what its file holds, but for a file
// that says "broken", which fails to read.
type textFile struct {
	path  string
	text  string
	reads int
	stamp Stamp
}

func (f *textFile) Path() string { return f.path }

func (f *textFile) Reload() error {
	return f.stamp.Read(f.path, func() error {
		f.reads++
		data, err := os.ReadFile(f.path)
		if err == nil && string(data) == "broken" {
			err = errors.New("broken")
		}
		if err != nil {
			return err
		}
		f.text = string(data)
		return nil
	})
}

func (f *textFile) Changed() (bool, error) { return f.stamp.Changed(f.path) }

// event is what the report heard, on Watch's goroutine.
type event struct {
	text  string
	reads int
	err   error
}

// TestWatch: a change is read once; a file that fails to read keeps the
// old text and is tried again at each look until it reads; a file that
// cannot be looked at is reported and not read; asked, every file is read
// though none changed.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list")
	write := func(text string, mod time.Time) {
		t.Helper()
		// As a file should be replaced: whole, by a rename.
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, mod, mod); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now().Add(-time.Hour)
	write("one", start)
	f := &textFile{path: path}
	if err := f.Reload(); err != nil || f.text != "one" {
		t.Fatalf("first read: %q, %v", f.text, err)
	}
	events := make(chan event, 1000)
	now := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, 2*time.Millisecond, now, []File{f}, func(file File, err error) {
			tf := file.(*textFile)
			events <- event{tf.text, tf.reads, err}
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	next := func() event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("nothing reported")
		}
		return event{}
	}
	quiet := func() {
		t.Helper()
		select {
		case e := <-events:
			t.Fatalf("reported unasked: %+v", e)
		case <-time.After(30 * time.Millisecond):
		}
	}

	quiet()
	write("two", start.Add(time.Second))
	if e := next(); e.err != nil || e.text != "two" || e.reads != 2 {
		t.Fatalf("after a change: %+v", e)
	}
	quiet()
	write("broken", start.Add(2*time.Second))
	for range 2 {
		if e := next(); e.err == nil || e.text != "two" {
			t.Fatalf("a broken file: %+v, want an error and the old text", e)
		}
	}
	write("three", start.Add(3*time.Second))
	for e := next(); e.text != "three"; e = next() {
		if e.err == nil {
			t.Fatalf("%+v before the good file", e)
		}
	}
	quiet()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	e := next()
	if !errors.Is(e.err, os.ErrNotExist) {
		t.Fatalf("a missing file: %+v", e)
	}
	if e2 := next(); e2.reads != e.reads {
		t.Fatalf("a missing file was read: %+v after %+v", e2, e)
	}
	// Back with the time and size it was read with: polling sees no
	// change; asked, Watch reads it.
	write("THREE", start.Add(3*time.Second))
	time.Sleep(30 * time.Millisecond)
	for len(events) > 0 {
		<-events
	}
	quiet()
	now <- os.Interrupt // the daemon sends SIGHUP
	if e := next(); e.err != nil || e.text != "THREE" {
		t.Fatalf("asked: %+v", e)
	}
}
