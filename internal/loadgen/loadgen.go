//go:build linux

// Package loadgen sends prepared frames out of an interface at a target
// rate, through an AF_PACKET socket in batches (sendmmsg): the load for
// live-capture measurements over a veth pair.
package loadgen

import (
	"context"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batch is how many frames one sendmmsg sends.
const batch = 64

// mmsghdr is the kernel's struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// Send sends count frames, cycling through frames, out of the interface
// ifname, at rate frames per second (0: as fast as the socket takes
// them), until done or ctx ends. It returns the frames sent.
func Send(ctx context.Context, ifname string, frames [][]byte, count int, rate float64) (int, error) {
	if len(frames) == 0 {
		return 0, fmt.Errorf("loadgen: no frames")
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("loadgen: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("loadgen: socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
		return 0, fmt.Errorf("loadgen: bind to %s: %w", ifname, err)
	}
	iovs := make([]unix.Iovec, batch)
	msgs := make([]mmsghdr, batch)
	start := time.Now()
	sent, next := 0, 0
	for sent < count && ctx.Err() == nil {
		n := min(batch, count-sent)
		for i := range n {
			f := frames[next]
			next = (next + 1) % len(frames)
			iovs[i].Base = &f[0]
			iovs[i].SetLen(len(f))
			msgs[i].hdr.Iov = &iovs[i]
			msgs[i].hdr.SetIovlen(1)
		}
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(n), 0, 0, 0)
		switch errno {
		case 0:
		case unix.EINTR, unix.EAGAIN, unix.ENOBUFS:
			time.Sleep(10 * time.Microsecond)
			continue
		default:
			return sent, fmt.Errorf("loadgen: sendmmsg on %s: %w", ifname, errno)
		}
		sent += int(r)
		// Frames the socket did not take go again.
		next = ((next-n+int(r))%len(frames) + len(frames)) % len(frames)
		if rate > 0 {
			if ahead := time.Duration(float64(sent)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	return sent, nil
}
