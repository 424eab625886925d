package runtime

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// hugeAdvised returns the bytes of this process's mappings marked
// MADV_HUGEPAGE ("hg" in their VmFlags).
func hugeAdvised(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	var size, total int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if kb, ok := strings.CutPrefix(line, "Size:"); ok {
			size, _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")))
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			for _, fl := range strings.Fields(flags) {
				if fl == "hg" {
					total += size << 10
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// ExpectTasks reserves once, only past LargeRun, only once enabled, and the
// block it reserves is advised for huge pages and collected.
func TestExpectTasks(t *testing.T) {
	defer hugeHeap.collect.Store(nil)
	before := hugeAdvised(t)
	collections := 0
	wrap := func(gc func()) { collections++; gc() }

	ExpectTasks(LargeRun) // not enabled
	EnableHugeHeap(wrap)
	ExpectTasks(LargeRun - 1)
	if collections != 0 || hugeAdvised(t) != before {
		t.Fatalf("below the threshold or before EnableHugeHeap: %d collections, %d bytes advised (before %d)", collections, hugeAdvised(t), before)
	}
	ExpectTasks(LargeRun)
	ExpectTasks(10 * LargeRun)
	if !madviseMode() {
		if collections != 0 {
			t.Errorf("with huge pages not in madvise mode: %d collections, want none", collections)
		}
		t.Skip("/sys/kernel/mm/transparent_hugepage/enabled is not [madvise]: nothing to reserve")
	}
	if collections != 1 {
		t.Errorf("%d collections, want 1", collections)
	}
	if got := hugeAdvised(t) - before; got < reserveSize-2*hugePage {
		t.Errorf("%d bytes newly advised for huge pages, want at least %d", got, reserveSize-2*hugePage)
	}
}
