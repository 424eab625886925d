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

// ExpectTasks reserves once, only past LargeRun, only once enabled, a
// block of the size for the tasks expected, advised for huge pages.
func TestExpectTasks(t *testing.T) {
	defer hugeHeap.around.Store(nil)
	before := hugeAdvised(t)
	var sizes []int
	around := func(size int, reserve func()) { sizes = append(sizes, size); reserve() }

	ExpectTasks(LargeRun) // not enabled
	EnableHugeHeap(around)
	ExpectTasks(LargeRun - 1)
	if len(sizes) != 0 || hugeAdvised(t) != before {
		t.Fatalf("below the threshold or before EnableHugeHeap: reserved %v, %d bytes advised (before %d)", sizes, hugeAdvised(t), before)
	}
	const n = 100_000
	ExpectTasks(n)
	ExpectTasks(10 * n)
	if !hugePagesAsked() {
		if len(sizes) != 0 {
			t.Errorf("with huge pages not in madvise mode: reserved %v, want nothing", sizes)
		}
		t.Skip("/sys/kernel/mm/transparent_hugepage/enabled is not [madvise]: nothing to reserve")
	}
	if want := n * perTask; len(sizes) != 1 || sizes[0] != want {
		t.Fatalf("reserved %v, want once %d", sizes, want)
	}
	if got := hugeAdvised(t) - before; got < sizes[0]-2*hugePage {
		t.Errorf("%d bytes newly advised for huge pages, want at least %d", got, sizes[0]-2*hugePage)
	}
}

func TestReserveFor(t *testing.T) {
	for _, c := range []struct{ n, want int }{{LargeRun, minReserve}, {100_000, 100_000 * perTask}, {10_000_000, maxReserve}} {
		if got := reserveFor(c.n); got != c.want {
			t.Errorf("reserveFor(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}
