package annotate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Human holds labels a person gave: flows by their endpoints, either way
// round, a port left empty matching any.
type Human struct {
	labels map[humanKey]bool
	srcs   map[netip.Addr]struct{} // the labels' sources: most flows have none
}

type humanKey struct {
	src, dst         netip.Addr
	srcPort, dstPort int32 // -1: any
}

// LoadHuman reads a person's labels from the file at path (see ReadHuman).
func LoadHuman(path string) (*Human, []*LineError, error) {
	return loadList(path, "labels", func(r io.Reader, name string) (*Human, []*LineError, error) {
		h, err := ReadHuman(r, name)
		return h, nil, err
	})
}

// ReadHuman reads a person's labels: a CSV with the columns SRC_IP, DST_IP,
// SRC_PORT, DST_PORT and class (True or False, in any case, or 1 or 0), as
// alfd features writes them, other columns ignored, so that a person can
// correct the class column of its output (or of the learner's
// queries.ID.csv), in a spreadsheet too; a port may be empty, and a line
// whose class is empty labels nothing. A later line about the same flow
// wins. A line that does not parse is an error naming it: a person's
// labels are not guessed at.
func ReadHuman(r io.Reader, name string) (*Human, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF") // spreadsheets save a byte order mark
		}
		col[h] = i
	}
	for _, need := range []string{"SRC_IP", "DST_IP", "SRC_PORT", "DST_PORT", "class"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s: line 1: no column %s", name, need)
		}
	}
	h := &Human{labels: make(map[humanKey]bool), srcs: make(map[netip.Addr]struct{})}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return h, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		class := rec[col["class"]]
		if class == "" {
			continue // not labelled: a flow the person had no word on
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
		k.src, k.dst = k.src.Unmap(), k.dst.Unmap()
		h.srcs[k.src] = struct{}{}
		switch {
		case strings.EqualFold(class, "true") || class == "1":
			h.labels[k] = true
		case strings.EqualFold(class, "false") || class == "0":
			h.labels[k] = false
		default:
			return nil, fmt.Errorf("%s: line %d: class %q is neither True nor False", name, line, class)
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

// Len is the number of flows labelled.
func (h *Human) Len() int { return len(h.labels) }

// Label looks the flow up, by its exact ports, then with either or both
// left open; then the same the other way round, as a flow's source is
// whichever end the exporter saw first.
func (h *Human) Label(f *Flow) (bool, bool) {
	src, dst := f.Src.Unmap(), f.Dst.Unmap()
	sport, dport := int32(f.SrcPort), int32(f.DstPort)
	for range 2 {
		if _, ok := h.srcs[src]; ok {
			for _, k := range [4]humanKey{
				{src, dst, sport, dport},
				{src, dst, -1, dport},
				{src, dst, sport, -1},
				{src, dst, -1, -1},
			} {
				if v, ok := h.labels[k]; ok {
					return v, true
				}
			}
		}
		src, dst, sport, dport = dst, src, dport, sport
	}
	return false, false
}
