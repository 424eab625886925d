// Package benchstat records the duration of each benchmark iteration and
// reports percentiles beside the mean, for the benchmarks of
// docs/performance.md.
package benchstat

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Durations holds one duration per iteration.
type Durations []time.Duration

// Add records one iteration.
func (d *Durations) Add(x time.Duration) { *d = append(*d, x) }

// Report adds NAME-p50-UNIT and NAME-p99-UNIT to the benchmark's output.
func (d Durations) Report(b *testing.B, name string, unit time.Duration, unitName string) {
	if len(d) == 0 {
		return
	}
	s := slices.Clone(d)
	slices.Sort(s)
	for _, p := range []int{50, 99} {
		b.ReportMetric(float64(Percentile(s, p))/float64(unit), fmt.Sprintf("%s-p%d-%s", name, p, unitName))
	}
}

// Percentile returns the p-th percentile of sorted, by the nearest-rank
// method.
func Percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
