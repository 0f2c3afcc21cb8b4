package annotate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// Blacklist holds the addresses of DoH resolvers and the networks they
// are in: IPv4 addresses in one roaring bitmap and IPv4 networks as
// ranges in another, IPv6 addresses and networks in sets by prefix length.
// A flow is DoH when its source or destination is listed, as ALF decides;
// ports, if given, narrow that to flows with a listed address on one of
// them (so that DNS over TLS to a listed resolver on port 853 is not
// DoH). It is immutable and safe for concurrent use.
type Blacklist struct {
	v4     *roaring.Bitmap           // addresses
	v4nets *roaring.Bitmap           // the addresses of networks, as ranges
	nets4  map[netip.Prefix]struct{} // the IPv4 networks, to count them
	v6     []v6Set                   // by prefix length, longest first
	ports  map[uint16]bool           // nil: any port
}

// v6Set is the IPv6 networks of one prefix length (128: addresses), each
// held as its masked address.
type v6Set struct {
	bits int
	nets map[[16]byte]struct{}
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
// blacklist.txt, or a network in CIDR notation (192.0.2.0/24,
// 2001:db8::/32) as firewalls' and NEMEA's blacklists give them. Blank
// lines, lines starting with # and what follows a # after a space are
// ignored. A line that is neither is skipped and reported in bad, with
// its number; so is a network of every address (0.0.0.0/0, ::/0), surely
// a mistake.
func LoadBlacklist(path string) (b *Blacklist, bad []*LineError, err error) {
	return loadList(path, "blacklist", ReadBlacklist)
}

// ReadBlacklist reads a blacklist from r; name is used in errors.
func ReadBlacklist(r io.Reader, name string) (*Blacklist, []*LineError, error) {
	b := &Blacklist{v4: roaring.New(), v4nets: roaring.New()}
	bad, err := readLines(r, name, "an IP address or network", func(line string) error {
		if !strings.Contains(line, "/") {
			a, err := netip.ParseAddr(line)
			if err != nil {
				return err
			}
			return b.add(netip.PrefixFrom(a.WithZone(""), a.BitLen()))
		}
		p, err := netip.ParsePrefix(line)
		if err != nil {
			return err
		}
		return b.add(p)
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

// readLines gives add each line of r with its spaces and a comment (from
// a # after a space) trimmed, but blank lines and lines starting with #. A
// line add refuses is reported in bad as not being want.
func readLines(r io.Reader, name, want string, add func(line string) error) (bad []*LineError, err error) {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		} else if i := strings.Index(line, "\t#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
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

// add lists the network p (an address when all its bits are set). An
// IPv4 network mapped into IPv6 is listed as IPv4, as its addresses are.
// A network of every address, IPv4 or IPv6, is refused: it makes every
// flow DoH.
func (b *Blacklist) add(p netip.Prefix) error {
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	if bits == 0 {
		return errors.New("a network of every address")
	}
	p = netip.PrefixFrom(a, bits).Masked()
	switch {
	case a.Is4() && bits == 32:
		b.v4.Add(v4Word(p.Addr()))
	case a.Is4():
		if b.nets4 == nil {
			b.nets4 = make(map[netip.Prefix]struct{})
		}
		b.nets4[p] = struct{}{}
		first := uint64(v4Word(p.Addr()))
		b.v4nets.AddRange(first, first+1<<(32-bits))
	default:
		i := slices.IndexFunc(b.v6, func(s v6Set) bool { return s.bits <= bits })
		if i < 0 {
			i = len(b.v6)
		}
		if i == len(b.v6) || b.v6[i].bits != bits {
			b.v6 = slices.Insert(b.v6, i, v6Set{bits: bits, nets: make(map[[16]byte]struct{})})
		}
		b.v6[i].nets[p.Addr().As16()] = struct{}{}
	}
	return nil
}

// v4Word is an IPv4 address as a number.
func v4Word(a netip.Addr) uint32 {
	v := a.As4()
	return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
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

// Len is the number of distinct entries: addresses and networks.
func (b *Blacklist) Len() int {
	n := int(b.v4.GetCardinality()) + len(b.nets4)
	for _, s := range b.v6 {
		n += len(s.nets)
	}
	return n
}

// Contains reports whether a is listed or in a listed network.
func (b *Blacklist) Contains(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		w := v4Word(a)
		if b.v4.Contains(w) || b.nets4 != nil && b.v4nets.Contains(w) {
			return true
		}
		if len(b.v6) == 0 || b.v6[len(b.v6)-1].bits > 96 {
			return false // no IPv6 network holds IPv4's mapped addresses
		}
		a = netip.AddrFrom16(a.As16())
	}
	for _, s := range b.v6 {
		if _, ok := s.nets[netip.PrefixFrom(a, s.bits).Masked().Addr().As16()]; ok {
			return true
		}
	}
	return false
}

// IsDoH labels a flow: DoH when its source or its destination is listed
// (and, with ports, on a listed port).
func (b *Blacklist) IsDoH(src, dst netip.Addr, srcPort, dstPort uint16) bool {
	return b.Contains(dst) && (b.ports == nil || b.ports[dstPort]) ||
		b.Contains(src) && (b.ports == nil || b.ports[srcPort])
}
