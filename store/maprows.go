package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/wfsh/wfsh/runtime"
)

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// children reads the mapped children of a run from its chunks, merging
// what later chunks say into what earlier ones did; it also returns the
// largest chunk seq.
func children(ctx context.Context, q querier, runID string) ([]*TaskRun, uint64, error) {
	rows, err := q.QueryContext(ctx, `SELECT task, seq, children FROM map_runs WHERE run_id = ? ORDER BY seq`, runID)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	type key struct {
		task  string
		index int
	}
	byKey := map[key]*TaskRun{}
	var out []*TaskRun
	var last uint64
	for rows.Next() {
		var task, js string
		var seq int64
		if err := rows.Scan(&task, &seq, &js); err != nil {
			return nil, 0, err
		}
		last = max(last, uint64(seq))
		var kids [][]json.RawMessage
		if err := json.Unmarshal([]byte(js), &kids); err != nil {
			return nil, 0, fmt.Errorf("map_runs %s: %w", task, err)
		}
		for _, k := range kids {
			c, err := decodeChild(task, k)
			if err != nil {
				return nil, 0, err
			}
			if old := byKey[key{task, c.MapIndex}]; old != nil {
				merge(old, c)
				continue
			}
			byKey[key{task, c.MapIndex}] = c
			out = append(out, c)
		}
	}
	return out, last, rows.Err()
}

func decodeChild(task string, k []json.RawMessage) (*TaskRun, error) {
	if len(k) != 7 {
		return nil, fmt.Errorf("map_runs %s: a child of %d fields, want 7", task, len(k))
	}
	c := &TaskRun{Task: task}
	var state string
	var started, finished *int64
	for i, dst := range []any{&c.MapIndex, &state, &c.Attempts, &c.Message, &started, &finished} {
		if err := json.Unmarshal(k[i], dst); err != nil {
			return nil, fmt.Errorf("map_runs %s: %w", task, err)
		}
	}
	if err := c.State.UnmarshalText([]byte(state)); err != nil {
		return nil, err
	}
	c.Name = fmt.Sprintf("%s[%d]", task, c.MapIndex)
	if started != nil {
		c.StartedAt = unixNano(*started)
	}
	if finished != nil {
		c.FinishedAt = unixNano(*finished)
	}
	if string(k[6]) != "null" {
		c.Result = k[6]
	}
	return c, nil
}

// merge updates old with what a later chunk says of the same child.
func merge(old, c *TaskRun) {
	old.State, old.Message = c.State, c.Message
	old.Attempts = max(old.Attempts, c.Attempts)
	if old.StartedAt.IsZero() {
		old.StartedAt = c.StartedAt
	}
	if !c.FinishedAt.IsZero() {
		old.FinishedAt = c.FinishedAt
	}
	if c.Result != nil {
		old.Result = c.Result
	}
}

// crashChildren appends a chunk that marks Crashed the unfinished children
// of a run.
func crashChildren(ctx context.Context, tx *sql.Tx, runID, msg string, now int64) error {
	kids, last, err := children(ctx, tx, runID)
	if err != nil {
		return err
	}
	byTask := map[string][][]any{}
	var tasks []string
	for _, c := range kids {
		if c.State.Finished() {
			continue
		}
		if byTask[c.Task] == nil {
			tasks = append(tasks, c.Task)
		}
		end := now
		if !c.StartedAt.IsZero() {
			end = max(end, c.StartedAt.UnixNano())
		}
		byTask[c.Task] = append(byTask[c.Task], []any{c.MapIndex, runtime.Crashed.String(), c.Attempts, msg, nil, end, nil})
	}
	sort.Strings(tasks)
	for i, task := range tasks {
		j, err := json.Marshal(byTask[task])
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO map_runs (run_id, task, seq, children) VALUES (?, ?, ?, ?)`,
			runID, task, int64(last)+1+int64(i), string(j)); err != nil {
			return err
		}
	}
	return nil
}
