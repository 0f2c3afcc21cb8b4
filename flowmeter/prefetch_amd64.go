//go:build amd64 && !purego

package flowmeter

import "unsafe"

// canPrefetch says that prefetch fetches: Meter.Frames works ahead only
// where it does.
const canPrefetch = true

// prefetch asks the processor to bring in the cache lines from p on,
// without waiting for them; it never faults, whatever p is.
//
//go:noescape
func prefetch(p unsafe.Pointer, lines int)
