//go:build !linux

package learner

// lowerPriority does nothing where alfd cannot set a thread's priority.
func lowerPriority([]int) error { return nil }
