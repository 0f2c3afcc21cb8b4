package annotate

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Flow is what an oracle looks at: the flow's endpoints, its TLS server
// name, and a label the data may already carry.
type Flow struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	SNI              string
	// Label is the label in the data itself (ALF's miners annotator):
	// 1 DoH, 0 not, -1 none.
	Label int8
}

// Oracle labels flows. known is false when it cannot tell.
type Oracle interface {
	Label(f *Flow) (doh, known bool)
}

// Label makes the Blacklist an Oracle: it always knows.
func (b *Blacklist) Label(f *Flow) (bool, bool) {
	return b.IsDoH(f.Src, f.Dst, f.SrcPort, f.DstPort), true
}

// InData is ALF's miners annotator: the label the flow already carries.
type InData struct{}

// Label returns the flow's own label, if it has one.
func (InData) Label(f *Flow) (bool, bool) { return f.Label == 1, f.Label >= 0 }

// Domains labels a flow DoH when its TLS server name is a listed domain or
// under one (dns.google lists dns.google and a.dns.google). It does not know
// flows without a server name.
type Domains struct {
	names map[string]bool
}

// ReadDomains reads a domain list: one name per line; blank lines and
// lines starting with # are ignored.
func ReadDomains(r io.Reader) (*Domains, error) {
	d := &Domains{names: make(map[string]bool)}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(sc.Text()), "."))
		if line != "" && line[0] != '#' {
			d.names[line] = true
		}
	}
	return d, sc.Err()
}

// Label checks the server name and each of its parent domains.
func (d *Domains) Label(f *Flow) (bool, bool) {
	name := strings.ToLower(strings.TrimSuffix(f.SNI, "."))
	if name == "" {
		return false, false
	}
	for {
		if d.names[name] {
			return true, true
		}
		_, parent, ok := strings.Cut(name, ".")
		if !ok {
			return false, true
		}
		name = parent
	}
}

// Human holds labels a person gave: flows by their endpoints, a port left
// empty matching any.
type Human struct {
	labels map[humanKey]bool
}

type humanKey struct {
	src, dst         netip.Addr
	srcPort, dstPort int32 // -1: any
}

// ReadHuman reads a person's labels: a CSV with the columns SRC_IP, DST_IP,
// SRC_PORT, DST_PORT and class (True or False), as alfd features writes
// them; a port may be empty. A line that does not parse is an error naming
// it.
func ReadHuman(r io.Reader, name string) (*Human, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"SRC_IP", "DST_IP", "SRC_PORT", "DST_PORT", "class"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s: line 1: no column %s", name, need)
		}
	}
	h := &Human{labels: make(map[humanKey]bool)}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return h, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var k humanKey
		var perr error
		if k.src, perr = netip.ParseAddr(rec[col["SRC_IP"]]); perr == nil {
			k.dst, perr = netip.ParseAddr(rec[col["DST_IP"]])
		}
		if perr == nil {
			k.srcPort, perr = parsePort(rec[col["SRC_PORT"]])
		}
		if perr == nil {
			k.dstPort, perr = parsePort(rec[col["DST_PORT"]])
		}
		if perr != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, line, perr)
		}
		switch rec[col["class"]] {
		case "True", "true", "1":
			h.labels[k] = true
		case "False", "false", "0":
			h.labels[k] = false
		default:
			return nil, fmt.Errorf("%s: line %d: class %q is neither True nor False", name, line, rec[col["class"]])
		}
	}
}

func parsePort(s string) (int32, error) {
	if s == "" {
		return -1, nil
	}
	p, err := strconv.ParseUint(s, 10, 16)
	return int32(p), err
}

// Label looks the flow up, by its exact ports, then with either or both
// left open.
func (h *Human) Label(f *Flow) (bool, bool) {
	for _, k := range [4]humanKey{
		{f.Src, f.Dst, int32(f.SrcPort), int32(f.DstPort)},
		{f.Src, f.Dst, -1, int32(f.DstPort)},
		{f.Src, f.Dst, int32(f.SrcPort), -1},
		{f.Src, f.Dst, -1, -1},
	} {
		if v, ok := h.labels[k]; ok {
			return v, true
		}
	}
	return false, false
}

// Chain asks its oracles in order; the first that knows answers. Put a
// person's labels first: they replace the automatic ones.
type Chain []Oracle

// Label asks each oracle in turn.
func (c Chain) Label(f *Flow) (bool, bool) {
	for _, o := range c {
		if doh, ok := o.Label(f); ok {
			return doh, true
		}
	}
	return false, false
}

// Reloading keeps a blacklist fresh: Watch reads it again whenever its file
// changes, and Load, safe from any goroutine, returns the current one.
type Reloading struct {
	path  string
	ports []uint16
	cur   atomic.Pointer[Blacklist]
	stamp fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// LoadReloading loads the blacklist at path, narrowed to ports if any.
func LoadReloading(path string, ports []uint16) (*Reloading, []*LineError, error) {
	r := &Reloading{path: path, ports: ports}
	bad, err := r.reload()
	return r, bad, err
}

func (r *Reloading) reload() ([]*LineError, error) {
	fi, err := os.Stat(r.path)
	if err != nil {
		return nil, fmt.Errorf("blacklist: %w", err)
	}
	b, bad, err := LoadBlacklist(r.path)
	if err != nil {
		return nil, err
	}
	if len(r.ports) > 0 {
		b = b.WithPorts(r.ports...)
	}
	r.cur.Store(b)
	r.stamp = fileStamp{fi.ModTime(), fi.Size()}
	return bad, nil
}

// Load returns the current blacklist.
func (r *Reloading) Load() *Blacklist { return r.cur.Load() }

// Label makes Reloading an Oracle.
func (r *Reloading) Label(f *Flow) (bool, bool) { return r.Load().Label(f) }

// Watch checks the file every interval (never when 0) until ctx ends and
// reloads it when its time or size changed, and at once, whatever changed,
// when now delivers (SIGHUP). A file that fails to load keeps the old
// blacklist in use; report says what happened either way.
func (r *Reloading) Watch(ctx context.Context, interval time.Duration, now <-chan os.Signal, report func(bad []*LineError, err error)) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-now:
			report(r.reload())
			continue
		case <-tick:
		}
		fi, err := os.Stat(r.path)
		if err != nil {
			report(nil, fmt.Errorf("blacklist: %w", err))
			continue
		}
		if (fileStamp{fi.ModTime(), fi.Size()}) == r.stamp {
			continue
		}
		report(r.reload())
	}
}
