package runtime

import (
	"bytes"
	"os"
	goruntime "runtime"
	"syscall"
	"unsafe"
)

const hugePage = 2 << 20

// reserveHuge allocates size bytes of heap in one block, marks the huge
// pages inside it MADV_HUGEPAGE and collects it. The runtime maps a large
// block as one mapping and reuses the freed pages lowest address first,
// so the allocations that follow fill it; the kernel backs each 2 MiB of
// it with one huge page at its first touch.
func reserveHuge(size int) {
	b := make([]byte, size)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	beg := (p + hugePage - 1) &^ (hugePage - 1)
	end := (p + uintptr(size)) &^ (hugePage - 1)
	if end <= beg { // too small to hold a huge page
		return
	}
	// make leaves a fresh mapping untouched: it is zero already.
	syscall.Madvise(b[beg-p:end-p], syscall.MADV_HUGEPAGE)
	goruntime.GC()
}

// hugePagesAsked reports whether the kernel gives huge pages to memory
// that asks for them and not to the rest: with "always" the heap has them
// already, with "never" nothing can.
func hugePagesAsked() bool {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && bytes.Contains(mode, []byte("[madvise]"))
}
