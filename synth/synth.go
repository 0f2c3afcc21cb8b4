// Package synth generates seeded synthetic flows of DNS-over-HTTPS and of
// ordinary HTTPS traffic, with the per-packet information an exporter such
// as ipfixprobe records, and a drift partway through: after it, DoH clients
// pad their messages and keep connections alive with pings (RFC 8467 and
// HTTP/2 habits), and chatty web applications look more like DoH. It lets
// alfd run its whole loop, and its benchmarks, without captured traffic.
package synth

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/alfd/alfd/features"
	"github.com/alfd/alfd/learner/annotate"
	"github.com/alfd/alfd/learner/dataset"
	"github.com/alfd/alfd/trap"
)

// MaxPPI is how many packets of a flow get per-packet information.
const MaxPPI = 30

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagPSH = 0x08
	flagACK = 0x10
)

// Flow is one generated bidirectional flow: counters as an exporter counts
// them (IP bytes, every packet) and per-packet information for the first
// MaxPPI packets that carry payload.
type Flow struct {
	DoH              bool // the ground truth
	Drifted          bool // generated after the drift
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Packets          uint32 // source to destination
	PacketsRev       uint32
	Bytes            uint64
	BytesRev         uint64
	First, Last      time.Time
	TCPFlags         uint8
	TCPFlagsRev      uint8
	SNI              string
	PPI              int // entries used in the arrays below
	Lengths          [MaxPPI]uint16
	Dirs             [MaxPPI]int8 // +1 from the source, -1 back
	Times            [MaxPPI]time.Time
	Flags            [MaxPPI]uint8

	// events are the flow's packets, kept when a Traffic asks for them.
	events []event
}

// event is one packet of a flow.
type event struct {
	t       time.Time
	dir     int8 // +1 from the client
	payload int
	flags   uint8
	hello   bool // the ClientHello, which Traffic writes out whole
}

// Config sets up a Generator.
type Config struct {
	Seed uint64
	// DoHShare is the fraction of flows that are DoH.
	DoHShare float64
	// DriftAt is the fraction of the flows after which traffic drifts; 1 or
	// more means no drift.
	DriftAt float64
	// Flows is how many flows the generator makes (it places the drift).
	Flows int
	// Start is the time of the first flow; FlowsPerSecond sets how densely
	// the flows start after it.
	Start          time.Time
	FlowsPerSecond float64
}

// DefaultConfig is what alfd generate uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		Seed:           1,
		DoHShare:       0.5,
		DriftAt:        0.5,
		Flows:          20000,
		Start:          time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC),
		FlowsPerSecond: 50,
	}
}

// Generator makes flows. It is deterministic for a given Config.
type Generator struct {
	cfg    Config
	rng    *rand.Rand
	n      int
	clock  time.Time
	events bool // keep each flow's packets
}

// New returns a Generator.
func New(cfg Config) *Generator {
	return &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x646f68)), clock: cfg.Start}
}

// Resolvers are the addresses of the synthetic DoH resolvers: the blacklist
// an annotator needs to label the generated flows.
func Resolvers() []netip.Addr {
	var out []netip.Addr
	for i := 1; i <= 8; i++ {
		out = append(out, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	for i := 1; i <= 4; i++ {
		out = append(out, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x53, 15: byte(i)}))
	}
	return out
}

var (
	// webNets are the /24s of the other servers: documentation networks
	// (RFC 5737), as every address made here is one or a private one, so
	// that generated data names no real host.
	webNets  = [][3]byte{{198, 51, 100}, {203, 0, 113}}
	dohNames = []string{"dns.example", "doh.example.net", "resolver.example.org", "mozilla.doh.example", ""}
	webNames = []string{"www.example.com", "cdn.example.net", "static.example.org", "api.example.com",
		"mail.example.net", "video.example.com", "news.example.org", "shop.example.com", "img.example.net", ""}
)

// Next fills f with the next flow. It returns false when Config.Flows flows
// have been made.
func (g *Generator) Next(f *Flow) bool {
	if g.cfg.Flows > 0 && g.n >= g.cfg.Flows {
		return false
	}
	r := g.rng
	drifted := g.cfg.DriftAt < 1 && float64(g.n) >= g.cfg.DriftAt*float64(g.cfg.Flows)
	g.n++
	g.clock = g.clock.Add(time.Duration(r.ExpFloat64() / g.cfg.FlowsPerSecond * float64(time.Second)))

	*f = Flow{DoH: r.Float64() < g.cfg.DoHShare, Drifted: drifted, DstPort: 443, SrcPort: uint16(32768 + r.IntN(28232))}
	v6 := r.IntN(10) == 0
	if v6 {
		f.Src = netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, 1, 14: byte(r.IntN(256)), 15: byte(r.IntN(256))})
	} else {
		f.Src = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(256)), byte(1 + r.IntN(254))})
	}
	s := session{f: f, r: r, t: g.clock, header: headerBytes, events: g.events}
	if v6 {
		s.header = headerBytes6
	}
	if f.DoH {
		res := Resolvers()
		if v6 {
			f.Dst = res[8+r.IntN(4)]
		} else {
			f.Dst = res[r.IntN(8)]
		}
		f.SNI = dohNames[r.IntN(len(dohNames))]
		s.doh(drifted)
	} else {
		if v6 {
			f.Dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x04, 0x43, 14: byte(r.IntN(256)), 15: byte(r.IntN(256))})
		} else {
			net := webNets[r.IntN(len(webNets))]
			f.Dst = netip.AddrFrom4([4]byte{net[0], net[1], net[2], byte(1 + r.IntN(254))})
		}
		f.SNI = webNames[r.IntN(len(webNames))]
		s.web(drifted)
	}
	return true
}

// session builds one TCP connection packet by packet.
type session struct {
	f      *Flow
	r      *rand.Rand
	t      time.Time
	header int  // IP and TCP header bytes
	events bool // keep the packets in f.events
	hello  bool // the next packet is the ClientHello
}

// IP and TCP (with the timestamp option) header bytes.
const (
	headerBytes  = 20 + tcpHeaderBytes
	headerBytes6 = 40 + tcpHeaderBytes
)

// packet adds one packet; dir is +1 from the client, -1 back; payload 0 is
// a bare ACK, which counts but gets no per-packet entry.
func (s *session) packet(dir int8, payload int, flags uint8) {
	f := s.f
	// Captures keep microseconds, as ipfixprobe's struct timeval does.
	t := s.t.Truncate(time.Microsecond)
	if f.Packets == 0 {
		f.First = t
	}
	f.Last = t
	size := uint64(s.header + payload)
	if s.events {
		f.events = append(f.events, event{t: t, dir: dir, payload: payload, flags: flags, hello: s.hello})
		s.hello = false
	}
	if dir > 0 {
		f.Packets++
		f.Bytes += size
		f.TCPFlags |= flags
	} else {
		f.PacketsRev++
		f.BytesRev += size
		f.TCPFlagsRev |= flags
	}
	if payload > 0 && f.PPI < MaxPPI {
		f.Lengths[f.PPI] = uint16(payload)
		f.Dirs[f.PPI] = dir
		f.Times[f.PPI] = t
		f.Flags[f.PPI] = flags
		f.PPI++
	}
}

// wait moves the clock on.
func (s *session) wait(d time.Duration) { s.t = s.t.Add(d) }

func (s *session) ms(mean float64) time.Duration {
	return time.Duration(s.r.ExpFloat64() * mean * float64(time.Millisecond))
}

// between is a uniform integer in [lo, hi].
func (s *session) between(lo, hi int) int { return lo + s.r.IntN(hi-lo+1) }

// handshake is TCP's and TLS 1.3's opening, the same for DoH and the web.
func (s *session) handshake(rtt time.Duration) {
	s.packet(1, 0, flagSYN)
	s.wait(rtt)
	s.packet(-1, 0, flagSYN|flagACK)
	s.wait(time.Millisecond / 5)
	s.packet(1, 0, flagACK)
	s.hello = true
	s.packet(1, s.between(512, 620), flagPSH|flagACK) // ClientHello
	s.wait(rtt)
	for cert := s.between(2400, 5200); cert > 0; cert -= 1430 {
		s.packet(-1, min(cert, 1430), flagACK) // ServerHello, certificate
	}
	s.wait(rtt / 4)
	s.packet(1, s.between(64, 90), flagPSH|flagACK) // Finished
	s.packet(-1, s.between(230, 290), flagPSH|flagACK)
}

func (s *session) close(rtt time.Duration) {
	s.packet(1, 0, flagFIN|flagACK)
	s.wait(rtt)
	s.packet(-1, 0, flagFIN|flagACK)
	s.packet(1, 0, flagACK)
}

// pad rounds n up to a multiple of block, as RFC 8467's block padding does.
func pad(n, block int) int { return (n + block - 1) / block * block }

// doh is a browser's DoH connection: HTTP/2 with small queries and answers
// in bursts (a page's names) separated by idle gaps.
func (s *session) doh(drifted bool) {
	rtt := time.Duration(s.between(4, 40)) * time.Millisecond
	s.handshake(rtt)
	s.packet(1, s.between(90, 130), flagPSH|flagACK) // SETTINGS, WINDOW_UPDATE
	s.packet(-1, s.between(40, 70), flagPSH|flagACK)
	bursts := s.between(1, 8)
	for b := range bursts {
		for range s.between(1, 9) {
			query := s.between(70, 160)
			answer := s.between(100, 480)
			if drifted {
				query = pad(query, 128) + 30
				answer = pad(answer, 468) + 30
			}
			s.packet(1, query, flagPSH|flagACK)
			s.wait(rtt + s.ms(3))
			s.packet(-1, answer, flagPSH|flagACK)
			if s.r.IntN(3) == 0 {
				s.packet(1, 0, flagACK)
			}
			s.wait(s.ms(25))
		}
		if b < bursts-1 {
			idle := s.ms(2500)
			if drifted {
				// Keep-alive: HTTP/2 PINGs while idle.
				for range int(idle / (900 * time.Millisecond)) {
					s.wait(900 * time.Millisecond)
					s.packet(1, 17, flagPSH|flagACK)
					s.wait(rtt)
					s.packet(-1, 17, flagPSH|flagACK)
				}
			}
			s.wait(idle)
		}
	}
	s.wait(s.ms(1000))
	s.close(rtt)
}

// web is an ordinary HTTPS connection: a few requests, each answered by a
// run of full-sized segments; after the drift, some connections are chatty
// applications exchanging small messages.
func (s *session) web(drifted bool) {
	rtt := time.Duration(s.between(8, 90)) * time.Millisecond
	s.handshake(rtt)
	if drifted && s.r.IntN(2) == 0 {
		for range s.between(5, 40) {
			s.packet(1, s.between(60, 300), flagPSH|flagACK)
			s.wait(rtt + s.ms(10))
			s.packet(-1, s.between(80, 700), flagPSH|flagACK)
			s.wait(s.ms(400))
		}
		s.close(rtt)
		return
	}
	for range s.between(1, 6) {
		s.packet(1, s.between(300, 900), flagPSH|flagACK) // request
		s.wait(rtt + s.ms(20))
		size := int(math.Exp(s.r.NormFloat64()*1.3 + 9.5)) // log-normal object size, median ~13 kB
		for sent := 0; sent < size; sent += 1430 {
			s.packet(-1, min(size-sent, 1430), flagACK)
			if sent/1430%2 == 1 {
				s.packet(1, 0, flagACK)
			}
			s.wait(time.Duration(s.r.IntN(400)) * time.Microsecond)
		}
		s.wait(s.ms(300))
	}
	s.close(rtt)
}

// FeatureFlow fills ff, the input of the DoH features, from f.
func (f *Flow) FeatureFlow(ff *features.Flow) {
	ff.Packets, ff.PacketsRev = uint64(f.Packets), uint64(f.PacketsRev)
	ff.Bytes, ff.BytesRev = f.Bytes, f.BytesRev
	ff.TimeFirst, ff.TimeLast = trap.TimeFromUnixMicro(f.First.UnixMicro()), trap.TimeFromUnixMicro(f.Last.UnixMicro())
	n := min(f.PPI, features.MaxPackets)
	ff.NLengths, ff.NDirs, ff.NTimes = n, n, n
	copy(ff.Lengths[:], f.Lengths[:n])
	copy(ff.Dirs[:], f.Dirs[:n])
	for i := range n {
		ff.Times[i] = trap.TimeFromUnixMicro(f.Times[i].UnixMicro())
	}
}

// Dataset generates flows and computes their features with the given
// feature set: a labelled training set of DoH and other HTTPS flows, such
// as a D_0.
func Dataset(cfg Config, set features.Set) *dataset.Dataset {
	g := New(cfg)
	ex := features.NewExtractor(set)
	ex.NewBatch()
	d := &dataset.Dataset{}
	var f Flow
	var ff features.Flow
	var v features.Vector
	for g.Next(&f) {
		f.FeatureFlow(&ff)
		if ex.Compute(&ff, &v) == features.Kept {
			d.Add(&v, f.DoH)
		}
	}
	return d
}

// BlacklistText is the resolvers' addresses as ALF's blacklist file holds
// them, one a line.
func BlacklistText() string {
	var b strings.Builder
	for _, a := range Resolvers() {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// DomainsText is the server names of the DoH flows (some have none), as
// alfd's --domains reads them, one a line.
func DomainsText() string {
	var b strings.Builder
	for _, n := range dohNames {
		if n != "" {
			b.WriteString(n)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Blacklist is the resolvers' blacklist: the oracle of generated flows.
func Blacklist() *annotate.Blacklist {
	b, _, err := annotate.ReadBlacklist(strings.NewReader(BlacklistText()), "synth.Resolvers")
	if err != nil {
		panic("BUG: synth.BlacklistText does not read back: " + err.Error())
	}
	return b
}
