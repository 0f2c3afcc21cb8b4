//go:build linux

package flowmeter

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InterfaceLink is the link type of the frames an AF_PACKET capture of
// interface name reads: Ethernet for Ethernet and loopback interfaces, and
// bare IP for the others (tunnels, VPNs, PPP), which the capture reads
// without their link headers.
func InterfaceLink(name string) (LinkType, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("interface %q: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("interface %q: its hardware type: %w", name, err)
	}
	switch ifr.Uint16() { // the hardware address's family: ARPHRD_*
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return LinkEthernet, nil
	}
	return LinkRaw, nil
}

// ethFlagLRO is ETH_FLAG_LRO, large receive offload's bit in
// ETHTOOL_GFLAGS's value.
const ethFlagLRO = 1 << 15

// mergingOffloads names the offloads of interface name that merge
// received packets (generic and large receive offload). With either on, a
// capture sees a burst of a flow's packets as one: its packet counts and
// per-packet information are the merged packets', not the wire's, which
// ALF's features and models are made of. ipfixprobe's documentation, too,
// asks for them off (ethtool -K IFACE gro off lro off).
func mergingOffloads(name string) ([]string, error) {
	gro, err := ethtool(name, unix.ETHTOOL_GGRO, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: reading generic receive offload: %w", name, err)
	}
	flags, err := ethtool(name, unix.ETHTOOL_GFLAGS, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: reading large receive offload: %w", name, err)
	}
	var on []string
	if gro != 0 {
		on = append(on, "generic-receive-offload")
	}
	if flags&ethFlagLRO != 0 {
		on = append(on, "large-receive-offload")
	}
	return on, nil
}

// ethtool runs ethtool command cmd with value on interface name (in the
// calling thread's network namespace) and returns the value the kernel
// gives back (struct ethtool_value).
func ethtool(name string, cmd, value uint32) (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	v := struct{ cmd, data uint32 }{cmd, value}
	// struct ifreq, its union holding a pointer to v.
	var req struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [24 - unsafe.Sizeof(uintptr(0))]byte
	}
	if len(name) >= len(req.name) {
		return 0, fmt.Errorf("interface name %q: longer than %d bytes", name, len(req.name)-1)
	}
	copy(req.name[:], name)
	req.data = unsafe.Pointer(&v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req)))
	runtime.KeepAlive(&v)
	if errno != 0 {
		return 0, errno
	}
	return v.data, nil
}
