package annotate

import "net/netip"

// Flow is what an oracle looks at: the flow's endpoints and its TLS (or
// QUIC) server name, empty when it has none.
type Flow struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	SNI              string
}

// Oracle labels flows. known is false when it cannot tell.
type Oracle interface {
	Label(f *Flow) (doh, known bool)
}

// Label makes the Blacklist an Oracle: it always knows.
func (b *Blacklist) Label(f *Flow) (bool, bool) {
	return b.IsDoH(f.Src, f.Dst, f.SrcPort, f.DstPort), true
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

// Either labels a flow DoH when one of its oracles says so, and not DoH
// when one knows it and none says so; it does not know a flow that none of
// them knows. It puts lists together: Either{domains, blacklist} calls a
// flow DoH when its server name or its address is listed.
type Either []Oracle

// Label asks each oracle until one says DoH.
func (e Either) Label(f *Flow) (doh, known bool) {
	for _, o := range e {
		d, k := o.Label(f)
		if d && k {
			return true, true
		}
		known = known || k
	}
	return false, known
}
