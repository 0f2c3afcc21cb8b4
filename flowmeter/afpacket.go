//go:build linux && cgo

package flowmeter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket/afpacket"
)

// AFPacketConfig sets up a live capture.
type AFPacketConfig struct {
	Interface string
	// Fanout is the number of sockets in the fanout group, each with a
	// meter on a thread of its own (default 1). The kernel spreads flows
	// over them by a symmetric hash, so both directions of a flow reach
	// the same meter.
	Fanout int
	// FanoutID names the fanout group (default: from the process ID).
	FanoutID uint16
	// BlockSize and NumBlocks size each socket's ring shared with the
	// kernel (defaults 1 MiB and 64).
	BlockSize, NumBlocks int
	Meter                Config
}

// A Capture reads an interface through AF_PACKET sockets (TPACKET_V3) in a
// fanout group, one meter per socket.
type Capture struct {
	cfg    AFPacketConfig
	socks  []*afpacket.TPacket
	meters []*Meter
	// The sockets' counters, as the kernel reports them.
	received, dropped atomic.Uint64
}

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
	if cfg.Fanout < 1 || cfg.Fanout > 64 {
		return nil, fmt.Errorf("--fanout %d: want 1 to 64 sockets", cfg.Fanout)
	}
	c := &Capture{cfg: cfg}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	for range cfg.Fanout {
		s, err := afpacket.NewTPacket(afpacket.OptInterface(cfg.Interface), afpacket.TPacketVersion3,
			afpacket.OptBlockSize(cfg.BlockSize), afpacket.OptNumBlocks(cfg.NumBlocks),
			afpacket.OptFrameSize(afpacket.DefaultFrameSize), afpacket.OptPollTimeout(100*time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("AF_PACKET on %s: %w", cfg.Interface, err)
		}
		c.socks = append(c.socks, s)
		if cfg.Fanout > 1 {
			if err := s.SetFanout(afpacket.FanoutHash, cfg.FanoutID); err != nil {
				return nil, fmt.Errorf("AF_PACKET fanout group %d on %s: %w", cfg.FanoutID, cfg.Interface, err)
			}
		}
		m, err := NewMeter(cfg.Meter, LinkEthernet)
		if err != nil {
			return nil, err
		}
		c.meters = append(c.meters, m)
	}
	return c, nil
}

// Meters are the capture's meters, one per socket.
func (c *Capture) Meters() []*Meter { return c.meters }

// SocketStats are the packets the sockets received and those the kernel
// dropped because a ring was full, summed, as of the last second.
func (c *Capture) SocketStats() (received, dropped uint64) {
	return c.received.Load(), c.dropped.Load()
}

// Run captures until ctx ends, each meter on a locked thread; it then ends
// every flow in the caches, giving the consumer FinishGrace to take them,
// and closes the sockets.
func (c *Capture) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.socks))
	for i := range c.socks {
		wg.Go(func() { errs[i] = c.read(ctx, c.socks[i], c.meters[i]) })
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
	c.close()
	return errors.Join(errs...)
}

// read runs one socket's meter.
func (c *Capture) read(ctx context.Context, s *afpacket.TPacket, m *Meter) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer m.FinishWithin(ctx, FinishGrace)
	for n := 1; ; n++ {
		frame, ci, err := s.ZeroCopyReadPacketData()
		switch {
		case err == nil:
		case errors.Is(err, afpacket.ErrTimeout):
			if ctx.Err() != nil {
				return nil
			}
			m.Expire(time.Now().UnixMicro())
			m.Flush()
			continue
		default:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("AF_PACKET on %s: %w", c.cfg.Interface, err)
		}
		m.Packet(frame, ci.Timestamp.UnixMicro(), ci.Length)
		if n&255 == 0 {
			m.Flush()
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

// pollStats reads the sockets' counters (gopacket sums what the kernel
// reports since each read).
func (c *Capture) pollStats() {
	var received, dropped uint64
	for _, s := range c.socks {
		if _, v3, err := s.SocketStats(); err == nil {
			received += uint64(v3.Packets())
			dropped += uint64(v3.Drops())
		}
	}
	c.received.Store(received)
	c.dropped.Store(dropped)
}

// Close closes the sockets of a capture that is not running.
func (c *Capture) Close() { c.close() }

func (c *Capture) close() {
	for _, s := range c.socks {
		s.Close()
	}
	c.socks = nil
}
