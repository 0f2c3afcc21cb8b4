//go:build !amd64 || purego

package flowmeter

import "unsafe"

const canPrefetch = false

func prefetch(unsafe.Pointer, int) {}

// seekTag is scanTag: there is no AVX-512 form here (nor working ahead).
func (k *cache) seekTag(start int, t uint16) (int, bool) { return k.scanTag(start, t) }
