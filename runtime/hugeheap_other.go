//go:build !linux

package runtime

// reserveHuge does nothing where the kernel has no transparent huge pages to
// ask for.
func reserveHuge(int, func()) {}
