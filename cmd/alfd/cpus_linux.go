package main

import "golang.org/x/sys/unix"

// otherCPUs are the CPUs this process may run on besides used, or nil
// when it cannot tell or there are none.
func otherCPUs(used []int) []int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return nil
	}
	for _, c := range used {
		set.Clear(c)
	}
	var rest []int
	for c := 0; c < len(set)*64 && len(rest) < set.Count(); c++ {
		if set.IsSet(c) {
			rest = append(rest, c)
		}
	}
	return rest
}
