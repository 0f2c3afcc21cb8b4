//go:build !amd64 || purego

package flowmeter

import "unsafe"

const canPrefetch = false

func prefetch(unsafe.Pointer, int) {}

// fetchAhead is prefetchLine and prefetchFlow; there is no working ahead
// here.
func (k *cache) fetchAhead(h, next uint64) {
	k.prefetchLine(next)
	k.prefetchFlow(h)
}
