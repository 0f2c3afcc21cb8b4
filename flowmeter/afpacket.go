//go:build linux

package flowmeter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// AFPacketConfig sets up a live capture.
type AFPacketConfig struct {
	Interface string
	// Fanout is the number of sockets in the fanout group, each with a
	// meter on a thread of its own (default 1). The kernel spreads flows
	// over them by a symmetric hash, so both directions of a flow reach
	// the same meter; SteeringProgram replaces the hash.
	Fanout int
	// FanoutID names the fanout group (default: from the process ID).
	FanoutID uint16
	// BlockSize and NumBlocks size each socket's ring shared with the
	// kernel (defaults 1 MiB and 64: 64 MiB a socket). A larger ring rides
	// out longer stalls of its meter before the kernel drops packets.
	BlockSize, NumBlocks int
	// FilterProgram, when set, is an eBPF socket filter (a program's file
	// descriptor) attached to every socket: only what it passes is read.
	FilterProgram int
	// SteeringProgram, when set, is an eBPF program that picks each
	// packet's socket in the group (PACKET_FANOUT_EBPF).
	SteeringProgram int
	// NotPromiscuous leaves the interface out of promiscuous mode, in
	// which it passes up frames addressed to other hosts, as a mirror port
	// carries them (tcpdump's -p). By default each socket turns it on, as
	// ipfixprobe and tcpdump do, and the kernel turns it off when the last
	// closes.
	NotPromiscuous bool
	// CPUs, when set, pins meter i's thread to CPU CPUs[i], one meter a
	// core, as a capture host at line rate runs them; it names Fanout CPUs.
	CPUs  []int
	Meter Config
	// Log hears of the interface going down and coming back (default
	// slog.Default()).
	Log *slog.Logger
}

// A Capture reads an interface through AF_PACKET sockets with TPACKET_V3
// rings in a fanout group, one meter per socket. Packets are read in
// place, block by block, with no copy, lock or allocation.
//
// It is its own reader rather than gopacket's afpacket package, which
// needs cgo (alfd builds without it, as one static binary), takes a lock
// and makes a call for every packet where a block's frames go to the
// meter together (Meter.Frames fetches ahead across them), and has no
// place for an eBPF fanout program, the kernel's packet type (loopback's
// copies going out) or bare-IP interfaces (SOCK_DGRAM).
type Capture struct {
	cfg    AFPacketConfig
	socks  []*packetSocket
	meters []*Meter
	// The threads the meters run on, while they run (0 otherwise).
	threads []atomic.Int32
	// The interface's offloads that merge packets, as of its opening.
	merging    []string
	mergingErr error
	// down: the interface went down, and no packet came since.
	down atomic.Bool
}

// packetSocket is one AF_PACKET socket and its ring.
type packetSocket struct {
	fd        int
	ring      []byte
	blockSize int
	numBlocks int
	block     int // the block to read next
	// loopback: the interface hands the socket each packet twice, as it
	// goes out and as it comes back in; the copy going out is skipped, as
	// libpcap (tcpdump) skips it.
	loopback bool
	// Counters summed over reads (reading them resets the kernel's), by
	// pollStats, and published for other goroutines.
	received, dropped uint64
	counts            struct{ received, dropped atomic.Uint64 }
	// The drops pollStats warns of: the kernel's, and the flows the
	// meter's ring had no room for.
	kernelDrops, ringDrops dropWarner
	batch                  [64]Frame // a block's frames, handed to the meter together
}

// dropWarnEvery is how often at most a socket's drops are warned of.
const dropWarnEvery = time.Minute

// dropWarner tells when a count of drops has grown since it last told,
// at most once every dropWarnEvery.
type dropWarner struct {
	told uint64
	at   time.Time
}

// grown returns how much total has grown since the last time it said so,
// or false when it has not, or too recently.
func (w *dropWarner) grown(total uint64) (uint64, bool) {
	if total <= w.told || time.Since(w.at) < dropWarnEvery {
		return 0, false
	}
	n := total - w.told
	w.told, w.at = total, time.Now()
	return n, true
}

// maxBlockSize and maxRingBytes bound a socket's ring where the kernel's
// request (32-bit sizes and frame counts) or the mapping would overflow.
const (
	maxBlockSize = 1 << 30
	maxRingBytes = min(1<<40, math.MaxInt)
)

// OpenAFPacket opens the capture's sockets. It needs CAP_NET_RAW.
func OpenAFPacket(cfg AFPacketConfig) (_ *Capture, err error) {
	if cfg.Fanout == 0 {
		cfg.Fanout = 1
	}
	if cfg.FanoutID == 0 {
		cfg.FanoutID = uint16(os.Getpid())
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = 1 << 20
	}
	if cfg.NumBlocks == 0 {
		cfg.NumBlocks = 64
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	switch {
	case cfg.Fanout < 1 || cfg.Fanout > 64:
		return nil, fmt.Errorf("fanout of %d sockets: want 1 to 64", cfg.Fanout)
	case cfg.BlockSize < os.Getpagesize() || cfg.BlockSize > maxBlockSize || cfg.BlockSize&(cfg.BlockSize-1) != 0:
		return nil, fmt.Errorf("ring block size %d: want a power of two from a page (%d) to %d", cfg.BlockSize, os.Getpagesize(), maxBlockSize)
	case cfg.NumBlocks < 2 || cfg.NumBlocks > maxRingBytes/cfg.BlockSize:
		return nil, fmt.Errorf("ring of %d blocks of %d bytes: want at least 2 blocks, at most %d bytes in all", cfg.NumBlocks, cfg.BlockSize, maxRingBytes)
	case len(cfg.CPUs) > 0 && len(cfg.CPUs) != cfg.Fanout:
		return nil, fmt.Errorf("%d CPUs %v for %d meters: want one each", len(cfg.CPUs), cfg.CPUs, cfg.Fanout)
	}
	if len(cfg.CPUs) > 0 {
		var allowed unix.CPUSet
		if err := unix.SchedGetaffinity(0, &allowed); err != nil {
			return nil, fmt.Errorf("the CPUs this process may run on: %w", err)
		}
		for _, cpu := range cfg.CPUs {
			if cpu < 0 || cpu >= len(allowed)*64 || !allowed.IsSet(cpu) {
				return nil, fmt.Errorf("CPU %d: not one this process may run on (it has %d)", cpu, allowed.Count())
			}
		}
	}
	ifc, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET on %q: %w", cfg.Interface, err)
	}
	link, err := InterfaceLink(ifc.Name)
	switch {
	case err != nil:
		return nil, fmt.Errorf("AF_PACKET: %w", err)
	case link != LinkEthernet && (cfg.FilterProgram > 0 || cfg.SteeringProgram > 0):
		return nil, fmt.Errorf("AF_PACKET on %s: its frames are bare IP, and the eBPF programs read Ethernet frames", cfg.Interface)
	}
	c := &Capture{cfg: cfg}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	loopback := ifc.Flags&net.FlagLoopback != 0
	if !loopback { // a loopback says it has GRO, and merges nothing
		c.merging, c.mergingErr = mergingOffloads(ifc.Name)
	}
	for i := range cfg.Fanout {
		var s *packetSocket
		open := func() (err error) {
			s, err = openPacketSocket(ifc.Index, link, cfg)
			return err
		}
		if len(cfg.CPUs) > 0 {
			// The kernel takes a ring's memory from the node of the CPU
			// that asks for it: the meter's, on a host of several NUMA
			// nodes, so that the meter does not read it across nodes.
			// (Its flow cache is on that node too: the meter's thread
			// touches it first.)
			err = onCPU(cfg.CPUs[i], open)
		} else {
			err = open()
		}
		if err != nil {
			return nil, fmt.Errorf("AF_PACKET on %s: %w", cfg.Interface, err)
		}
		s.loopback = loopback
		c.socks = append(c.socks, s)
		m, err := NewMeter(cfg.Meter, link)
		if err != nil {
			return nil, err
		}
		c.meters = append(c.meters, m)
	}
	if cfg.Fanout > 1 {
		// The group is whole: the sockets may take packets now.
		for _, s := range c.socks {
			if err := s.admit(cfg.FilterProgram); err != nil {
				return nil, fmt.Errorf("AF_PACKET on %s: %w", cfg.Interface, err)
			}
		}
	}
	c.threads = make([]atomic.Int32, len(c.socks))
	return c, nil
}

// takeNothing is a classic BPF filter that takes no packet.
var takeNothing = []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}

// admit lets a socket of a fanout group take packets, through the eBPF
// socket filter filter if it is not 0.
func (s *packetSocket) admit(filter int) error {
	if filter > 0 {
		// Replaces takeNothing at once.
		if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, filter); err != nil {
			return fmt.Errorf("attaching the eBPF filter: %w", err)
		}
		return nil
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0); err != nil {
		return fmt.Errorf("detaching the filter that kept packets out while the fanout group formed: %w", err)
	}
	return nil
}

// openPacketSocket opens one socket of the group, with its ring mapped, for
// frames of link type link: with their Ethernet headers, or bare IP (the
// kernel takes off any other link header).
func openPacketSocket(ifindex int, link LinkType, cfg AFPacketConfig) (_ *packetSocket, err error) {
	typ := unix.SOCK_RAW
	if link != LinkEthernet {
		typ = unix.SOCK_DGRAM
	}
	// Protocol 0 until the ring is set: nothing arrives before.
	fd, err := unix.Socket(unix.AF_PACKET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	s := &packetSocket{fd: fd, blockSize: cfg.BlockSize, numBlocks: cfg.NumBlocks}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("TPACKET_V3: %w", err)
	}
	const frameSize = 1 << 11 // the ring's unit; TPACKET_V3 packs frames of any size in blocks
	req := unix.TpacketReq3{
		Block_size: uint32(cfg.BlockSize), Block_nr: uint32(cfg.NumBlocks),
		Frame_size: frameSize, Frame_nr: uint32(cfg.BlockSize / frameSize * cfg.NumBlocks),
		Retire_blk_tov: uint32(retireTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("ring of %d blocks of %d bytes: %w", cfg.NumBlocks, cfg.BlockSize, err)
	}
	if s.ring, err = unix.Mmap(fd, 0, cfg.BlockSize*cfg.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("mmap of the ring: %w", err)
	}
	switch {
	case cfg.Fanout > 1:
		// A socket takes packets once it is bound, but may join its
		// fanout group only then: until the whole group is formed it
		// takes none (OpenAFPacket admits them), lest it take packets
		// the group takes too, or a group of fewer sockets take flows
		// that go to another socket once the rest join.
		prog := unix.SockFprog{Len: uint16(len(takeNothing)), Filter: &takeNothing[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return nil, fmt.Errorf("a filter that takes nothing yet: %w", err)
		}
	case cfg.FilterProgram > 0:
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, cfg.FilterProgram); err != nil {
			return nil, fmt.Errorf("attaching the eBPF filter: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if !cfg.NotPromiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	if cfg.Fanout > 1 || cfg.SteeringProgram > 0 {
		typ := unix.PACKET_FANOUT_HASH
		if cfg.SteeringProgram > 0 {
			typ = unix.PACKET_FANOUT_EBPF
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(cfg.FanoutID)|typ<<16); err != nil {
			return nil, fmt.Errorf("fanout group %d: %w", cfg.FanoutID, err)
		}
		if cfg.SteeringProgram > 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT_DATA, cfg.SteeringProgram); err != nil {
				return nil, fmt.Errorf("attaching the eBPF steering program: %w", err)
			}
		}
	}
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// sllOffset is where a frame's link-layer address (struct sockaddr_ll, with
// the packet's direction) follows its header in the ring:
// TPACKET_ALIGN(sizeof(struct tpacket3_hdr)).
const sllOffset = (unix.SizeofTpacket3Hdr + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1)

// blockStatus is the status word of block b, which the kernel writes.
func (s *packetSocket) blockStatus(b int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.ring[b*s.blockSize+8]))
}

// retireTimeout is how long after its first frame the kernel hands over a
// block it has not filled.
const retireTimeout = 50 * time.Millisecond

// readBlock waits up to timeout for the next block and hands its frames to
// m, up to 64 at a time (they stay valid until the block goes back to the
// kernel). It reports whether there was a block.
func (s *packetSocket) readBlock(m *Meter, timeout time.Duration) (bool, error) {
	status := s.blockStatus(s.block)
	if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR}}
		if _, err := unix.Poll(fds, int(timeout/time.Millisecond)); err != nil && !errors.Is(err, unix.EINTR) {
			return false, fmt.Errorf("poll: %w", err)
		}
		if fds[0].Revents&unix.POLLERR != 0 {
			// Reading the socket's error clears it; until then poll
			// returns at once.
			code, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				return false, fmt.Errorf("reading the socket's error: %w", err)
			}
			if code != 0 {
				return false, unix.Errno(code)
			}
		}
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			return false, nil
		}
	}
	base := s.block * s.blockSize
	hdr := (*unix.TpacketHdrV1)(unsafe.Pointer(&s.ring[base+8]))
	off := int(hdr.Offset_to_first_pkt)
	n := 0
	for range hdr.Num_pkts {
		p := (*unix.Tpacket3Hdr)(unsafe.Pointer(&s.ring[base+off]))
		if s.loopback && (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&s.ring[base+off+sllOffset])).Pkttype == unix.PACKET_OUTGOING {
			off += int(p.Next_offset)
			continue
		}
		start := base + off + int(p.Mac)
		f := &s.batch[n]
		*f = Frame{Data: s.ring[start : start+int(p.Snaplen) : start+int(p.Snaplen)], Micros: int64(p.Sec)*1e6 + int64(p.Nsec)/1e3, WireLen: int(p.Len)}
		if p.Status&unix.TP_STATUS_VLAN_VALID != 0 {
			// The NIC took the tag off; it is the outer VLAN.
			f.VLAN = uint16(p.Hv1.Vlan_tci) & 0x0fff
		}
		if n++; n == len(s.batch) {
			m.Frames(s.batch[:])
			n = 0
		}
		off += int(p.Next_offset)
	}
	m.Frames(s.batch[:n])
	atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
	s.block = (s.block + 1) % s.numBlocks
	return true, nil
}

// gone reports whether the socket's interface no longer exists: the
// kernel unbinds a socket whose interface leaves.
func (s *packetSocket) gone() bool {
	sa, err := unix.Getsockname(s.fd)
	ll, ok := sa.(*unix.SockaddrLinklayer)
	return err == nil && ok && ll.Ifindex <= 0
}

// stats reads the kernel's counters since the last read and adds them.
func (s *packetSocket) stats() (received, dropped uint64) {
	if st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		s.received += uint64(st.Packets)
		s.dropped += uint64(st.Drops)
	}
	return s.received, s.dropped
}

func (s *packetSocket) close() {
	if s.ring != nil {
		unix.Munmap(s.ring)
		s.ring = nil
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// MergingOffloads names the offloads of the interface, as it was opened,
// that merge received packets (generic and large receive offload): with
// them on, packet counts and per-packet information describe the merged
// packets. Turn them off on capture ports (ethtool -K IFACE gro off lro
// off).
func (c *Capture) MergingOffloads() ([]string, error) { return c.merging, c.mergingErr }

// Meters are the capture's meters, one per socket.
func (c *Capture) Meters() []*Meter { return c.meters }

// ThreadCPU is the user-mode CPU time the meters' threads have used so
// far, while Run runs: what metering costs in user space. (Their system
// time would count the network's soft interrupts that happen to run on
// them.) It has the kernel's tick's resolution, 10 ms.
func (c *Capture) ThreadCPU() time.Duration {
	var total time.Duration
	for i := range c.threads {
		tid := c.threads[i].Load()
		if tid == 0 {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
		if err != nil {
			continue
		}
		// The fields after the command, which is in parentheses: state is
		// the 3rd field, utime the 14th.
		end := bytes.LastIndexByte(stat, ')')
		if end < 0 {
			continue
		}
		fields := strings.Fields(string(stat[end+1:]))
		if len(fields) < 12 {
			continue
		}
		if ticks, err := strconv.ParseInt(fields[11], 10, 64); err == nil {
			total += time.Duration(ticks) * time.Second / clockTicks
		}
	}
	return total
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on Linux's
// every architecture but alpha.
const clockTicks = 100

// SocketStats are the packets the sockets received and those the kernel
// dropped because a ring was full, summed, as of the last second. On a
// loopback interface the kernel counts each packet twice (going out and
// coming in); the meters see it once.
func (c *Capture) SocketStats() (received, dropped uint64) {
	for _, sc := range c.EachSocket() {
		received, dropped = received+sc.Received, dropped+sc.Dropped
	}
	return received, dropped
}

// EachSocket returns each socket's counters, as SocketStats sums them, in
// the order of Meters: a socket that drops while the others do not has a
// meter too slow for its share of the flows.
func (c *Capture) EachSocket() []SocketCounts {
	counts := make([]SocketCounts, len(c.socks))
	for i, s := range c.socks {
		counts[i] = SocketCounts{Received: s.counts.received.Load(), Dropped: s.counts.dropped.Load()}
	}
	return counts
}

// Run captures until ctx ends, each meter on a locked thread; it then ends
// every flow in the caches, giving the consumer FinishGrace to take them,
// and closes the sockets.
func (c *Capture) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.socks))
	for i := range c.socks {
		wg.Go(func() { errs[i] = c.read(ctx, i) })
	}
	stop := make(chan struct{})
	var statsWG sync.WaitGroup
	statsWG.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				c.pollStats()
			}
		}
	})
	wg.Wait()
	close(stop)
	statsWG.Wait()
	c.pollStats()
	c.Close()
	return errors.Join(errs...)
}

// read runs socket i's meter.
func (c *Capture) read(ctx context.Context, i int) error {
	s, m := c.socks[i], c.meters[i]
	if len(c.cfg.CPUs) > 0 {
		if err := pinThread(c.cfg.CPUs[i]); err != nil {
			return fmt.Errorf("AF_PACKET on %s: meter %d: %w", c.cfg.Interface, i, err)
		}
	} else {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	c.threads[i].Store(int32(unix.Gettid()))
	defer c.threads[i].Store(0)
	defer m.FinishWithin(ctx, FinishGrace)
	for ctx.Err() == nil {
		got, err := s.readBlock(m, 100*time.Millisecond)
		switch {
		case errors.Is(err, unix.ENETDOWN):
			// The kernel hooks the socket in again when the interface
			// comes back up, and unbinds it if the interface leaves.
			if c.down.CompareAndSwap(false, true) {
				c.cfg.Log.Warn("the capture's interface went down: waiting for it to come back up", "interface", c.cfg.Interface)
			}
		case err != nil:
			return fmt.Errorf("AF_PACKET on %s: %w", c.cfg.Interface, err)
		case got && c.down.Load() && c.down.CompareAndSwap(true, false): // a load first: no locked instruction a block
			c.cfg.Log.Info("packets come again on the capture's interface", "interface", c.cfg.Interface)
		case !got && s.gone():
			// Looked at whenever nothing comes: a block the kernel retires
			// after the interface went down may come before it leaves.
			return fmt.Errorf("AF_PACKET on %s: the interface is gone", c.cfg.Interface)
		}
		if !got {
			m.Expire(time.Now().UnixMicro())
		}
		m.Flush()
	}
	// Stopped: the frames the kernel has put in the ring are read too, the
	// block it is filling once it hands it over, so that every frame
	// captured before the stop is in a flow; a ring's worth at most, on a
	// link that goes on filling it.
	for range s.numBlocks {
		if got, err := s.readBlock(m, retireTimeout+10*time.Millisecond); err != nil || !got {
			break
		}
	}
	return nil
}

// pinThread locks the calling goroutine to its thread and the thread to
// cpu. The thread is not given back to the runtime: it ends with the
// goroutine, and its affinity with it.
func pinThread(cpu int) error {
	runtime.LockOSThread()
	if err := pinTo(cpu); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	return nil
}

// pinTo puts the calling thread on cpu alone.
func pinTo(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pinning a thread to CPU %d: %w", cpu, err)
	}
	return nil
}

// onCPU runs f on the calling goroutine's thread, pinned to cpu for the
// while (the thread keeps what else it has, as a network namespace).
func onCPU(cpu int, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		return fmt.Errorf("the CPUs of a thread: %w", err)
	}
	if err := pinTo(cpu); err != nil {
		return err
	}
	err := f()
	if e := unix.SchedSetaffinity(0, &was); e != nil {
		// The thread stays pinned: it must not serve other goroutines.
		runtime.LockOSThread()
		return errors.Join(err, fmt.Errorf("unpinning a thread from CPU %d: %w", cpu, e))
	}
	return err
}

// pollStats sums the sockets' counters. Run calls it from one goroutine at
// a time: its ticker's, then, once that has stopped, its own.
func (c *Capture) pollStats() {
	for i, s := range c.socks {
		r, d := s.stats()
		s.counts.received.Store(r)
		s.counts.dropped.Store(d)
		if n, ok := s.kernelDrops.grown(d); ok {
			c.cfg.Log.Warn("the kernel dropped packets: a meter fell behind and its socket's ring filled; more --fanout, a larger ring (--ring-blocks) or eBPF pre-aggregation would help",
				"interface", c.cfg.Interface, "socket", i, "dropped", n, "dropped_total", d)
		}
		flows := c.meters[i].ring.Dropped()
		if n, ok := s.ringDrops.grown(flows); ok {
			c.cfg.Log.Warn("flows dropped: the consumer of a meter's flows (its classifier) fell behind and the meter's ring filled",
				"interface", c.cfg.Interface, "meter", i, "dropped", n, "dropped_total", flows)
		}
	}
}

// Close closes the sockets of a capture that is not running, and gives
// back its meters' caches (their rings stay readable).
func (c *Capture) Close() {
	for _, s := range c.socks {
		s.close()
	}
	for _, m := range c.meters {
		m.Close()
	}
}
