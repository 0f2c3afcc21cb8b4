package dataset

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/alfd/alfd/features"
)

// FuzzReadCSV: any bytes are refused with ErrBadCSV or read; what is read
// writes back as a CSV that reads the same.
func FuzzReadCSV(f *testing.F) {
	header := "class," + strings.Join(features.Names[:], ",")
	f.Add([]byte(header + "\nTrue" + strings.Repeat(",1.5", features.N) + "\nFalse" + strings.Repeat(",-0", features.N) + "\n"))
	f.Add([]byte(header + "\nmaybe" + strings.Repeat(",x", features.N)))
	f.Add([]byte(strings.Join(features.Names[:], ",") + ",other,class\n" + strings.Repeat("1e308,", features.N) + "z,1\n"))
	f.Add([]byte("\"unterminated"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ReadCSV(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			if !errors.Is(err, ErrBadCSV) {
				t.Fatalf("error without ErrBadCSV: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := d.WriteCSV(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := ReadCSV(&buf, "again.csv")
		if err != nil {
			t.Fatalf("what was read does not read back: %v", err)
		}
		if again.Len() != d.Len() {
			t.Fatalf("%d rows read back as %d", d.Len(), again.Len())
		}
		for i := range d.X {
			if again.X[i] != d.X[i] || again.Y[i] != d.Y[i] {
				t.Fatalf("row %d: %v %v read back as %v %v", i, d.X[i], d.Y[i], again.X[i], again.Y[i])
			}
		}
	})
}
