package annotate

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
)

// Domains labels a flow by its TLS server name (over TCP, or QUIC's): DoH
// when the name is listed or is under a listed one (dns.google lists
// dns.google and a.dns.google), not DoH when it has another name. It does
// not know flows without a server name. It is immutable and safe for
// concurrent use.
//
// It finds DoH to resolvers whose addresses a blacklist cannot name: those
// behind a CDN's shared addresses, or new ones of a known service.
type Domains struct {
	names map[string]struct{}
}

// LoadDomains reads a list of DoH servers' names from the file at path
// (see ReadDomains).
func LoadDomains(path string) (*Domains, []*LineError, error) {
	return loadList(path, "domains", ReadDomains)
}

// ReadDomains reads a list of DoH servers' names, one a line: a name
// (dns.google), the same with a wildcard (*.dns.google), or a DoH URL
// (https://dns.google/dns-query), as lists of resolvers give them; case and
// a final dot do not matter. Blank lines and lines starting with # are
// ignored. A line that is none of these, or that names an address or a
// whole top-level domain, is skipped and reported in bad, with its number;
// name is used in errors.
func ReadDomains(r io.Reader, name string) (*Domains, []*LineError, error) {
	d := &Domains{names: make(map[string]struct{})}
	bad, err := readLines(r, name, "a server name", func(line string) error {
		n, err := serverName(line)
		if err == nil {
			d.names[n] = struct{}{}
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return d, bad, nil
}

// serverName is the name a line of a domain list gives, in lower case.
func serverName(line string) (string, error) {
	if strings.Contains(line, "://") {
		u, err := url.Parse(line)
		if err != nil {
			return "", err
		}
		if u.Scheme != "https" {
			return "", fmt.Errorf("a URL of scheme %q: DoH's are https", u.Scheme)
		}
		line = u.Hostname()
	}
	name := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(line, "*."), "."))
	if _, err := netip.ParseAddr(name); err == nil {
		return "", errors.New("it is an address: list it in the blacklist")
	}
	if len(name) > 253 {
		return "", errors.New("longer than 253 bytes")
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return "", errors.New("it would list a whole top-level domain")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("its label %q is not of 1 to 63 bytes", l)
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%q is not a letter, digit, - or _ (write international names as xn--)", c)
			}
		}
	}
	return name, nil
}

// Len is the number of names listed.
func (d *Domains) Len() int { return len(d.names) }

// Label checks the server name and each of its parent domains.
func (d *Domains) Label(f *Flow) (bool, bool) {
	name := strings.ToLower(strings.TrimSuffix(f.SNI, "."))
	if name == "" {
		return false, false
	}
	for {
		if _, ok := d.names[name]; ok {
			return true, true
		}
		_, parent, ok := strings.Cut(name, ".")
		if !ok {
			return false, true
		}
		name = parent
	}
}
