package flowmeter

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/internal/shareddata"
	"github.com/alfd/alfd/trap"
)

// TestUniRecSpecAsIpfixprobe: every field alfd's flow meter exports is in
// the records ipfixprobe exported on CESNET's link (basic, pstats and tls
// plugins), by the same name and of the same type, so that a NEMEA
// consumer reads either alike; but VLAN_ID, which is ipfixprobe's vlan
// plugin's (uint16 VLAN_ID), not run there, and TLS_JA4, which its tls
// plugin has exported since 2025 (string TLS_JA4).
func TestUniRecSpecAsIpfixprobe(t *testing.T) {
	spec, err := trap.ParseIfcSpec("f:" + shareddata.Path(t, "alf", "trapcaps", "data.trapcap.202112071115"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := trap.OpenInput(spec, trap.InputConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rec, err := in.Next()
	if err != nil {
		t.Fatal(err)
	}
	ours, err := trap.ParseTemplate(UniRecSpec)
	if err != nil {
		t.Fatal(err)
	}
	theirs := rec.Template()
	for _, f := range ours.Fields() {
		g := theirs.Field(f.Name)
		switch {
		case f.Name == "VLAN_ID":
			if f.Type != trap.TypeUint16 {
				t.Errorf("%s %s: ipfixprobe's vlan plugin exports uint16 VLAN_ID", f.Type, f.Name)
			}
		case f.Name == "TLS_JA4" || f.Name == "QUIC_SNI":
			if f.Type != trap.TypeString {
				t.Errorf("%s %s: ipfixprobe's tls and quic plugins export strings", f.Type, f.Name)
			}
		case f.Name == "QUIC_VERSION":
			if f.Type != trap.TypeUint32 {
				t.Errorf("%s %s: ipfixprobe's quic plugin exports uint32 QUIC_VERSION", f.Type, f.Name)
			}
		case g == nil:
			t.Errorf("%s %s: not in ipfixprobe's records %q", f.Type, f.Name, theirs.Spec())
		case g.Type != f.Type:
			t.Errorf("%s %s: ipfixprobe's is %s", f.Type, f.Name, g.Type)
		}
	}
}

// TestRecordsFromPcaps meters the shared pcaps on one goroutine and reads
// the flows as UniRec records on another, through a small ring: every flow
// arrives (the cache's last flows wait for room), as ipfixprobe's fields.
func TestRecordsFromPcaps(t *testing.T) {
	paths := ndpiPcaps(t)
	var want []Flow
	for _, p := range paths {
		flows, _ := meterPcap(t, p, Config{})
		want = append(want, flows...)
	}
	m, err := NewMeter(Config{RingSize: 1024}, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range paths {
			// One pcap at a time, each its own capture, as meterPcap does.
			if err := m.ReadPcaps(context.Background(), []string{p}, false); err != nil {
				t.Error(err)
			}
		}
	}()
	recs := NewRecords([]*Meter{m}, done, false)
	tm, err := trap.ParseTemplate(UniRecSpec)
	if err != nil {
		t.Fatal(err)
	}
	fields := features.RequiredSpec
	reader, err := features.NewRecordReader(tm)
	if err != nil {
		t.Fatalf("%s lacks %s: %v", UniRecSpec, fields, err)
	}
	n := 0
	for {
		rec, err := recs.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, trap.ErrTimeout) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n >= len(want) {
			t.Fatalf("more than %d flows", len(want))
		}
		w := &want[n]
		rt := rec.Template()
		var ff, wf features.Flow
		reader.Read(rec, &ff)
		w.FeatureFlow(&wf)
		if rec.IP(rt.Field("SRC_IP")) != w.Src() || rec.IP(rt.Field("DST_IP")) != w.Dst() ||
			rec.Uint16(rt.Field("SRC_PORT")) != w.key.SrcPort || string(rec.String(rt.Field("TLS_SNI"))) != string(w.SNI()) ||
			ff != wf {
			t.Fatalf("record %d differs from flow %v:%d -> %v:%d", n, w.Src(), w.key.SrcPort, w.Dst(), w.key.DstPort)
		}
		n++
	}
	if n != len(want) || m.Stats().RingDrops.Load() != 0 {
		t.Errorf("%d records of %d flows, %d dropped", n, len(want), m.Stats().RingDrops.Load())
	}
	// The one stream has ended: the source has too, for good.
	if _, err := recs.Next(); !errors.Is(err, trap.ErrClosed) {
		t.Errorf("after the end: %v, want trap.ErrClosed", err)
	}
}
