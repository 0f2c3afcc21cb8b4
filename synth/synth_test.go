package synth

import (
	"bytes"
	"slices"
	"testing"

	"github.com/alfd/alfd/trap"
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
	enc := NewEncoder()
	records := func(cfg Config) []byte {
		var out []byte
		var err error
		for _, f := range generate(cfg) {
			if out, err = enc.Append(out, &f); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	a, b := records(cfg), records(cfg)
	cfg.Seed++
	c := records(cfg)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Error("the same seed must give the same flows, another seed others")
	}
}

func TestEncoderRecord(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flows = 50
	enc := NewEncoder()
	tm := enc.Template()
	for _, f := range generate(cfg) {
		raw, err := enc.Append(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := tm.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		lengths := rec.Uint16s(tm.Field("PPI_PKT_LENGTHS"))
		times := rec.Times(tm.Field("PPI_PKT_TIMES"))
		if rec.IP(tm.Field("SRC_IP")) != f.Src || rec.IP(tm.Field("DST_IP")) != f.Dst ||
			rec.Uint32(tm.Field("PACKETS")) != f.Packets || rec.Uint64(tm.Field("BYTES_REV")) != f.BytesRev ||
			rec.Time(tm.Field("TIME_LAST")) != trap.TimeOf(f.Last) || string(rec.String(tm.Field("TLS_SNI"))) != f.SNI ||
			lengths.Len() != f.PPI || times.Len() != f.PPI {
			t.Fatalf("record does not match its flow %+v", f)
		}
		for k := range f.PPI {
			if lengths.At(k) != f.Lengths[k] || times.At(k) != trap.TimeOf(f.Times[k]) || rec.Int8s(tm.Field("PPI_PKT_DIRECTIONS")).At(k) != f.Dirs[k] {
				t.Fatalf("packet %d differs", k)
			}
		}
	}
}
