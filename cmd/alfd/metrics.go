package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alfd/alfd/classify"
	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/flowmeter"
	"github.com/alfd/alfd/learner/evaluate"
	"github.com/alfd/alfd/trap"
)

// serveMetrics serves Prometheus's text format, as write writes it, at
// http://addr/metrics until ctx ends; wg holds its goroutines. It returns
// the address it listens on.
func serveMetrics(ctx context.Context, wg *sync.WaitGroup, addr string, log *slog.Logger, write func(io.Writer)) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		write(w)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		srv.Shutdown(shutdown)
	})
	return ln.Addr().String(), nil
}

// metricWriter writes metric families in Prometheus's text format.
type metricWriter struct {
	w io.Writer
}

func (m metricWriter) family(name, kind, help string) {
	fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func (m metricWriter) value(name, labels string, v float64) {
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(m.w, "%s%s %s\n", name, labels, strconv.FormatFloat(v, 'g', -1, 64))
}

func (m metricWriter) one(name, kind, help string, v float64) {
	m.family(name, kind, help)
	m.value(name, "", v)
}

// writeMetrics writes what the daemon counts. Counters are since the
// process started; the model's figures are from the last generation, kept
// across restarts.
func (d *daemon) writeMetrics(w io.Writer) {
	m := metricWriter{w}
	st := d.pipeline.Stats()
	m.one("alfd_records_total", "counter", "Flow records read from the input.", float64(st.Records.Load()))
	m.family("alfd_flows_dropped_total", "counter", "Flow records not classified, by reason: ALF's filters, broken or unusable input.")
	for r := features.NoForward; r <= features.TooFewPackets; r++ {
		m.value("alfd_flows_dropped_total", `reason="`+r.String()+`"`, float64(st.Skipped[r].Load()))
	}
	m.value("alfd_flows_dropped_total", `reason="bad_input"`, float64(st.BadInput.Load()))
	m.one("alfd_flows_truncated_total", "counter", "Kept flows whose per-packet arrays were cut at 30 entries.", float64(st.Truncated.Load()))
	m.one("alfd_flows_classified_total", "counter", "Flows classified.", float64(st.Classified.Load()))
	m.one("alfd_flows_doh_total", "counter", "Flows classified as DNS over HTTPS.", float64(st.DoH.Load()))
	share := 0.0
	if n := st.Classified.Load(); n > 0 {
		share = float64(st.DoH.Load()) / float64(n)
	}
	m.one("alfd_doh_share", "gauge", "Share of the classified flows classified as DoH.", share)
	if len(d.lists) > 0 {
		m.one("alfd_flows_labelled_total", "counter", "Classified flows the oracle labelled (the dry run; alfd classify's measure).", float64(st.Labelled.Load()))
		m.family("alfd_oracle_entries", "gauge", "Entries of the oracle's lists as last loaded: addresses, server names, a person's labelled flows.")
		for _, l := range d.lists {
			m.value("alfd_oracle_entries", `list="`+d.cfg.oracle.kind(l.Path())+`"`, float64(l.Len()))
		}
	}
	if d.learner != nil {
		d.writeLearnerMetrics(m, st)
	}
	if measure := d.measure.Load(); measure != nil {
		m.one("alfd_generation_f1_all_predicted", "gauge", "Macro F1 of the model's predictions on every flow the oracle labelled in the last window (--report-every).", measure.F1)
		m.one("alfd_generation_f1_doh_all_predicted", "gauge", "F1 of the DoH class on the same flows.", measure.F1DoH)
		writeRankMetric(m, *measure)
	}
	if d.trapOut != nil {
		writeOutputMetrics(m, d.trapOut.Stats())
	}
	if model := d.slot.Load(); model != nil {
		m.one("alfd_model_version", "gauge", "Version of the model in use.", float64(model.Version))
	}
	if d.model != nil {
		m.family("alfd_model_reloads_total", "counter", "Times alfd classify loaded its model's file again, as it changed or on SIGHUP, by outcome (failed: the model in use stayed).")
		m.value("alfd_model_reloads_total", `outcome="loaded"`, float64(d.reloads.Load()))
		m.value("alfd_model_reloads_total", `outcome="failed"`, float64(d.reloadFailures.Load()))
	}
	if d.packets != nil {
		d.packets.writeMetrics(m)
	}
	writeProcessMetrics(m, d.started)
}

// writeLearnerMetrics writes what the oracle and the learner count.
func (d *daemon) writeLearnerMetrics(m metricWriter, st *classify.Stats) {
	m.one("alfd_learner_offered_total", "counter", "Flows handed to the learner as candidates.", float64(st.Offered.Load()))
	m.one("alfd_learner_queue_drops_total", "counter", "Candidates dropped because the learner's queue was full.", float64(d.learner.Dropped()))
	m.one("alfd_learner_ral_pool_full_total", "counter", "Flows RAL chose to ask that a generation's full pool turned away.", float64(d.learner.RALPoolFull()))
	m.one("alfd_queries_total", "counter", "Flows the oracle was asked about.", float64(d.learner.Asked()))
	m.one("alfd_queries_unknown_total", "counter", "Flows the oracle was asked about and could not label (none of its lists knew them).", float64(d.learner.Unknown()))
	m.one("alfd_generations_ended_total", "counter", "Generations the fast path ended.", float64(st.Generations.Load()))
	m.one("alfd_generation_errors_total", "counter", "Generations the learner could not finish (see the log); the model in use goes on.", float64(d.learner.Failed()))
	if r := d.learner.LastReport(); r != nil {
		m.one("alfd_generation", "gauge", "The last generation the learner ran.", float64(r.Generation))
		m.one("alfd_generation_timestamp_seconds", "gauge", "When the last generation the learner ran began, in seconds since the epoch.", float64(r.Time.UnixNano())/1e9)
		f1 := r.CurrentTest.F1
		if r.Swapped {
			f1 = r.Metrics["test_testset"].F1
		}
		m.one("alfd_model_f1", "gauge", "Macro F1 of the model in use on held-out rows of D_i, at the last generation.", f1)
		if all, ok := r.Metrics["test_all_predicted"]; ok {
			m.one("alfd_generation_f1_all_predicted", "gauge", "Macro F1 of the last generation's predictions on every labelled flow (dry run).", all.F1)
			writeRankMetric(m, all)
		}
		m.one("alfd_training_seconds", "gauge", "Time the last generation spent training.", r.TrainSeconds)
		m.one("alfd_db_rows", "gauge", "Rows of D_i after the last generation.", float64(r.DBSize))
	}
}

// writeRankMetric writes how the model's probabilities ranked the labelled
// flows of the last generation or window, when both classes were there.
func writeRankMetric(m metricWriter, all evaluate.Metrics) {
	if all.ROCAUC != nil {
		m.one("alfd_generation_roc_auc_all_predicted", "gauge", "ROC AUC of the model's probabilities on every labelled flow of the last generation (or window): how well they rank DoH first, over every threshold.", *all.ROCAUC)
	}
}

// writeProcessMetrics writes how long alfd has run and which build it is.
func writeProcessMetrics(m metricWriter, started time.Time) {
	m.one("alfd_uptime_seconds", "gauge", "Time since alfd started.", time.Since(started).Seconds())
	m.family("alfd_build_info", "gauge", "The build alfd runs: its version, commit and Go's version.")
	m.value("alfd_build_info", `version="`+strings.ReplaceAll(version(), `"`, `'`)+`"`, 1)
}

// writeOutputMetrics writes what a TRAP output counts.
func writeOutputMetrics(m metricWriter, out trap.OutputStats) {
	m.one("alfd_output_records_total", "counter", "Records sent on the TRAP output.", float64(out.Messages))
	m.one("alfd_output_dropped_total", "counter", "Records the TRAP output dropped (no reader, or readers too slow for its timeout).", float64(out.Dropped))
	m.one("alfd_output_clients", "gauge", "Readers connected to the TRAP output.", float64(out.Clients))
}

// writeMetrics writes what the flow meters, the eBPF programs and the
// capture sockets count.
func (in *packetInput) writeMetrics(m metricWriter) {
	_, skipped, exported, _ := in.meterStats()
	// Each meter's and socket's own counts: one that falls behind the
	// others has more than its share of the flows.
	m.family("alfd_packets_total", "counter", "Packets each flow meter saw.")
	for i, mt := range in.meters {
		m.value("alfd_packets_total", `meter="`+strconv.Itoa(i)+`"`, float64(mt.Stats().Packets.Load()))
	}
	m.family("alfd_packets_skipped_total", "counter", "Packets that made no flow, by reason.")
	for _, r := range flowmeter.SkipReasons() {
		m.value("alfd_packets_skipped_total", `reason="`+r.String()+`"`, float64(skipped[r.String()]))
	}
	m.family("alfd_meter_flows_total", "counter", "Flows the meters ended, by reason.")
	for _, r := range flowmeter.EndReasons() {
		m.value("alfd_meter_flows_total", `reason="`+r.String()+`"`, float64(exported[r.String()]))
	}
	var assembled, unassembled, truncated, initials, malformed uint64
	for _, mt := range in.meters {
		st := mt.Stats()
		assembled, unassembled, truncated = assembled+st.HellosAssembled.Load(), unassembled+st.HellosUnassembled.Load(), truncated+st.SNITruncated.Load()
		initials, malformed = initials+st.QUICInitials.Load(), malformed+st.QUICMalformed.Load()
	}
	m.family("alfd_meter_tls_split_hellos_total", "counter", "TLS ClientHellos over several TCP segments or QUIC Initial packets, by whether the meters put them back together (not when longer than 4 KiB, no buffer was free, a segment was missing, out of order or cut by the capture, a QUIC hello came in too many pieces, or the flow ended first).")
	m.value("alfd_meter_tls_split_hellos_total", `outcome="assembled"`, float64(assembled))
	m.value("alfd_meter_tls_split_hellos_total", `outcome="unassembled"`, float64(unassembled))
	m.one("alfd_meter_sni_truncated_total", "counter", "TLS server names longer than a flow keeps, cut.", float64(truncated))
	m.family("alfd_meter_quic_initials_total", "counter", "QUIC clients' Initial packets the meters decrypted (--quic), by whether they parsed (malformed: their header or frames did not, a frame cut by the capture aside).")
	m.value("alfd_meter_quic_initials_total", `outcome="read"`, float64(initials))
	m.value("alfd_meter_quic_initials_total", `outcome="malformed"`, float64(malformed))
	m.family("alfd_meter_ring_drops_total", "counter", "Flows each meter dropped because its ring to its consumer was full.")
	for i, mt := range in.meters {
		m.value("alfd_meter_ring_drops_total", `meter="`+strconv.Itoa(i)+`"`, float64(mt.Stats().RingDrops.Load()))
	}
	if p := in.bpf; p != nil {
		if c, err := p.Counts(); err == nil {
			m.family("alfd_bpf_packets_total", "counter", "Packets alfd's eBPF programs saw, by what they did: passed up, filtered out (unwanted port), counted in the kernel's flow table, unparsed.")
			for _, v := range []struct {
				name string
				n    uint64
			}{{"passed", c.Passed}, {"filtered", c.Dropped}, {"counted", c.Counted}, {"unparsed", c.Unparsed}} {
				m.value("alfd_bpf_packets_total", `verdict="`+v.name+`"`, float64(v.n))
			}
			m.one("alfd_bpf_table_full_flows_total", "counter", "Long flows the meters would have had the kernel count, for which its table (--bpf-flows) had no room: their packets all went up.", float64(c.Full))
			m.one("alfd_bpf_xdp_no_vlan_hint_total", "counter", "Frames at XDP whose driver could not tell the VLAN tag it took off (a flow's copies in two VLANs share their kernel counts; turn rx-vlan-offload off).", float64(c.NoVLANHint))
		}
	}
	if c := in.capture; c != nil {
		counts := c.EachSocket()
		m.family("alfd_capture_received_total", "counter", "Packets each AF_PACKET socket received, by the kernel's count (socket i feeds meter i).")
		for i, sc := range counts {
			m.value("alfd_capture_received_total", `socket="`+strconv.Itoa(i)+`"`, float64(sc.Received))
		}
		m.family("alfd_capture_kernel_drops_total", "counter", "Packets the kernel dropped because a socket's ring was full.")
		for i, sc := range counts {
			m.value("alfd_capture_kernel_drops_total", `socket="`+strconv.Itoa(i)+`"`, float64(sc.Dropped))
		}
	}
}
