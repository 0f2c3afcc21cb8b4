package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/internal/atomicfile"
	"github.com/alfd/alfd/synth"
	"github.com/alfd/alfd/trap"
)

func runGenerate(ctx context.Context, e *env, args []string) error {
	def := synth.DefaultConfig()
	fs := newFlagSet(e, "generate", "[-o IFC] [--pcap FILE] [options]")
	out := fs.String("o", "", "send the flows, as alfd's flow meter makes them of the packets, on this interface (IFC_SPEC): a trapcap file, or a socket to serve them on (default f:synth.trapcap, unless --pcap is given)")
	pcap := fs.String("pcap", "", "write the packets to this pcap file (headers, and TLS ClientHellos whole)")
	flows := fs.Int("flows", def.Flows, "number of flows")
	seed := fs.Uint64("seed", def.Seed, "random seed: the same seed gives the same flows")
	share := fs.Float64("doh-share", def.DoHShare, "fraction of DoH flows")
	driftAt := fs.Float64("drift-at", def.DriftAt, "fraction of the flows after which traffic drifts (1: no drift)")
	perSecond := fs.Float64("flows-per-second", def.FlowsPerSecond, "how densely flows start, in the flows' own time")
	blacklist := fs.String("blacklist", "", "also write the resolvers' addresses to this file, one per line (ALF's blacklist format)")
	domains := fs.String("domains", "", "also write the DoH flows' server names to this file, one per line (for --domains)")
	d0 := fs.String("d0", "", "also write a D_0 to this file: labelled features (ALF's CSV) of other flows like these before the drift")
	d0Flows := fs.Int("d0-flows", 1000, "flows generated for --d0 (those with features are kept)")
	log, err := parseLogged(e, fs, args, nil)
	if err != nil {
		return err
	}
	switch {
	case *flows <= 0:
		return errors.New("generate: --flows must be positive")
	case *share < 0 || *share > 1:
		return errors.New("generate: --doh-share must be between 0 and 1")
	case *driftAt < 0:
		return errors.New("generate: --drift-at must not be negative")
	case *perSecond <= 0:
		return errors.New("generate: --flows-per-second must be positive")
	case *d0Flows <= 0:
		return errors.New("generate: --d0-flows must be positive")
	}
	if *out == "" && *pcap == "" {
		*out = "f:synth.trapcap"
	}
	var specs []trap.IfcSpec
	if *out != "" {
		var err error
		if specs, err = parseIfcs("generate", "-o", *out, 0, 1); err != nil {
			return err
		}
	}
	// The oracle's lists, crash-safely.
	for path, text := range map[string]func() string{*blacklist: synth.BlacklistText, *domains: synth.DomainsText} {
		if path == "" {
			continue
		}
		if err := atomicfile.WriteFile(path, []byte(text())); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
	}
	if *d0 != "" {
		// Other flows (another seed) from before the drift only: the
		// learner has to find out about the drift by itself.
		cfg := synth.Config{Seed: *seed + 1000, DoHShare: *share, DriftAt: 1, Flows: *d0Flows, Start: def.Start, FlowsPerSecond: *perSecond}
		d := synth.Dataset(cfg, features.SetALF)
		if err := d.WriteFile(*d0); err != nil {
			return fmt.Errorf("generate: --d0: %w", err)
		}
		log.Info("wrote D_0", "file", *d0, "rows", d.Len())
	}
	cfg := synth.Config{Seed: *seed, DoHShare: *share, DriftAt: *driftAt, Flows: *flows, Start: def.Start, FlowsPerSecond: *perSecond}
	if *pcap != "" {
		if err := writePcap(*pcap, cfg); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		log.Info("wrote the packets", "pcap", *pcap, "flows", *flows, "seed", *seed)
	}
	if specs == nil {
		return nil
	}
	// The packets through alfd's flow meter, as ipfixprobe would export
	// them.
	in, err := meteredInput(flowmeter.Config{}, false, func(ctx context.Context, m *flowmeter.Meter) error {
		traffic := synth.NewTraffic(cfg)
		var p synth.Packet
		for n := 1; traffic.Next(&p); n++ {
			m.Packet(p.Frame, p.Time.UnixMicro(), p.WireLen)
			if n&255 == 0 {
				m.Flush()
				if ctx.Err() != nil {
					break
				}
			}
		}
		m.FinishWithin(ctx, flowmeter.FinishGrace)
		return nil
	})
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	sent, err := sendFlows(ctx, in, specs[0], "", log)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if ctx.Err() != nil {
		return nil
	}
	log.Info("generated flows", "output", specs[0].Text, "flows", sent, "seed", *seed)
	return nil
}

// writePcap writes the traffic of cfg to a pcap file, crash-safely.
func writePcap(path string, cfg synth.Config) error {
	return atomicfile.WriteWith(path, func(w io.Writer) error {
		_, err := synth.WritePcap(w, cfg)
		return err
	})
}
