//go:build !amd64 || purego

package flowmeter

import "unsafe"

const canPrefetch = false

func prefetch(unsafe.Pointer, int) {}
