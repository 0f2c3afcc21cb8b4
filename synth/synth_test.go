package synth

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/flowmeter"
)

func generate(cfg Config) []Flow {
	g := New(cfg)
	var flows []Flow
	var f Flow
	for g.Next(&f) {
		flows = append(flows, f)
	}
	return flows
}

// TestAddressesNameNoRealHost: every address the generator makes is a
// private or documentation one (RFC 1918, 4193, 5737, 3849).
func TestAddressesNameNoRealHost(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flows = 4000
	var nets []netip.Prefix
	for _, p := range []string{"10.0.0.0/8", "fd00::/8", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"} {
		nets = append(nets, netip.MustParsePrefix(p))
	}
	for i, f := range generate(cfg) {
		for _, a := range []netip.Addr{f.Src, f.Dst} {
			if !slices.ContainsFunc(nets, func(p netip.Prefix) bool { return p.Contains(a) }) {
				t.Fatalf("flow %d: %v is neither a private nor a documentation address", i, a)
			}
		}
	}
}

func TestFlowsAreConsistent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flows = 4000
	flows := generate(cfg)
	if len(flows) != cfg.Flows {
		t.Fatalf("%d flows, want %d", len(flows), cfg.Flows)
	}
	resolvers := Resolvers()
	doh := 0
	for i, f := range flows {
		if f.DoH {
			doh++
		}
		if slices.Contains(resolvers, f.Dst) != f.DoH {
			t.Fatalf("flow %d: DoH=%v but destination %v", i, f.DoH, f.Dst)
		}
		if f.Drifted != (i >= cfg.Flows/2) {
			t.Fatalf("flow %d: Drifted=%v", i, f.Drifted)
		}
		var fwd, rev int
		var fwdBytes, revBytes uint64
		for k := range f.PPI {
			if f.Dirs[k] > 0 {
				fwd++
				fwdBytes += uint64(f.Lengths[k]) + headerBytes
			} else {
				rev++
				revBytes += uint64(f.Lengths[k]) + headerBytes
			}
			if f.Times[k].Before(f.First) || f.Times[k].After(f.Last) || k > 0 && f.Times[k].Before(f.Times[k-1]) {
				t.Fatalf("flow %d: packet %d at %v outside %v..%v or out of order", i, k, f.Times[k], f.First, f.Last)
			}
			if f.Lengths[k] == 0 || f.Lengths[k] > 1430 {
				t.Fatalf("flow %d: payload of %d bytes", i, f.Lengths[k])
			}
		}
		if uint32(fwd) > f.Packets || uint32(rev) > f.PacketsRev || fwdBytes > f.Bytes || revBytes > f.BytesRev {
			t.Fatalf("flow %d: counters below its per-packet information", i)
		}
		if f.Bytes < uint64(f.Packets)*headerBytes || f.TCPFlags != 0x1b || f.PacketsRev < 3 {
			t.Fatalf("flow %d: %d packets %d bytes flags %#x", i, f.Packets, f.Bytes, f.TCPFlags)
		}
	}
	if doh < 1800 || doh > 2200 {
		t.Errorf("%d DoH flows of 4000, want about half", doh)
	}
	if !flows[len(flows)-1].First.After(flows[0].First) {
		t.Error("flows do not move on in time")
	}
}

func TestDriftPadsDoH(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flows = 4000
	// RFC 8467 pads answers to 468-byte blocks (plus 30 bytes of framing
	// here): common after the drift, absent before.
	padded := map[bool][2]int{}
	for _, f := range generate(cfg) {
		if !f.DoH {
			continue
		}
		c := padded[f.Drifted]
		for k := range f.PPI {
			if f.Dirs[k] < 0 {
				c[1]++
				if f.Lengths[k] == 498 {
					c[0]++
				}
			}
		}
		padded[f.Drifted] = c
	}
	before, after := padded[false], padded[true]
	if float64(before[0]) > 0.02*float64(before[1]) || float64(after[0]) < 0.3*float64(after[1]) {
		t.Errorf("498-byte answers: %d of %d before the drift, %d of %d after", before[0], before[1], after[0], after[1])
	}
}

func TestSeedsRepeat(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flows = 500
	capture := func(cfg Config) []byte {
		var buf bytes.Buffer
		if _, err := WritePcap(&buf, cfg); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := capture(cfg), capture(cfg)
	cfg.Seed++
	c := capture(cfg)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Error("the same seed must give the same traffic, another seed other traffic")
	}
}

// TestTrafficMetersToTheFlows: the packets of the traffic, through alfd's
// flow meter, make exactly the generator's flows: counters, times, the
// per-packet information and the server name.
func TestTrafficMetersToTheFlows(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flows = 2000
	want := map[[2]netip.AddrPort]Flow{}
	for _, f := range generate(cfg) {
		want[[2]netip.AddrPort{netip.AddrPortFrom(f.Src, f.SrcPort), netip.AddrPortFrom(f.Dst, f.DstPort)}] = f
	}
	got := 0
	err := MeterTraffic(cfg, func(f *flowmeter.Flow) {
		k := f.Key()
		w, ok := want[[2]netip.AddrPort{netip.AddrPortFrom(f.Src(), k.SrcPort), netip.AddrPortFrom(f.Dst(), k.DstPort)}]
		if !ok {
			t.Fatalf("a flow %v:%d -> %v:%d the generator did not make", f.Src(), k.SrcPort, f.Dst(), k.DstPort)
		}
		var mf, wf features.Flow
		f.FeatureFlow(&mf)
		w.FeatureFlow(&wf)
		if mf != wf || string(f.SNI()) != w.SNI || f.TCPFlags() != w.TCPFlags || f.TCPFlagsRev() != w.TCPFlagsRev {
			t.Fatalf("metered flow %v:%d differs from the generated one", f.Src(), k.SrcPort)
		}
		got++
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != cfg.Flows || len(want) != cfg.Flows {
		t.Errorf("%d flows metered, %d generated (%d distinct)", got, cfg.Flows, len(want))
	}
}
