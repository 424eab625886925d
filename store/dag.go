package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wfsh/wfsh/runtime"
)

// DAG is the shape of a run's graph, stored with the run: what resume
// compares with the graph of the flow as it is now. It is written as a
// JSON array of nodes, each [name, task, kind, mapped, inputs, upstream,
// guards], where inputs and upstream hold node indexes (an input mapped
// over as -1-index) and guards [index, label] pairs.
type DAG []DAGNode

// DAGNode is one node of a DAG, its edges by run name: an input mapped
// over is "*name", a guard "name label".
type DAGNode struct {
	Name, Task, Kind string
	Mapped           bool
	Inputs           []string
	Upstream         []string
	Guards           []string
}

// DAGOf describes g.
func DAGOf(g *runtime.Graph) DAG {
	d, _ := ParseDAG(appendDAG(nil, g))
	return d
}

// dagHash names g's shape: a hash of what appendDAG writes, computed
// without writing it.
func dagHash(g *runtime.Graph) string {
	b := make([]byte, 0, 32*len(g.Nodes))
	str := func(s string) { b = append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	b = binary.AppendUvarint(b, uint64(len(g.Nodes)))
	for _, n := range g.Nodes {
		str(n.Name)
		str(n.Task)
		b = append(b, byte(n.Kind))
		if n.Mapped {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(len(n.Inputs)))
		for _, in := range n.Inputs {
			x := int64(in.From)
			if in.Map {
				x = -1 - x
			}
			b = binary.AppendVarint(b, x)
		}
		b = binary.AppendUvarint(b, uint64(len(n.Upstream)))
		for _, u := range n.Upstream {
			b = binary.AppendVarint(b, int64(u))
		}
		b = binary.AppendUvarint(b, uint64(len(n.Guards)))
		for _, gd := range n.Guards {
			b = binary.AppendVarint(b, int64(gd.Cond))
			str(gd.Label)
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// appendDAG appends g's shape as JSON.
func appendDAG(b []byte, g *runtime.Graph) []byte {
	b = append(b, '[')
	for i, n := range g.Nodes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendJSONString(b, n.Name)
		b = append(b, ',')
		b = appendJSONString(b, n.Task)
		b = append(b, ",\""...)
		b = append(b, kindName(n.Kind)...)
		b = append(b, "\","...)
		b = strconv.AppendBool(b, n.Mapped)
		b = append(b, ",["...)
		for j, in := range n.Inputs {
			if j > 0 {
				b = append(b, ',')
			}
			x := int64(in.From)
			if in.Map {
				x = -1 - x
			}
			b = strconv.AppendInt(b, x, 10)
		}
		b = append(b, "],["...)
		for j, u := range n.Upstream {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(u), 10)
		}
		b = append(b, "],["...)
		for j, gd := range n.Guards {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(strconv.AppendInt(append(b, '['), int64(gd.Cond), 10), ',')
			b = append(appendJSONString(b, gd.Label), ']')
		}
		b = append(b, "]]"...)
	}
	return append(b, ']')
}

// dagRow is a node as stored, its edges by index.
type dagRow struct {
	Name, Task, Kind string
	Mapped           bool
	Inputs, Upstream []int
	Guards           [][2]json.RawMessage
}

// ParseDAG decodes a stored graph.
func ParseDAG(b []byte) (DAG, error) {
	var rows [][]json.RawMessage
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("stored graph: %w", err)
	}
	raw := make([]dagRow, len(rows))
	for i, f := range rows {
		if len(f) != 7 {
			return nil, fmt.Errorf("stored graph: a node of %d fields, want 7", len(f))
		}
		n := &raw[i]
		for j, dst := range []any{&n.Name, &n.Task, &n.Kind, &n.Mapped, &n.Inputs, &n.Upstream, &n.Guards} {
			if err := json.Unmarshal(f[j], dst); err != nil {
				return nil, fmt.Errorf("stored graph: %w", err)
			}
		}
	}
	name := func(i int) (string, error) {
		if i < 0 || i >= len(raw) {
			return "", fmt.Errorf("stored graph: an edge to node %d of %d", i, len(raw))
		}
		return raw[i].Name, nil
	}
	d := make(DAG, len(raw))
	for i, n := range raw {
		dn := DAGNode{Name: n.Name, Task: n.Task, Kind: n.Kind, Mapped: n.Mapped}
		for _, x := range n.Inputs {
			star := ""
			if x < 0 {
				x, star = -1-x, "*"
			}
			s, err := name(x)
			if err != nil {
				return nil, err
			}
			dn.Inputs = append(dn.Inputs, star+s)
		}
		for _, x := range n.Upstream {
			s, err := name(x)
			if err != nil {
				return nil, err
			}
			dn.Upstream = append(dn.Upstream, s)
		}
		for _, gd := range n.Guards {
			var x int
			var label string
			if json.Unmarshal(gd[0], &x) != nil || json.Unmarshal(gd[1], &label) != nil {
				return nil, fmt.Errorf("stored graph: bad condition of %s", n.Name)
			}
			s, err := name(x)
			if err != nil {
				return nil, err
			}
			dn.Guards = append(dn.Guards, s+" "+label)
		}
		d[i] = dn
	}
	return d, nil
}

// Diff lists how now differs from was, node by node, in words: nothing
// when the two have the same nodes (by run name) with the same tasks,
// kinds and edges.
func Diff(was, now DAG) []string {
	old := map[string]*DAGNode{}
	for i := range was {
		old[was[i].Name] = &was[i]
	}
	seen := map[string]bool{}
	var out []string
	for i := range now {
		n := &now[i]
		seen[n.Name] = true
		o := old[n.Name]
		if o == nil {
			out = append(out, fmt.Sprintf("+ %s: new %s", n.Name, n.describe()))
			continue
		}
		out = append(out, nodeDiff(o, n)...)
	}
	for i := range was {
		if !seen[was[i].Name] {
			out = append(out, fmt.Sprintf("- %s: gone (was %s)", was[i].Name, was[i].describe()))
		}
	}
	return out
}

func (n *DAGNode) describe() string {
	s := n.Kind + " " + n.Task
	switch n.Kind {
	case "task":
		s = "call of task " + n.Task
	case "flow":
		s = "call of subflow " + n.Task
	}
	if n.Mapped {
		s += ", mapped"
	}
	if len(n.Inputs) > 0 {
		s += ", inputs " + list(n.Inputs)
	}
	return s
}

func nodeDiff(o, n *DAGNode) []string {
	var out []string
	change := func(what, was, now string) {
		out = append(out, fmt.Sprintf("~ %s: %s was %s, now %s", n.Name, what, was, now))
	}
	if o.Task != n.Task {
		change("task", o.Task, n.Task)
	}
	if o.Kind != n.Kind {
		change("kind", o.Kind, n.Kind)
	}
	if o.Mapped != n.Mapped {
		change("mapped", strconv.FormatBool(o.Mapped), strconv.FormatBool(n.Mapped))
	}
	for _, l := range []struct {
		what     string
		was, now []string
	}{{"inputs", o.Inputs, n.Inputs}, {"upstream_tasks", o.Upstream, n.Upstream}, {"conditions", o.Guards, n.Guards}} {
		if !slices.Equal(l.was, l.now) {
			change(l.what, list(l.was), list(l.now))
		}
	}
	return out
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// ErrNoDAG is returned for runs recorded without their graph.
var ErrNoDAG = errors.New("the run was recorded without its graph (by an older wfsh)")

// RunDAG returns the graph a run was recorded with.
func (s *Store) RunDAG(ctx context.Context, runID string) (DAG, error) {
	var dag sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT d.dag FROM runs r LEFT JOIN dags d ON d.hash = r.dag WHERE r.id = ?`, runID).Scan(&dag)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w %q", ErrNotFound, runID)
	}
	if err != nil {
		return nil, err
	}
	if !dag.Valid {
		return nil, fmt.Errorf("run %s: %w", runID, ErrNoDAG)
	}
	return ParseDAG([]byte(dag.String))
}
