package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteSize is a flag of a size in bytes, written with a binary unit or
// none: 4MiB, 64K, 1048576.
type byteSize int

// sizeUnits are the units byteSize reads, the longest first; K, M and G
// are KiB, MiB and GiB, as ethtool and most capture tools read them.
var sizeUnits = []struct {
	name  string
	bytes int
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}

func (b *byteSize) Set(s string) error {
	digits, unit := s, 1
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(s, u.name); ok {
			digits, unit = rest, u.bytes
			break
		}
	}
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil || n > uint64(math.MaxInt/unit) {
		return fmt.Errorf("size %q: want a number of bytes, or of KiB, MiB or GiB, as 4MiB", s)
	}
	*b = byteSize(int(n) * unit)
	return nil
}

// String writes the size in the largest unit that divides it.
func (b byteSize) String() string {
	for _, u := range sizeUnits[:3] {
		if n := int(b); n != 0 && n%u.bytes == 0 {
			return strconv.Itoa(n/u.bytes) + u.name
		}
	}
	return strconv.Itoa(int(b))
}
