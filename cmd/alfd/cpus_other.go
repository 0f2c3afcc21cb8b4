//go:build !linux

package main

// otherCPUs cannot tell here: meters are pinned on Linux only.
func otherCPUs([]int) []int { return nil }
