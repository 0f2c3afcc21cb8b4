package flowmeter

import "github.com/alfd/alfd/internal/quic"

// A ClientHello may span several TCP segments: those of browsers that
// offer post-quantum key shares (1.5-2 KB) do, and some clients split
// theirs on purpose (into TLS records too, see helloRecords). ipfixprobe
// reads a flow's first hello packet alone, and finds in it the server name
// when it comes early enough, and never the fingerprints. A meter puts a flow's first ClientHello back together
// from its client's segments, in order, up to maxHello bytes, in buffers
// it keeps for the purpose, and reads it whole.

// maxHello is the longest ClientHello (with its record header) a meter
// puts back together, and helloBuffers how many it puts back together at
// once at most (a cache of fewer than 2^17 flows, one for 2048 flows): a
// hello's segments come together, as the client's first flight, so few
// are under way at a time.
const (
	maxHello     = 4096
	helloBuffers = 64
)

// helloReclaimSec is how long, in seconds, a hello that waits for its next
// segment keeps its buffer when another needs one: its segment was lost.
const helloReclaimSec = 1

// helloAssembly is a ClientHello being put back together.
type helloAssembly struct {
	flow  *Flow
	start uint32 // the TCP sequence number of its first byte
	n     int    // bytes held, over TCP
	need  int    // bytes it takes, over TCP
	dir   int    // the client's direction in the flow
	since int64  // the second it began
	// A QUIC hello's (quic.go): the parts held, and the version and
	// connection ID its packets' keys derive from; version is 0 over TCP.
	spans   spans
	version uint32
	dcid    [quic.MaxConnIDLen]byte
	dcidLen uint8
}

// helloAssembler holds the hellos a meter is putting back together.
type helloAssembler struct {
	under []helloAssembly
	bufs  []byte  // maxHello bytes a hello, and a last for scratch
	free  []uint8 // hellos' places not in use
}

// newHelloAssembler returns an assembler of n hellos at once, n <= 256.
func newHelloAssembler(n int) *helloAssembler {
	a := &helloAssembler{under: make([]helloAssembly, n), bufs: make([]byte, (n+1)*maxHello), free: make([]uint8, n)}
	for i := range a.free {
		a.free[i] = uint8(n - 1 - i)
	}
	return a
}

// buf is the buffer of hello i.
func (a *helloAssembler) buf(i int) []byte { return a.bufs[i*maxHello : (i+1)*maxHello] }

// scratch is the buffer of no hello's: a QUIC hello's first packets go
// there, and a TLS hello's records are gathered there.
func (a *helloAssembler) scratch() []byte { return a.buf(len(a.under)) }

// takeBuffer takes a free hello's place, the place of the hello that has
// waited longest if none is free and it waited helloReclaimSec; false
// when there is none.
func (k *cache) takeBuffer(now int64) (int, bool) {
	a := k.hellos
	if len(a.free) == 0 {
		k.reclaimHello(now)
	}
	if len(a.free) == 0 {
		return 0, false
	}
	i := a.free[len(a.free)-1]
	a.free = a.free[:len(a.free)-1]
	return int(i), true
}

// startHello begins to put back together the ClientHello of flow f, of
// need bytes, whose first segment p (from direction dir) holds part. It
// reports false, and counts it, when the hello is longer than maxHello,
// the capture cut p short, or no buffer is free.
func (k *cache) startHello(f *Flow, p *Packet, dir, need int, now int64) bool {
	if need > maxHello || len(p.Payload) < int(p.PayloadLen) {
		k.c.hellosUnassembled++
		return false
	}
	i, ok := k.takeBuffer(now)
	if !ok {
		k.c.hellosUnassembled++
		return false
	}
	n := copy(k.hellos.buf(i), p.Payload)
	k.hellos.under[i] = helloAssembly{flow: f, start: p.TCPSeq, n: n, need: need, dir: dir, since: now}
	f.tls = tlsAssembling
	return true
}

// reclaimHello frees the buffer of the hello that has waited longest for
// its next segment, if it has waited helloReclaimSec.
func (k *cache) reclaimHello(now int64) {
	a := k.hellos
	oldest := -1
	for i := range a.under {
		if a.under[i].flow != nil && (oldest < 0 || a.under[i].since < a.under[oldest].since) {
			oldest = i
		}
	}
	if oldest >= 0 && now-a.under[oldest].since >= helloReclaimSec {
		k.abandonHello(a.under[oldest].flow, oldest)
	}
}

// continueHello adds segment p (from direction dir) to the hello of flow
// f, and reads the hello once whole. A segment from the server is passed
// by; one that leaves a gap, or that the capture cut short, ends the
// attempt, and the flow keeps what its first segment told; so does a
// hello that turns out longer than maxHello, or cut short by a record of
// another kind.
func (k *cache) continueHello(f *Flow, p *Packet, dir int) {
	i := k.hellos.of(f)
	a := &k.hellos.under[i]
	if dir != a.dir {
		return
	}
	at := p.TCPSeq - a.start // where the segment starts in the hello
	if at > uint32(a.n) || len(p.Payload) < int(p.PayloadLen) {
		k.abandonHello(f, i)
		return
	}
	buf := k.hellos.buf(i)
	if end := int(at) + len(p.Payload); end > a.n {
		a.n += copy(buf[a.n:], p.Payload[a.n-int(at):])
	}
	if a.n < a.need {
		return
	}
	// What it takes was known as far as the records then told.
	_, need, whole := helloRecords(buf[:a.n], k.hellos.scratch())
	switch {
	case whole:
		k.c.hellosAssembled++
		k.endHello(f, i)
	case need <= a.n || need > maxHello:
		k.abandonHello(f, i)
	default:
		a.need = need
	}
}

// abandonHello gives up putting f's hello, in place i, back together: the
// flow keeps what the part there is tells.
func (k *cache) abandonHello(f *Flow, i int) {
	k.c.hellosUnassembled++
	k.endHello(f, i)
}

// endHello reads the hello of f, in place i, as far as it is put back
// together, and gives its buffer back.
func (k *cache) endHello(f *Flow, i int) {
	a := k.hellos
	if u := &a.under[i]; u.version != 0 {
		k.readQUICHello(f, a.buf(i), u)
	} else {
		sni, _ := tlsHello(a.buf(i)[:u.n], &k.hello, a.scratch())
		k.keepHello(f, sni, true, 't')
	}
	a.under[i] = helloAssembly{}
	a.free = append(a.free, uint8(i))
}

// of is the place of the hello of f, which is being put back together.
func (a *helloAssembler) of(f *Flow) int {
	for i := range a.under {
		if a.under[i].flow == f {
			return i
		}
	}
	panic("BUG: flowmeter: no hello being put back together for the flow")
}
