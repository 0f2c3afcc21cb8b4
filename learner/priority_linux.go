package learner

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// lowerPriority keeps the calling goroutine on its own OS thread, at the
// lowest scheduling priority, on the given CPUs if any, so that training
// yields to the fast path and stays off the meters' cores. Linux's nice and
// affinity are per thread.
func lowerPriority(cpus []int) error {
	runtime.LockOSThread()
	tid := unix.Gettid()
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, 19); err != nil {
		return fmt.Errorf("nice: %w", err)
	}
	if len(cpus) > 0 {
		var set unix.CPUSet
		for _, c := range cpus {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("CPU affinity %v: %w", cpus, err)
		}
	}
	return nil
}
