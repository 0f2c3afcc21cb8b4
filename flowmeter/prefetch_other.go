//go:build !amd64 || purego

package flowmeter

import "unsafe"

const canPrefetch = false

func prefetch(unsafe.Pointer, int) {}

func (k *cache) seekTag(start int, t uint16) (int, bool) { return k.scanTag(start, t) }
