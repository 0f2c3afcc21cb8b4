package synth

import (
	"container/heap"
	"encoding/binary"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/alfd/alfd/flowmeter"
)

// tcpHeaderBytes is a TCP header with the timestamp option.
const tcpHeaderBytes = 32

// Packet is one frame of generated traffic.
type Packet struct {
	Time time.Time
	// Frame holds the Ethernet, IP and TCP headers, and the payload only
	// for ClientHellos (a capture with a short snapshot length); it stays
	// valid until the next call of Next.
	Frame []byte
	// WireLen is the frame's length on the wire.
	WireLen int
}

// Traffic is the generator's flows as packets on the wire, in time order:
// flows overlap as their sessions do. The flows an exporter makes of the
// packets are the generator's Flows (IP bytes, the per-packet information
// of the first 30 packets with payload, the ClientHello's server name).
type Traffic struct {
	g       *Generator
	active  cursors
	next    *Flow // generated, not yet started
	frame   []byte
	started int
}

// cursor is a flow being replayed: its next packet is events[i].
type cursor struct {
	f *Flow
	i int
}

type cursors []cursor

func (c cursors) Len() int           { return len(c) }
func (c cursors) Less(i, j int) bool { return c[i].f.events[c[i].i].t.Before(c[j].f.events[c[j].i].t) }
func (c cursors) Swap(i, j int)      { c[i], c[j] = c[j], c[i] }
func (c *cursors) Push(x any)        { *c = append(*c, x.(cursor)) }
func (c *cursors) Pop() any {
	old := *c
	x := old[len(old)-1]
	*c = old[:len(old)-1]
	return x
}

// NewTraffic returns the packets of the flows New(cfg) makes.
func NewTraffic(cfg Config) *Traffic {
	g := New(cfg)
	g.events = true
	return &Traffic{g: g}
}

// Flows is how many flows have started so far.
func (t *Traffic) Flows() int { return t.started }

// Next fills p with the next packet; false at the end.
func (t *Traffic) Next(p *Packet) bool {
	if t.next == nil {
		t.pull()
	}
	// Start every flow whose first packet comes before the earliest
	// packet of the flows under way.
	for t.next != nil && (len(t.active) == 0 || !t.active[0].f.events[t.active[0].i].t.Before(t.next.events[0].t)) {
		heap.Push(&t.active, cursor{f: t.next})
		t.started++
		t.pull()
	}
	if len(t.active) == 0 {
		return false
	}
	c := &t.active[0]
	t.frame = appendFrame(t.frame[:0], c.f, &c.f.events[c.i], p)
	p.Frame = t.frame
	if c.i++; c.i == len(c.f.events) {
		heap.Pop(&t.active)
	} else {
		heap.Fix(&t.active, 0)
	}
	return true
}

// pull generates the next flow, or sets t.next to nil at the end.
func (t *Traffic) pull() {
	f := new(Flow)
	if !t.g.Next(f) {
		t.next = nil
		return
	}
	t.next = f
}

// appendFrame appends the frame of event e of flow f, and sets p's time
// and wire length.
func appendFrame(b []byte, f *Flow, e *event, p *Packet) []byte {
	src, dst, sport, dport := f.Src, f.Dst, f.SrcPort, f.DstPort
	macSrc, macDst := byte(1), byte(2)
	if e.dir < 0 {
		src, dst, sport, dport = dst, src, dport, sport
		macSrc, macDst = macDst, macSrc
	}
	var payload []byte
	if e.hello {
		payload = clientHello(f.SNI, e.payload)
	}
	b = append(b, 2, 0, 0, 0, 0, macDst, 2, 0, 0, 0, 0, macSrc)
	var ipLen int
	if src.Is4() {
		ipLen = headerBytes + e.payload
		b = append(b, 0x08, 0x00, 0x45, 0, byte(ipLen>>8), byte(ipLen), 0, 0, 0x40, 0, 64, 6, 0, 0)
		s4, d4 := src.As4(), dst.As4()
		b = append(append(b, s4[:]...), d4[:]...)
	} else {
		ipLen = headerBytes6 + e.payload
		l := tcpHeaderBytes + e.payload
		b = append(b, 0x86, 0xdd, 0x60, 0, 0, 0, byte(l>>8), byte(l), 6, 64)
		s16, d16 := src.As16(), dst.As16()
		b = append(append(b, s16[:]...), d16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 1, tcpHeaderBytes/4<<4, e.flags, 0xff, 0xff, 0, 0, 0, 0)
	ts := uint32(e.t.UnixMilli())
	b = append(b, 1, 1, 8, 10)
	b = binary.BigEndian.AppendUint32(b, ts)
	b = binary.BigEndian.AppendUint32(b, ts)
	b = append(b, payload...)
	p.Time, p.WireLen = e.t, 14+ipLen
	return b
}

// clientHello makes a TLS 1.3 ClientHello record of size bytes naming
// server (no server_name extension when it is empty), filled out with a
// padding extension.
func clientHello(server string, size int) []byte {
	var ext []byte
	if server != "" {
		n := len(server)
		ext = append(ext, 0, 0, byte((n+5)>>8), byte(n+5), byte((n+3)>>8), byte(n+3), 0, byte(n>>8), byte(n))
		ext = append(ext, server...)
	}
	// Record header 5, handshake header 4, version 2, random 32, session
	// ID 1+32, one cipher suite 2+2, compression 1+1, extensions length 2.
	const fixed = 5 + 4 + 2 + 32 + 33 + 4 + 2 + 2
	if pad := size - fixed - len(ext) - 4; pad >= 0 {
		ext = append(ext, 0, 21, byte(pad>>8), byte(pad))
		ext = append(ext, make([]byte, pad)...)
	}
	body := make([]byte, 0, size)
	body = append(body, 3, 3)
	body = append(body, make([]byte, 32)...)
	body = append(body, 32)
	body = append(body, make([]byte, 32)...)
	body = append(body, 0, 2, 0x13, 0x01, 1, 0, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

// WritePcap writes the traffic to w as a pcap file with a short snapshot
// length (headers, and ClientHellos whole). It returns the flows written.
func WritePcap(w io.Writer, cfg Config) (int, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return 0, err
	}
	t := NewTraffic(cfg)
	var p Packet
	for t.Next(&p) {
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Frame), Length: p.WireLen}
		if err := pw.WritePacket(ci, p.Frame); err != nil {
			return t.Flows(), err
		}
	}
	return t.Flows(), nil
}

// MeterTraffic meters the traffic of cfg with alfd's flow meter, as a
// capture of it would be, and calls fn with each flow as the meter exports
// it (in that order; fn must not keep f).
func MeterTraffic(cfg Config, fn func(f *flowmeter.Flow)) error {
	m, err := flowmeter.NewMeter(flowmeter.Config{}, flowmeter.LinkEthernet)
	if err != nil {
		return err
	}
	defer m.Close()
	drain := func() {
		m.Flush()
		for f := m.Ring().Next(); f != nil; f = m.Ring().Next() {
			fn(f)
		}
		m.Ring().Release()
	}
	t := NewTraffic(cfg)
	var p Packet
	for n := 1; t.Next(&p); n++ {
		m.Packet(p.Frame, p.Time.UnixMicro(), p.WireLen)
		if n&255 == 0 {
			drain()
		}
	}
	m.FinishWith(drain)
	drain()
	return nil
}
