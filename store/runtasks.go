package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wfsh/wfsh/runtime"
)

// RunTasks follows the task runs of one run: Refresh reads only the
// chunks written since it last read, and puts in order, counts and sums
// up only the task runs those chunks hold, so that a page of a run of
// 100,000 task runs, asked for every second while it runs, costs what
// the run wrote since, not all it wrote. Chunks are never rewritten, and
// a run's writer (one worker at a time) writes them in the order of their
// sequence numbers. Safe for concurrent use.
type RunTasks struct {
	st *Store
	id string

	mu     sync.Mutex
	base   int64 // the run's started_at the records were read against
	m      *merger
	rows   []*taskRow           // in TaskRuns' order
	first  map[string]time.Time // a mapped task's children's first time
	counts [runtime.NumStates]int
	sums   map[string]*taskSum // by the task run that is not a mapped child
	order  []*taskSum          // in the order of their first rows
	seq    int                 // rows made so far: the next one's seq
	gen    int                 // applies so far: a row taken in this one has it
	// reorders counts the refreshes that ordered every task run again
	// (a task run's start moved, or many came in the middle).
	reorders int
}

// taskRow is a task run as RunTasks keeps it: seq is the order its
// record was first written, which orders task runs that start at once
// (TaskRuns sorts stably, in that order).
type taskRow struct {
	TaskRun
	seq, gen int
	sum      *taskSum
}

// taskSum is a TaskSummary being summed up: StartedAt is the first
// start, FinishedAt the last end so far (Summaries clears it until
// all are final); first is its first row in order.
type taskSum struct {
	TaskSummary
	own   bool
	first *taskRow
}

// TaskSummary is one task run of a run that is not a mapped child, with
// its mapped children, if any, summed up: a graph node, a timeline bar.
type TaskSummary struct {
	Name  string        `json:"name"`
	Task  string        `json:"task"`
	Kind  string        `json:"kind"`
	State runtime.State `json:"state"`
	// Runs counts its mapped children (0: not mapped); Done those final,
	// Failed those that failed or crashed.
	Runs   int `json:"runs,omitempty"`
	Done   int `json:"done,omitempty"`
	Failed int `json:"failed,omitempty"`
	// StartedAt is its first start (its own or a child's), FinishedAt
	// its last end once it and its children are final.
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// NewRunTasks follows run id's task runs; nothing is read until Refresh.
func (s *Store) NewRunTasks(id string) *RunTasks {
	t := &RunTasks{st: s, id: id}
	t.reset(0)
	return t
}

func (t *RunTasks) reset(base int64) {
	t.base, t.m, t.rows, t.order, t.seq = base, newMerger(), nil, nil, 0
	t.first, t.sums, t.counts = map[string]time.Time{}, map[string]*taskSum{}, [runtime.NumStates]int{}
}

// Refresh reads what the run wrote since the last Refresh.
func (t *RunTasks) Refresh(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var base int64
	err := t.st.db.QueryRowContext(ctx, `SELECT started_at FROM runs WHERE id = ?`, t.id).Scan(&base)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w %q", ErrNotFound, t.id)
	}
	if err != nil {
		return err
	}
	if base != t.base { // started since: records' times are relative to it
		t.reset(base)
	}
	if _, err := t.m.read(ctx, t.st.db, t.id, base); err != nil {
		t.reset(base) // read again whole next time
		return err
	}
	t.apply(t.m.changed)
	return nil
}

// apply takes the records the last read made or changed: new task runs
// go into the order where they belong (most at its end), changed ones
// are changed in place, and the counts and sums move by the difference.
// A task run whose start moved, which moves its mapped siblings too,
// orders them all again.
func (t *RunTasks) apply(changed []*record) {
	var fresh []*taskRow
	again := false
	t.gen++
	for _, r := range changed {
		if r.row != nil && r.row.gen == t.gen { // changed twice in this read
			continue
		}
		tr := r.taskRun()
		row := r.row
		if row == nil {
			row = &taskRow{TaskRun: tr, seq: t.seq, gen: t.gen}
			t.seq++
			r.row = row
			t.counts[tr.State]++
			t.sumAdd(row)
			fresh = append(fresh, row)
		} else {
			old := row.TaskRun
			row.TaskRun, row.gen = tr, t.gen
			t.counts[old.State]--
			t.counts[tr.State]++
			t.sumChange(row, &old)
			again = again || !firstTime(old).Equal(firstTime(tr))
		}
		if tr.MapIndex >= 0 {
			f, ok := t.first[tr.Task]
			if at := firstTime(tr); !ok || at.Before(f) {
				t.first[tr.Task] = at
				again = again || ok // its siblings move
			}
		}
	}
	if again || len(fresh) > 64 && !t.atEnd(fresh) {
		t.rows = append(t.rows, fresh...)
		t.reorder()
		return
	}
	slices.SortFunc(fresh, t.cmp)
	for _, row := range fresh {
		if n := len(t.rows); n == 0 || t.cmp(row, t.rows[n-1]) > 0 {
			t.rows = append(t.rows, row)
		} else {
			i, _ := slices.BinarySearchFunc(t.rows, row, t.cmp)
			t.rows = slices.Insert(t.rows, i, row)
		}
		if s := row.sum; s.first == nil || t.cmp(row, s.first) < 0 {
			s.first = row
			again = true
		}
	}
	if again { // a task is new, or starts sooner
		t.sortSums()
	}
}

// atEnd reports whether the rows of fresh all come after the last row.
func (t *RunTasks) atEnd(fresh []*taskRow) bool {
	if len(t.rows) == 0 {
		return true
	}
	last := t.rows[len(t.rows)-1]
	for _, r := range fresh {
		if t.cmp(r, last) < 0 {
			return false
		}
	}
	return true
}

// reorder orders every row again, and the summaries by their first rows.
func (t *RunTasks) reorder() {
	t.reorders++
	clear(t.first)
	for _, r := range t.rows {
		if f, ok := t.first[r.Task]; r.MapIndex >= 0 && (!ok || firstTime(r.TaskRun).Before(f)) {
			t.first[r.Task] = firstTime(r.TaskRun)
		}
	}
	slices.SortFunc(t.rows, t.cmp)
	for _, s := range t.sums {
		s.first = nil
	}
	for _, r := range t.rows {
		if r.sum.first == nil {
			r.sum.first = r
		}
	}
	t.sortSums()
}

func (t *RunTasks) sortSums() {
	t.order = t.order[:0]
	for _, s := range t.sums {
		t.order = append(t.order, s)
	}
	slices.SortFunc(t.order, func(a, b *taskSum) int { return t.cmp(a.first, b.first) })
}

// at is the time that orders a row: its first time, or for a mapped
// child its task's children's first.
func (t *RunTasks) at(r *taskRow) time.Time {
	if r.MapIndex >= 0 {
		return t.first[r.Task]
	}
	return firstTime(r.TaskRun)
}

// cmp is TaskRuns' order: by time, a mapped task's children together
// by index, then as first written.
func (t *RunTasks) cmp(a, b *taskRow) int {
	if c := t.at(a).Compare(t.at(b)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Task, b.Task); c != 0 {
		return c
	}
	if c := a.MapIndex - b.MapIndex; c != 0 {
		return c
	}
	return a.seq - b.seq
}

// sumAdd counts a new row in its task's summary.
func (t *RunTasks) sumAdd(row *taskRow) {
	key := row.Name
	if row.MapIndex >= 0 {
		key = row.Task
	}
	s := t.sums[key]
	if s == nil {
		s = &taskSum{TaskSummary: TaskSummary{Name: key, Kind: "task", State: runtime.Pending}}
		t.sums[key] = s
	}
	row.sum = s
	if row.MapIndex >= 0 {
		s.Runs++
	}
	t.sumChange(row, nil)
}

// sumChange moves a row's summary from what the row was (nil: nothing)
// to what it is.
func (t *RunTasks) sumChange(row *taskRow, was *TaskRun) {
	s, r := row.sum, &row.TaskRun
	if r.MapIndex < 0 {
		s.Task, s.Kind, s.State, s.own = r.Task, r.Kind, r.State, true
	} else {
		if was != nil {
			s.Done -= b2i(was.State.Finished())
			s.Failed -= b2i(was.State == runtime.Failed || was.State == runtime.Crashed)
		}
		s.Done += b2i(r.State.Finished())
		s.Failed += b2i(r.State == runtime.Failed || r.State == runtime.Crashed)
	}
	if st := firstTime(*r); !st.IsZero() && (s.StartedAt.IsZero() || st.Before(s.StartedAt)) {
		s.StartedAt = st
	}
	if r.FinishedAt.After(s.FinishedAt) {
		s.FinishedAt = r.FinishedAt
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Tasks is the run's task runs that are not mapped children, each with
// its children summed up, in the order each first appears in TaskRuns.
func (t *RunTasks) Tasks() []TaskSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TaskSummary, len(t.order))
	for i, s := range t.order {
		out[i] = s.TaskSummary
		if !s.own { // children only, so far: their state
			out[i].State = childrenState(&out[i])
		}
		if !out[i].State.Finished() || out[i].Done < out[i].Runs {
			out[i].FinishedAt = time.Time{}
		}
	}
	return out
}

// All is every task run read so far, in TaskRuns' order.
func (t *RunTasks) All() []TaskRun {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TaskRun, len(t.rows))
	for i, r := range t.rows {
		out[i] = r.TaskRun
	}
	return out
}

// TaskRunQuery selects a page of a run's task runs: those in State (if
// HasState), of Task (a task run, or a mapped task's own run and its
// children), after the task run named After, at most Limit.
type TaskRunQuery struct {
	State    runtime.State
	HasState bool
	Task     string
	After    string
	Limit    int
}

// TaskRunPage is a page of task runs; Next names the last one when more
// follow. Total counts those the query selects, Counts all by state.
type TaskRunPage struct {
	TaskRuns []TaskRun
	Next     string
	Total    int
	Counts   map[string]int
}

// ErrNoTaskRun: a page's cursor names no task run of the run.
var ErrNoTaskRun = errors.New("no such task run")

// Page is the page q selects. The counts come from what Refresh kept,
// not from reading every task run: with no filter or one filter the page
// costs its own task runs; with both, the task runs from the cursor on.
func (t *RunTasks) Page(q TaskRunQuery) (TaskRunPage, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := func(r *TaskRun) bool {
		return (!q.HasState || r.State == q.State) && (q.Task == "" || r.Name == q.Task || r.MapIndex >= 0 && r.Task == q.Task)
	}
	from := 0
	if q.After != "" {
		row := t.row(q.After)
		if row == nil {
			return TaskRunPage{}, fmt.Errorf("%w %q", ErrNoTaskRun, q.After)
		}
		i, _ := slices.BinarySearchFunc(t.rows, row, t.cmp)
		from = i + 1
	}
	out := TaskRunPage{TaskRuns: []TaskRun{}, Counts: map[string]int{}, Total: t.total(q, keep)}
	for st, n := range t.counts {
		if n > 0 {
			out.Counts[runtime.State(st).String()] = n
		}
	}
	limit := cmp.Or(q.Limit, 100)
	for _, r := range t.rows[min(from, len(t.rows)):] {
		if !keep(&r.TaskRun) {
			continue
		}
		if len(out.TaskRuns) == limit {
			out.Next = out.TaskRuns[limit-1].Name
			break
		}
		out.TaskRuns = append(out.TaskRuns, r.TaskRun)
	}
	return out, nil
}

// row is the task run named name: a task run's, or a mapped child's
// ("inc[3]").
func (t *RunTasks) row(name string) *taskRow {
	if r := t.m.tasks[name]; r != nil {
		return r.row
	}
	i := strings.LastIndexByte(name, '[')
	n, err := strconv.Atoi(strings.TrimSuffix(name[i+1:], "]"))
	if i < 0 || err != nil || !strings.HasSuffix(name, "]") {
		return nil
	}
	if r := t.m.kids[childKey{name[:i], n}]; r != nil {
		return r.row
	}
	return nil
}

// total counts the task runs q selects: from the counts, a task's
// summary, or (state and task both) its rows.
func (t *RunTasks) total(q TaskRunQuery, keep func(*TaskRun) bool) int {
	switch s := t.sums[q.Task]; {
	case q.Task == "" && !q.HasState:
		return len(t.rows)
	case q.Task == "":
		return t.counts[q.State]
	case s != nil && !q.HasState:
		return s.Runs + b2i(s.own)
	}
	n := 0
	for _, r := range t.rows {
		n += b2i(keep(&r.TaskRun))
	}
	return n
}

// childrenState is the state of a mapped task whose own run is not
// recorded yet: Running until its children are final, then Failed if one
// failed, else Success.
func childrenState(s *TaskSummary) runtime.State {
	switch {
	case s.Done < s.Runs:
		return runtime.Running
	case s.Failed > 0:
		return runtime.Failed
	}
	return runtime.Success
}

// sortTaskRuns orders task runs as TaskRuns does: by the time they
// started, a task's mapped children together, by index, where the first
// started.
func sortTaskRuns(out []TaskRun) {
	first := map[string]time.Time{}
	for _, t := range out {
		if f, ok := first[t.Task]; t.MapIndex >= 0 && (!ok || firstTime(t).Before(f)) {
			first[t.Task] = firstTime(t)
		}
	}
	at := func(t *TaskRun) time.Time {
		if t.MapIndex >= 0 {
			return first[t.Task]
		}
		return firstTime(*t)
	}
	slices.SortStableFunc(out, func(a, b TaskRun) int {
		if c := at(&a).Compare(at(&b)); c != 0 {
			return c
		}
		if a.Task != b.Task {
			if a.Task < b.Task {
				return -1
			}
			return 1
		}
		return a.MapIndex - b.MapIndex
	})
}
