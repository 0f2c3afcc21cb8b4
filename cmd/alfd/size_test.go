package main

import "testing"

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		text string
	}{
		{"1048576", 1 << 20, "1MiB"},
		{"4MiB", 4 << 20, "4MiB"},
		{"64K", 64 << 10, "64KiB"},
		{"64KiB", 64 << 10, "64KiB"},
		{"1G", 1 << 30, "1GiB"},
		{"1536KiB", 1536 << 10, "1536KiB"},
		{"4097B", 4097, "4097"},
		{"0", 0, "0"},
	} {
		var b byteSize
		if err := b.Set(tc.in); err != nil || int(b) != tc.want || b.String() != tc.text {
			t.Errorf("%q: %d %q, %v; want %d %q", tc.in, int(b), b.String(), err, tc.want, tc.text)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1.5MiB", "4 MiB", "4mb", "99999999999999999999", "9223372036854775807K"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("%q: read as %d; want an error", bad, int(b))
		}
	}
}
