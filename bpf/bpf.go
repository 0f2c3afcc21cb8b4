//go:build linux

package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/alfd/alfd/flowmeter"
)

// Programs are alfd's loaded eBPF programs.
type Programs struct {
	coll    *ebpf.Collection
	filter  *ebpf.Program
	steer   *ebpf.Program
	flows   *ebpf.Map // nil without pre-aggregation
	flowsFD uint32    // its descriptor
	counts  *ebpf.Map
	xdp     link.Link
	hintErr error // why the XDP program is not bound to its interface
	// hintMissing, at hintOff, is set when the bound XDP program met a
	// frame whose driver could not tell its VLAN tag; nil without it.
	hintMissing *ebpf.Memory
	hintOff     int64
	full        atomic.Uint64 // flows the table had no room for (Counts.Full)
	monoOffset  int64         // CLOCK_REALTIME - CLOCK_MONOTONIC, ns
}

// Load loads the programs cfg asks for, and attaches the XDP one. Its
// errors say what failed (no BTF, missing privileges, the verifier's
// complaint); the caller may go on without. At XDP it binds the program
// to the interface, so that the driver tells it the VLAN tags it takes
// off the frames; where that cannot be (a kernel before 6.8, a driver
// without native XDP), it loads the program that sees no such tag, and
// VLANHint says why.
func Load(cfg Config) (*Programs, error) {
	if cfg.MaxFlows == 0 {
		cfg.MaxFlows = 1 << 18
	}
	switch cfg.Aggregate {
	case AggregateOff, AggregateSocket:
		return load(cfg, 0, false)
	case AggregateXDP:
	default:
		return nil, fmt.Errorf("pre-aggregation %q: want socket or xdp", cfg.Aggregate)
	}
	ifc, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("XDP: %w", err)
	}
	hintErr := errors.New("not asked to")
	if !cfg.unbound {
		var p *Programs
		if p, hintErr = load(cfg, ifc.Index, true); hintErr == nil {
			return p, nil
		}
	}
	p, err := load(cfg, ifc.Index, false)
	if err != nil {
		return nil, err
	}
	p.hintErr = fmt.Errorf("binding the XDP program to %s (that needs Linux 6.8 and a driver with XDP of its own): %w", cfg.Interface, hintErr)
	return p, nil
}

// load loads the programs cfg asks for, the XDP one for interface ifindex
// and bound to it when hinted.
func load(cfg Config, ifindex int, hinted bool) (_ *Programs, err error) {
	spec, err := loadAlfd()
	if err != nil {
		return nil, fmt.Errorf("eBPF programs: %w", err)
	}
	if err := spec.Variables[alfdVarFilterPorts].Set(b2u8(cfg.Ports != nil)); err != nil {
		return nil, fmt.Errorf("eBPF programs: %w", err)
	}
	if err := spec.Variables[alfdVarAggregateFlows].Set(b2u8(cfg.Aggregate == AggregateSocket)); err != nil {
		return nil, fmt.Errorf("eBPF programs: %w", err)
	}
	spec.Maps[alfdMapFlows].MaxEntries = uint32(cfg.MaxFlows)
	// Load only what is asked for.
	if cfg.Ports == nil && cfg.Aggregate != AggregateSocket {
		delete(spec.Programs, alfdProgPortFilter)
	}
	xdpName := alfdProgAggregate
	if hinted {
		xdpName = alfdProgAggregateHinted
		spec.Programs[xdpName].Ifindex = uint32(ifindex)
		spec.Programs[xdpName].Flags |= unix.BPF_F_XDP_DEV_BOUND_ONLY
	}
	for _, name := range []string{alfdProgAggregate, alfdProgAggregateHinted} {
		if cfg.Aggregate != AggregateXDP || name != xdpName {
			delete(spec.Programs, name)
		}
	}
	if !cfg.Steer {
		delete(spec.Programs, alfdProgSteer)
	}
	if len(spec.Programs) == 0 {
		return nil, errors.New("eBPF programs: none asked for")
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) && len(ve.Log) > 0 {
			return nil, fmt.Errorf("eBPF programs: the verifier refused them: %+v", ve)
		}
		return nil, fmt.Errorf("eBPF programs (loading needs root or CAP_BPF, and a kernel with BTF): %w", err)
	}
	p := &Programs{coll: coll, filter: coll.Programs[alfdProgPortFilter], steer: coll.Programs[alfdProgSteer],
		counts: coll.Maps[alfdMapCounts]}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if cfg.Aggregate != AggregateOff {
		p.flows = coll.Maps[alfdMapFlows]
		p.flowsFD = uint32(p.flows.FD())
		if p.monoOffset, err = monotonicOffset(); err != nil {
			return nil, err
		}
	}
	for _, port := range cfg.Ports {
		key := alfdPortKey{Proto: port.Proto, Port: port.Port}
		if err := coll.Maps[alfdMapWantedPorts].Put(&key, uint8(1)); err != nil {
			return nil, fmt.Errorf("eBPF port list: %w", err)
		}
	}
	if hinted {
		// Read in place: no system call, no allocation.
		v := spec.Variables[alfdVarVlanHintMissing]
		if p.hintMissing, err = coll.Maps[v.SectionName].Memory(); err != nil {
			return nil, fmt.Errorf("eBPF programs: mapping %s: %w", v.Name, err)
		}
		p.hintOff = int64(v.Offset)
	}
	if cfg.Aggregate == AggregateXDP {
		if p.xdp, err = link.AttachXDP(link.XDPOptions{Program: coll.Programs[xdpName], Interface: ifindex}); err != nil {
			return nil, fmt.Errorf("attaching XDP to %s: %w", cfg.Interface, err)
		}
	}
	return p, nil
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// monotonicOffset is CLOCK_REALTIME - CLOCK_MONOTONIC: the kernel's flow
// times are monotonic, capture times real.
func monotonicOffset() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("CLOCK_MONOTONIC: %w", err)
	}
	return time.Now().UnixNano() - ts.Nano(), nil
}

// VLANHint reports whether the XDP program is bound to its interface, so
// that a driver that can tells it the VLAN tags it takes off the frames
// (Counts.NoVLANHint counts the frames of one that cannot); if not, err
// says why. Without XDP it reports false and nil.
func (p *Programs) VLANHint() (bound bool, err error) {
	return p.xdp != nil && p.hintErr == nil, p.hintErr
}

// FilterFD is the socket filter for the AF_PACKET sockets, or 0 for none.
func (p *Programs) FilterFD() int {
	if p.filter == nil {
		return 0
	}
	return p.filter.FD()
}

// SteeringFD is the fanout steering program, or 0 for none.
func (p *Programs) SteeringFD() int {
	if p.steer == nil {
		return 0
	}
	return p.steer.FD()
}

// Aggregator is what the meters ask of the kernel's flow table, or nil
// without pre-aggregation.
func (p *Programs) Aggregator() flowmeter.Aggregator {
	if p.flows == nil {
		return nil
	}
	return aggregator{p}
}

// Counts reads the counters.
func (p *Programs) Counts() (Counts, error) {
	var c Counts
	c.Full = p.full.Load()
	for i, dst := range []*uint64{&c.Passed, &c.Dropped, &c.Counted, &c.Unparsed, &c.NoVLANHint} {
		var perCPU []uint64
		if err := p.counts.Lookup(uint32(i), &perCPU); err != nil {
			return c, fmt.Errorf("eBPF counters: %w", err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return c, nil
}

// Sweep removes the kernel's flows that have seen no packet, nor their
// hand-over, for longer than idle: flows no meter took back. It returns
// how many.
func (p *Programs) Sweep(idle time.Duration) (int, error) {
	if p.flows == nil {
		return 0, nil
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	cutoff := uint64(ts.Nano() - idle.Nanoseconds())
	var key alfdFlowKey
	var val alfdFlowCounts
	var stale []alfdFlowKey
	it := p.flows.Iterate()
	for it.Next(&key, &val) {
		if val.LastNs < cutoff {
			stale = append(stale, key)
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("sweeping the eBPF flow table: %w", err)
	}
	n := 0
	for i := range stale {
		if p.flows.Delete(&stale[i]) == nil {
			n++
		}
	}
	return n, nil
}

// Close detaches and unloads the programs.
func (p *Programs) Close() error {
	var errs []error
	if p.xdp != nil {
		errs = append(errs, p.xdp.Close())
	}
	p.coll.Close()
	return errors.Join(errs...)
}

// aggregator fills, reads and clears the kernel's flow table for the
// meters.
type aggregator struct{ p *Programs }

// flowKey is the kernel's key of a flow: the lower endpoint first, and its
// outer VLAN; it reports whether the flow's source is the lower endpoint.
func flowKey(k *flowmeter.Key) (alfdFlowKey, bool) {
	key := alfdFlowKey{Proto: k.Proto, Ipver: k.IPVersion, Vlan: k.VLAN}
	srcLo := lower(&k.Src, k.SrcPort, &k.Dst, k.DstPort)
	if srcLo {
		key.Lo, key.Hi, key.LoPort, key.HiPort = k.Src, k.Dst, k.SrcPort, k.DstPort
	} else {
		key.Lo, key.Hi, key.LoPort, key.HiPort = k.Dst, k.Src, k.DstPort, k.SrcPort
	}
	return key, srcLo
}

// lower orders endpoints as the kernel does: address bytes, then port.
func lower(a *[16]byte, ap uint16, b *[16]byte, bp uint16) bool {
	if c := bytes.Compare(a[:], b[:]); c != 0 {
		return c < 0
	}
	return ap < bp
}

// keys are the kernel's keys of the flow with key k: its own, and for a
// flow in a VLAN the key without it too where the kernel may count the
// flow so (see tagsUnseen). srcLo reports whether the flow's source is the
// lower endpoint.
func (a aggregator) keys(k *flowmeter.Key) (keys [2]alfdFlowKey, n int, srcLo bool) {
	keys[0], srcLo = flowKey(k)
	if k.VLAN == 0 || !a.p.tagsUnseen() {
		return keys, 1, srcLo
	}
	keys[1] = keys[0]
	keys[1].Vlan = 0
	return keys, 2, srcLo
}

// tagsUnseen reports whether the kernel may see a flow in a VLAN without
// it: at XDP, which comes after a NIC takes VLAN tags off the frames
// (rx-vlan-offload), unless the program is bound to the interface and its
// driver has told it every frame's tag so far.
func (p *Programs) tagsUnseen() bool {
	if p.xdp == nil {
		return false
	}
	if p.hintMissing == nil {
		return true
	}
	var missing [1]byte
	_, err := p.hintMissing.ReadAt(missing[:], p.hintOff)
	return err != nil || missing[0] != 0
}

// flowElem runs the bpf(2) map element command cmd on the flows map's
// entry under key, with value and flags: the meters' calls, once or twice
// a long flow, without the allocations of cilium/ebpf's, whose keys and
// values are interfaces. key and value cannot move while the kernel reads
// their addresses: nothing from the conversions to the system call's
// return grows the stack (the call's path is nosplit).
func (p *Programs) flowElem(cmd uintptr, key *alfdFlowKey, value *alfdFlowCounts, flags uint64) error {
	attr := mapElem{mapFD: p.flowsFD, flags: flags}
	attr.key, attr.value = uint64(uintptr(unsafe.Pointer(key))), uint64(uintptr(unsafe.Pointer(value)))
	_, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	if errno != 0 {
		return errno
	}
	return nil
}

// mapElem is bpf(2)'s attribute for the map element commands.
type mapElem struct {
	mapFD uint32
	_     uint32
	key   uint64 // addresses
	value uint64
	flags uint64
}

func (a aggregator) Watch(k *flowmeter.Key) bool {
	keys, n, srcLo := a.keys(k)
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	v := alfdFlowCounts{FirstLo: b2u8(srcLo), LastNs: uint64(ts.Nano())}
	watched := false
	for i := range n {
		// An entry there already is one the flow shares (its copy in
		// another VLAN, where the kernel cannot tell VLANs apart).
		err := a.p.flowElem(unix.BPF_MAP_UPDATE_ELEM, &keys[i], &v, unix.BPF_NOEXIST)
		watched = watched || err == nil || err == unix.EEXIST
	}
	if !watched {
		a.p.full.Add(1)
	}
	return watched
}

func (a aggregator) Take(k *flowmeter.Key) flowmeter.Aggregate {
	keys, n, srcLo := a.keys(k)
	var agg flowmeter.Aggregate
	for i := range n {
		var v alfdFlowCounts
		if a.p.flowElem(unix.BPF_MAP_LOOKUP_AND_DELETE_ELEM, &keys[i], &v, 0) != nil {
			continue
		}
		fwd, rev := 0, 1
		if (v.FirstLo != 0) != srcLo {
			// The kernel's first sender is the flow's other end.
			fwd, rev = 1, 0
		}
		for d, kd := range [2]int{fwd, rev} {
			agg.Packets[d] += v.Packets[kd]
			agg.Bytes[d] += v.Bytes[kd]
			agg.TCPFlags[d] |= v.Flags[kd]
		}
		if v.Packets[0]+v.Packets[1] > 0 {
			agg.LastMicros = max(agg.LastMicros, a.p.micros(v.LastNs))
		}
	}
	return agg
}

func (a aggregator) LastSeen(k *flowmeter.Key) int64 {
	keys, n, _ := a.keys(k)
	last := int64(0)
	for i := range n {
		// A time is a packet's once the kernel has counted one: the
		// entry's first is the hand-over's.
		var v alfdFlowCounts
		if a.p.flowElem(unix.BPF_MAP_LOOKUP_ELEM, &keys[i], &v, 0) == nil && v.Packets[0]+v.Packets[1] > 0 {
			last = max(last, a.p.micros(v.LastNs))
		}
	}
	return last
}

// micros turns a kernel time into microseconds since the epoch.
func (p *Programs) micros(monoNs uint64) int64 { return (int64(monoNs) + p.monoOffset) / 1e3 }
