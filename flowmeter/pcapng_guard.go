package flowmeter

import (
	"encoding/binary"
	"fmt"
	"io"
)

// maxSnap is the most a capture file may ask a reader to hold for one
// frame. pcapgo allocates what a file's headers claim (a snapshot length,
// a block's capture length) before it reads the frame, so a corrupt file
// could otherwise claim gigabytes and exhaust memory, which no error
// handling catches.
const maxSnap = 16 << 20

// ngGuard passes a pcapng stream through unchanged, checking each block's
// claims before pcapgo acts on them: an interface's snapshot length and a
// packet's capture length must be at most maxSnap, and a packet must fit in
// its block.
type ngGuard struct {
	r     io.Reader
	order binary.ByteOrder
	head  [24]byte // the current block's first bytes
	got   int      // of head
	left  int64    // bytes of the current block after head still to pass
	snap0 uint32   // interface 0's snapshot length in this section
	ifs   int      // interfaces described in this section
	err   error
}

func (g *ngGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	if cerr := g.check(p[:n]); cerr != nil {
		g.err = cerr
		return 0, cerr
	}
	return n, err
}

// Block types whose sizes pcapgo trusts.
const (
	ngSection   = 0x0a0d0d0a
	ngInterface = 1
	ngPacket    = 2 // obsolete, laid out as ngEnhanced for what is checked
	ngSimple    = 3
	ngEnhanced  = 6
)

// need is how many bytes of the current block check reads: the type and
// length, and what it checks.
func (g *ngGuard) need() int {
	if g.got < 8 {
		return 8
	}
	switch g.blockType() {
	case ngSection:
		return 12
	case ngInterface, ngSimple:
		return 16
	case ngPacket, ngEnhanced:
		return 24
	}
	return 8
}

func (g *ngGuard) blockType() uint32 {
	if g.order == nil {
		return binary.LittleEndian.Uint32(g.head[:]) // only a section may come first
	}
	return g.order.Uint32(g.head[:])
}

// checkLength checks the current block's length against what any block,
// and a block of its type, needs.
func (g *ngGuard) checkLength() error {
	if g.order == nil {
		return fmt.Errorf("pcapng: the first block is not a section header")
	}
	length := g.order.Uint32(g.head[4:])
	if length < 12 || length%4 != 0 || int64(length) < int64(g.need()) {
		return fmt.Errorf("pcapng: block of type %#x is %d bytes long", g.blockType(), length)
	}
	return nil
}

// check follows the stream's blocks through b.
func (g *ngGuard) check(b []byte) error {
	for len(b) > 0 {
		if g.left > 0 {
			k := int(min(g.left, int64(len(b))))
			g.left -= int64(k)
			b = b[k:]
			continue
		}
		k := copy(g.head[g.got:g.need()], b)
		g.got += k
		b = b[k:]
		if g.got == 8 && g.blockType() != ngSection {
			// The length is known: refuse a bad one before waiting for
			// more of the block.
			if err := g.checkLength(); err != nil {
				return err
			}
		}
		if g.got < g.need() {
			continue
		}
		if err := g.block(); err != nil {
			return err
		}
	}
	return nil
}

// block checks a block whose first need() bytes are in head, and skips the
// rest of it.
func (g *ngGuard) block() error {
	typ := g.blockType()
	if typ == ngSection {
		g.order = binary.ByteOrder(binary.LittleEndian)
		if binary.LittleEndian.Uint32(g.head[8:]) != 0x1a2b3c4d {
			g.order = binary.BigEndian
		}
		g.snap0, g.ifs = 0, 0
	}
	if err := g.checkLength(); err != nil {
		return err
	}
	length := g.order.Uint32(g.head[4:])
	var frame uint32
	switch typ {
	case ngInterface:
		snap := g.order.Uint32(g.head[12:])
		if snap > maxSnap {
			return fmt.Errorf("pcapng: interface %d has a snapshot length of %d bytes, over the %d alfd reads", g.ifs, snap, maxSnap)
		}
		if g.ifs == 0 {
			g.snap0 = snap
		}
		g.ifs++
	case ngPacket, ngEnhanced:
		frame = g.order.Uint32(g.head[20:])
		if int64(frame) > int64(length)-32 {
			return fmt.Errorf("pcapng: a packet of %d bytes in a block of %d", frame, length)
		}
	case ngSimple:
		frame = g.order.Uint32(g.head[8:])
		if g.snap0 != 0 {
			frame = min(frame, g.snap0)
		}
		if int64(frame) > int64(length)-16 {
			return fmt.Errorf("pcapng: a packet of %d bytes in a block of %d", frame, length)
		}
	}
	if frame > maxSnap {
		return fmt.Errorf("pcapng: a packet of %d bytes, over the %d alfd reads", frame, maxSnap)
	}
	g.left, g.got = int64(length)-int64(g.got), 0
	return nil
}
