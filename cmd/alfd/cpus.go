package main

import (
	"fmt"
	"strconv"
	"strings"
)

// maxCPUs is how many CPUs a CPU set holds (glibc's CPU_SETSIZE).
const maxCPUs = 1024

// parseCPUList reads a list of CPUs as the kernel writes one (2-5,8), in
// the order given; a CPU may not come twice.
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	seen := map[int]bool{}
	for part := range strings.SplitSeq(s, ",") {
		first, last, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(first)
		hi := lo
		if err == nil && isRange {
			hi, err = strconv.Atoi(last)
		}
		switch {
		case err != nil || lo < 0:
			return nil, fmt.Errorf("%q: want a CPU number or a range of them, as 2-5", part)
		case hi < lo:
			return nil, fmt.Errorf("%q: a range goes up", part)
		case hi >= maxCPUs:
			return nil, fmt.Errorf("%q: CPUs are numbered below %d", part, maxCPUs)
		}
		for c := lo; c <= hi; c++ {
			if seen[c] {
				return nil, fmt.Errorf("CPU %d comes twice", c)
			}
			seen[c] = true
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
