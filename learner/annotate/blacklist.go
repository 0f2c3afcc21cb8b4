package annotate

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// Blacklist holds the addresses of DoH resolvers: IPv4 addresses in a
// roaring bitmap, IPv6 ones in a set. A flow is DoH when its source or
// destination is listed, as ALF decides; ports, if given, narrow that to
// flows with a listed address on one of them (so that DNS over TLS to a
// listed resolver on port 853 is not DoH). It is immutable and safe for
// concurrent use.
type Blacklist struct {
	v4    *roaring.Bitmap
	v6    map[[16]byte]struct{}
	ports map[uint16]bool // nil: any port
}

// LineError is a line of a list that is not what the list holds.
type LineError struct {
	File string
	Line int
	Text string
	Want string // what the list holds: "an IP address", "a server name"
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %q is not %s: %v", e.File, e.Line, e.Text, e.Want, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// LoadBlacklist reads a blacklist: one address per line, as ALF's
// blacklist.txt. Blank lines and lines starting with # are ignored. A line
// that is not an address is skipped and reported in bad, with its number.
func LoadBlacklist(path string) (b *Blacklist, bad []*LineError, err error) {
	return loadList(path, "blacklist", ReadBlacklist)
}

// ReadBlacklist reads a blacklist from r; name is used in errors.
func ReadBlacklist(r io.Reader, name string) (*Blacklist, []*LineError, error) {
	b := &Blacklist{v4: roaring.New(), v6: make(map[[16]byte]struct{})}
	bad, err := readLines(r, name, "an IP address", func(line string) error {
		a, err := netip.ParseAddr(line)
		if err == nil {
			b.add(a)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return b, bad, nil
}

// loadList opens path and reads the list of kind in it with read, whose
// errors name the file.
func loadList[L any](path, kind string, read func(io.Reader, string) (L, []*LineError, error)) (l L, bad []*LineError, err error) {
	f, err := os.Open(path)
	if err != nil {
		return l, nil, fmt.Errorf("%s: %w", kind, err)
	}
	defer f.Close()
	l, bad, err = read(f, path)
	if err != nil {
		return l, nil, fmt.Errorf("%s: %w", kind, err)
	}
	return l, bad, nil
}

// readLines gives add each line of r with its spaces trimmed, but blank
// lines and lines starting with #. A line add refuses is reported in bad
// as not being want.
func readLines(r io.Reader, name, want string, add func(line string) error) (bad []*LineError, err error) {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := add(line); err != nil {
			bad = append(bad, &LineError{File: name, Line: n, Text: line, Want: want, Err: err})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return bad, nil
}

func (b *Blacklist) add(a netip.Addr) {
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		b.v4.Add(uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]))
	} else {
		b.v6[a.As16()] = struct{}{}
	}
}

// WithPorts returns a copy of b that labels a flow DoH only when a listed
// address is on one of ports (the flow's port on that side).
func (b *Blacklist) WithPorts(ports ...uint16) *Blacklist {
	c := *b
	c.ports = make(map[uint16]bool, len(ports))
	for _, p := range ports {
		c.ports[p] = true
	}
	return &c
}

// Len is the number of distinct addresses.
func (b *Blacklist) Len() int { return int(b.v4.GetCardinality()) + len(b.v6) }

// Contains reports whether a is listed.
func (b *Blacklist) Contains(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		return b.v4.Contains(uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]))
	}
	_, ok := b.v6[a.As16()]
	return ok
}

// IsDoH labels a flow: DoH when its source or its destination is listed
// (and, with ports, on a listed port).
func (b *Blacklist) IsDoH(src, dst netip.Addr, srcPort, dstPort uint16) bool {
	return b.Contains(dst) && (b.ports == nil || b.ports[dstPort]) ||
		b.Contains(src) && (b.ports == nil || b.ports[srcPort])
}
