//go:build !linux

package runtime

// hugePagesAsked is false where the kernel has no transparent huge pages
// to ask for, and reserveHuge is never called.
func hugePagesAsked() bool { return false }

func reserveHuge(int) {}
