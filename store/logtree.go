package store

import (
	"container/heap"
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/wfsh/wfsh/runtime"
)

// subflowChildren selects the child flow runs of a run that ran in its
// process (its subflows'): locally every child run; on a server those
// with subflow_of set, not the runs it made with run_deployment().
const subflowChildren = `parent_id = ? AND (subflow_of <> '' OR deployment_id IS NULL)`

// HasSubflowRuns reports whether run id has child flow runs of its
// subflows: one probe of an index (runs_parent).
func (s *Store) HasSubflowRuns(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE `+subflowChildren+` LIMIT 1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// EachLogTree is EachLog of run runID with the logs of its subflows'
// child flow runs merged in, at every depth, as the run's process
// printed them while it ran: a child run's entries carry its RunID,
// Parent and ParentTaskRun, as the runtime gives them to the run's sink,
// so that an output.LogPrinter prints them nested ("Subflow 'Daily':
// ...", "Daily/fetch"). Entries of different runs come in the order of
// their times, each run's in its own order; at equal times the parent's
// first. f selects the run's own entries as EachLog's does; with
// f.Task, only the child runs of that task's subflow runs come with
// them (all of theirs). The run's log is read as EachLog reads it; its
// child runs' are held in memory.
func (s *Store) EachLogTree(ctx context.Context, runID string, f LogFilter, fn func(*runtime.Event) error) error {
	var kids [][]runtime.Event
	parents := []string{runID}
	for depth := 0; len(parents) > 0; depth++ {
		var next []string
		for _, p := range parents {
			runs, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE `+subflowChildren+` ORDER BY started_at, id`, p)
			if err != nil {
				return err
			}
			for _, r := range runs {
				if depth == 0 && f.Task != "" && r.ParentTaskRun != f.Task && !strings.HasPrefix(r.ParentTaskRun, f.Task+"[") {
					continue
				}
				evs, err := s.Logs(ctx, r.ID, LogFilter{})
				if err != nil {
					return err
				}
				for i := range evs {
					evs[i].RunID, evs[i].Parent, evs[i].ParentTaskRun = r.ID, r.Parent, r.ParentTaskRun
				}
				kids = append(kids, evs)
				next = append(next, r.ID)
			}
		}
		parents = next
	}
	m := newLogMerge(kids)
	err := s.EachLog(ctx, runID, f, func(e *runtime.Event) error {
		for m.Len() > 0 && m.head().Time.Before(e.Time) {
			if err := fn(m.pop()); err != nil {
				return err
			}
		}
		return fn(e)
	})
	for err == nil && m.Len() > 0 {
		err = fn(m.pop())
	}
	return err
}

// logMerge merges runs' entries by time, each run's kept in its order,
// the earlier run (a shallower one) first at equal times: a heap of the
// runs by their next entry.
type logMerge struct {
	runs [][]runtime.Event
	at   []int // by run: its next entry
	h    []int // runs with entries left
}

func newLogMerge(runs [][]runtime.Event) *logMerge {
	m := &logMerge{runs: runs, at: make([]int, len(runs))}
	for i, r := range runs {
		if len(r) > 0 {
			m.h = append(m.h, i)
		}
	}
	heap.Init(m)
	return m
}

func (m *logMerge) head() *runtime.Event { r := m.h[0]; return &m.runs[r][m.at[r]] }

// pop is the next entry of the merge.
func (m *logMerge) pop() *runtime.Event {
	r := m.h[0]
	e := &m.runs[r][m.at[r]]
	if m.at[r]++; m.at[r] == len(m.runs[r]) {
		heap.Pop(m)
	} else {
		heap.Fix(m, 0)
	}
	return e
}

func (m *logMerge) Len() int { return len(m.h) }
func (m *logMerge) Less(i, j int) bool {
	a, b := m.h[i], m.h[j]
	ta, tb := m.runs[a][m.at[a]].Time, m.runs[b][m.at[b]].Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a < b
}
func (m *logMerge) Swap(i, j int) { m.h[i], m.h[j] = m.h[j], m.h[i] }
func (m *logMerge) Push(x any)    { m.h = append(m.h, x.(int)) }
func (m *logMerge) Pop() any {
	x := m.h[len(m.h)-1]
	m.h = m.h[:len(m.h)-1]
	return x
}

// NotTasks is output.LogPrinter's NotTask for the logs of this store's
// runs: whether a node of a run is a parameter's or a constant's, read
// from the graph the run was recorded with (once per run, when asked).
func (s *Store) NotTasks(ctx context.Context) func(runID, node string) bool {
	of := map[string]map[string]bool{}
	return func(runID, node string) bool {
		m, ok := of[runID]
		if !ok {
			m = map[string]bool{}
			if dag, err := s.RunDAG(ctx, runID); err == nil {
				for _, n := range dag {
					if IsValueKind(n.Kind) {
						m[n.Name] = true
					}
				}
			}
			of[runID] = m
		}
		return m[node]
	}
}
