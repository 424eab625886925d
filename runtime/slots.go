package runtime

import (
	"context"
	"slices"
	"sync"
)

// Slots holds the slots of concurrency limits (Graph.Limits) in one
// process: what enforces @flow(limits=...) where there is no run store to
// share them through (--no-store runs, the REPL's flow.run()). The runs
// given Limiters of one Slots share its counts, as runs sharing a store
// share its rows. The zero value is ready to use.
type Slots struct {
	mu    sync.Mutex
	used  map[string]int
	freed chan struct{} // closed, and replaced, when a slot is freed
}

// Limiter returns the Limiter of a run whose flow limits tags as limits
// says (tag -> slots; 0 lets none run).
func (s *Slots) Limiter(limits map[string]int) Limiter {
	return &slotsLimiter{s: s, limits: limits}
}

type slotsLimiter struct {
	s      *Slots
	limits map[string]int
}

// Acquire takes a slot of each limited tag of c's task, all at once,
// when each has room; until then it waits, woken by each slot freed.
func (l *slotsLimiter) Acquire(ctx context.Context, c *Call) (func(), error) {
	var tags []string
	for _, t := range c.Node.Tags {
		if _, ok := l.limits[t]; ok && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return func() {}, nil
	}
	said := false
	for {
		freed, full, used := l.take(tags)
		if full == "" {
			return func() { l.s.release(tags) }, nil
		}
		if !said {
			c.WaitingForSlot(full, used)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-freed:
		}
	}
}

// take takes a slot of each of tags if all have room; else it returns
// the first full tag, its slots in use, and what closes when one frees.
func (l *slotsLimiter) take(tags []string) (freed <-chan struct{}, full string, used int) {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tags {
		if s.used[t] >= l.limits[t] {
			if s.freed == nil {
				s.freed = make(chan struct{})
			}
			return s.freed, t, s.used[t]
		}
	}
	if s.used == nil {
		s.used = map[string]int{}
	}
	for _, t := range tags {
		s.used[t]++
	}
	return nil, "", 0
}

func (s *Slots) release(tags []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tags {
		s.used[t]--
	}
	if s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
}
