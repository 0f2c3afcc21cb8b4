package flowmeter

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// SrcAddr is the packet's source address.
func (k *Key) SrcAddr() netip.Addr { return k.addr(&k.Src) }

// DstAddr is the packet's destination address.
func (k *Key) DstAddr() netip.Addr { return k.addr(&k.Dst) }

func (k *Key) addr(a *[16]byte) netip.Addr {
	if k.IPVersion == 4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(*a)
}

// FrameInfo is what a capture says of a frame besides its bytes.
type FrameInfo struct {
	Micros  int64    // capture time, microseconds since the epoch
	WireLen int      // length on the wire, of which the frame may hold less
	Link    LinkType // its link type: the file's, or in pcapng its interface's
}

// A PcapReader reads the frames of a pcap or pcapng file.
type PcapReader struct {
	name  string
	f     *os.File
	link  LinkType
	read  func() ([]byte, gopacket.CaptureInfo, error)
	mixed bool // pcapng: each frame's link type is its interface's
	n     int
	// beforeRead, when set, is called before each read of the file: all
	// it held has been handed out, and the read may wait for a writer.
	beforeRead func()
}

// hooked reads src, calling its reader's beforeRead first.
type hooked struct {
	r   *PcapReader
	src io.Reader
}

func (h hooked) Read(p []byte) (int, error) {
	if h.r.beforeRead != nil {
		h.r.beforeRead()
	}
	return h.src.Read(p)
}

// StandardInput is the path by which OpenPcap reads standard input, as a
// capture piped in (tcpdump -w - | alfd flows --pcap -).
const StandardInput = "-"

// OpenPcap opens a pcap or pcapng file, which it tells by its magic
// number; StandardInput reads standard input.
func OpenPcap(path string) (*PcapReader, error) {
	name, open := path, func() (*os.File, error) { return os.Open(path) }
	if path == StandardInput {
		name, open = "standard input", openStdin
	}
	f, err := open()
	if err != nil {
		return nil, err
	}
	r, err := newPcapReader(name, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

func newPcapReader(name string, src io.Reader) (*PcapReader, error) {
	r := &PcapReader{name: name}
	br := bufio.NewReaderSize(hooked{r, src}, 1<<16)
	head, err := br.Peek(24)
	if err != nil {
		return nil, fmt.Errorf("%s: not a pcap or pcapng file: %w", name, err)
	}
	switch binary.LittleEndian.Uint32(head) {
	case 0x0a0d0d0a: // pcapng section header block
		// Interfaces of other link types than the first's are read too
		// (gopacket's default skips their packets without a word).
		ng, err := pcapgo.NewNgReader(bufio.NewReaderSize(&ngGuard{r: br}, 1<<16), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r.link = ngFirstLink(br)
		r.read, r.mixed = ng.ZeroCopyReadPacketData, true
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1: // pcap, µs or ns, either byte order
		// gopacket keeps a byte of the link type: read it whole.
		order := binary.ByteOrder(binary.LittleEndian)
		if head[0] == 0xa1 {
			order = binary.BigEndian
		}
		r.link = LinkType(order.Uint32(head[20:]) & 0xffff)
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		// pcapgo allocates the snapshot length the file claims.
		pr.SetSnaplen(min(pr.Snaplen(), maxSnap))
		r.read = pr.ZeroCopyReadPacketData
	default:
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (magic %#08x)", name, binary.LittleEndian.Uint32(head))
	}
	if !r.link.Supported() {
		return nil, fmt.Errorf("%s: link type %s is not one alfd reads (Ethernet, Linux cooked, raw IP, loopback)", name, r.link)
	}
	return r, nil
}

// Link is the file's link type.
func (r *PcapReader) Link() LinkType { return r.link }

// Name is the file's name.
func (r *PcapReader) Name() string { return r.name }

// Next returns the next frame, valid until the next call, or io.EOF at
// the end. A file cut off inside a frame ends with an error naming the
// file and the frame.
func (r *PcapReader) Next() ([]byte, FrameInfo, error) {
	data, ci, err := r.read()
	switch {
	case err == io.EOF:
		return nil, FrameInfo{}, io.EOF
	case err != nil:
		return nil, FrameInfo{}, fmt.Errorf("%s: frame %d: %w", r.name, r.n+1, err)
	}
	r.n++
	link := r.link
	if r.mixed {
		link = ngLinkType(ci.AncillaryData[0].(layers.LinkType))
	}
	return data, FrameInfo{Micros: ci.Timestamp.UnixMicro(), WireLen: ci.Length, Link: link}, nil
}

// ngFirstLink is the link type of a pcapng stream's first interface, read
// ahead (gopacket, told to read every interface, reads none before the
// first frame): the interface block after the section header. It is
// LinkEthernet when the header is not followed by one.
func ngFirstLink(br *bufio.Reader) LinkType {
	head, err := br.Peek(12)
	if err != nil {
		return LinkEthernet
	}
	var order binary.ByteOrder = binary.LittleEndian
	if binary.BigEndian.Uint32(head[8:]) == 0x1a2b3c4d {
		order = binary.BigEndian
	}
	header := int(order.Uint32(head[4:]))
	if header < 28 || header+12 > br.Size() {
		return LinkEthernet
	}
	blocks, err := br.Peek(header + 12)
	if err != nil || order.Uint32(blocks[header:]) != 1 { // an interface description block
		return LinkEthernet
	}
	return LinkType(order.Uint16(blocks[header+8:]))
}

// ngLinkType is the link type gopacket reads from a pcapng interface. It
// keeps a byte of pcapng's 16-bit link type: 20 is assigned to nothing, and
// 276 (Linux cooked v2) is the only supported type that does not fit.
func ngLinkType(l layers.LinkType) LinkType {
	if LinkType(l) == LinkLinuxSLL2&0xff {
		return LinkLinuxSLL2
	}
	return LinkType(l)
}

// Close closes the file.
func (r *PcapReader) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

// ReadPcaps meters the files in order, as one capture, and then ends the
// flows left in the cache, waiting for the consumer to take them (for
// FinishGrace only, when ctx ended). When ctx ends, the file being read is
// closed: a pipe whose writer is quiet stops being waited for.
func (m *Meter) ReadPcaps(ctx context.Context, paths []string, pace bool) error {
	defer m.FinishWithin(ctx, FinishGrace)
	for _, path := range paths {
		r, err := OpenPcap(path)
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { r.Close() })
		err = m.ReadPcap(ctx, r, pace)
		stop()
		r.Close()
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
	return nil
}

// ReadPcap feeds the frames of r to m until the file ends or ctx ends
// (checked every few hundred frames), publishing the ring as it goes, and
// whenever it has metered all it read (a pipe's reader then waits for its
// writer). With pace, frames come at the capture's own pace, as a live
// capture would deliver them. It does not end the flows: call m.Finish
// after the last file. When the cache is crowded, frames are copied (the
// reader reuses its buffer) and metered in batches, so that Frames can
// fetch ahead. A file can wait: when the ring is full, the meter waits for
// its consumer (while ctx lasts) rather than drop flows as a live capture
// does.
func (m *Meter) ReadPcap(ctx context.Context, r *PcapReader, pace bool) error {
	defer m.whileFull(func() { m.waitForRoom(ctx) })()
	m.dec.Link = r.Link()
	var startCapture int64
	var startWall time.Time
	var batch frameBatch
	r.beforeRead = func() {
		batch.send(m)
		m.Flush()
	}
	defer func() { r.beforeRead = nil }()
	crowded := m.crowded()
	for n := 0; ; n++ {
		frame, info, err := r.Next()
		if err != nil {
			batch.send(m)
			m.Flush()
			if err == io.EOF || ctx.Err() != nil {
				return nil
			}
			return err
		}
		if pace {
			if n == 0 {
				startCapture, startWall = info.Micros, time.Now()
			}
			if d := time.Duration(info.Micros-startCapture)*time.Microsecond - time.Since(startWall); d > 0 {
				batch.send(m)
				m.Flush()
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return nil
				}
			}
		}
		if info.Link != m.dec.Link {
			// A pcapng interface of another link type: the frames before
			// are decoded as theirs.
			batch.send(m)
			m.dec.Link = info.Link
		}
		if crowded {
			batch.add(frame, info.Micros, info.WireLen)
			if len(batch.frames) == cap(batch.frames) {
				batch.send(m)
			}
		} else {
			m.Packet(frame, info.Micros, info.WireLen)
		}
		if n&255 == 255 {
			batch.send(m)
			m.Flush()
			if ctx.Err() != nil {
				return nil
			}
			crowded = m.crowded()
		}
	}
}

// frameBatch holds copies of frames for Meter.Frames.
type frameBatch struct {
	arena  []byte
	frames []Frame
}

func (b *frameBatch) add(frame []byte, micros int64, wireLen int) {
	if b.frames == nil {
		b.frames = make([]Frame, 0, 64)
	}
	start := len(b.arena)
	b.arena = append(b.arena, frame...)
	// Earlier frames keep the arena they were copied to, if this one grew it.
	b.frames = append(b.frames, Frame{Data: b.arena[start:len(b.arena):len(b.arena)], Micros: micros, WireLen: wireLen})
}

// send meters the frames held, in order, and empties the batch.
func (b *frameBatch) send(m *Meter) {
	if len(b.frames) > 0 {
		m.Frames(b.frames)
	}
	b.arena, b.frames = b.arena[:0], b.frames[:0]
}
