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

// LineError is a blacklist line that is not an address.
type LineError struct {
	File string
	Line int
	Text string
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %q is not an IP address: %v", e.File, e.Line, e.Text, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// LoadBlacklist reads a blacklist: one address per line, as ALF's
// blacklist.txt. Blank lines and lines starting with # are ignored. A line
// that is not an address is skipped and reported in bad, with its number.
func LoadBlacklist(path string) (b *Blacklist, bad []*LineError, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("blacklist: %w", err)
	}
	defer f.Close()
	b, bad, err = ReadBlacklist(f, path)
	if err != nil {
		return nil, nil, fmt.Errorf("blacklist %s: %w", path, err)
	}
	return b, bad, nil
}

// ReadBlacklist reads a blacklist from r; name is used in errors.
func ReadBlacklist(r io.Reader, name string) (*Blacklist, []*LineError, error) {
	b := &Blacklist{v4: roaring.New(), v6: make(map[[16]byte]struct{})}
	var bad []*LineError
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		a, err := netip.ParseAddr(line)
		if err != nil {
			bad = append(bad, &LineError{File: name, Line: n, Text: line, Err: err})
			continue
		}
		b.add(a)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	return b, bad, nil
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
