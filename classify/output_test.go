package classify

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/alfd/alfd/trap"
)

// closingBuffer is a file stand-in that knows whether it was closed.
type closingBuffer struct {
	bytes.Buffer
	closed bool
}

func (b *closingBuffer) Close() error { b.closed = true; return nil }

// TestTextOutputSwitch: after Switch, the lines go to the new writer from
// the next Write or Flush, whole; the old writer gets every line before,
// and is closed; CSV starts the new one with its header.
func TestTextOutputSwitch(t *testing.T) {
	tmpl, err := trap.ParseTemplate("uint16 SRC_PORT," + PredictionSpec)
	if err != nil {
		t.Fatal(err)
	}
	b := trap.NewBuilder(tmpl)
	record := func(port int) [][]byte {
		b.Reset()
		b.SetUint(tmpl.Field("SRC_PORT"), uint64(port))
		b.SetUint(tmpl.Field("DOH"), 1)
		b.SetDouble(tmpl.Field("DOH_PROBA"), 0.75)
		b.SetUint(tmpl.Field("MODEL_VERSION"), 3)
		rec, _ := b.Append(nil)
		return [][]byte{rec}
	}
	for _, viaFlush := range []bool{false, true} {
		first, second, third := &closingBuffer{}, &closingBuffer{}, &closingBuffer{}
		out := NewTextOutput(first, false)
		for port := range 3 {
			if err := out.Write(tmpl, record(port)); err != nil {
				t.Fatal(err)
			}
		}
		out.Switch(third)
		out.Switch(second) // the later one wins; the one before is closed unused
		if viaFlush {
			if err := out.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		for port := 3; port < 5; port++ {
			if err := out.Write(tmpl, record(port)); err != nil {
				t.Fatal(err)
			}
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		header := "SRC_PORT,DOH,DOH_PROBA,MODEL_VERSION\n"
		lines := func(ports ...int) string {
			var s strings.Builder
			s.WriteString(header)
			for _, p := range ports {
				fmt.Fprintf(&s, "%d,1,0.75,3\n", p)
			}
			return s.String()
		}
		if got, want := first.String(), lines(0, 1, 2); got != want || !first.closed {
			t.Errorf("flush %v: the first file has %q (closed %v), want %q", viaFlush, got, first.closed, want)
		}
		if got, want := second.String(), lines(3, 4); got != want || !second.closed {
			t.Errorf("flush %v: the second file has %q (closed %v), want %q", viaFlush, got, second.closed, want)
		}
		if third.Len() != 0 || !third.closed {
			t.Errorf("the writer switched away from unused: %q, closed %v", third.String(), third.closed)
		}
	}
}
