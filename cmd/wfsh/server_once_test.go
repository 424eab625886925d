package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/internal/pgtest"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// onceRuns is how many runs TestExactlyOnce makes on each database:
// WFSH_ONCE_RUNS, else 200 (`make test-server-load` makes 2,000).
func onceRuns(t *testing.T) int {
	if s := os.Getenv("WFSH_ONCE_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("WFSH_ONCE_RUNS=%q: want a number of runs", s)
		}
		return n
	}
	return 200
}

// TestExactlyOnce: 8 workers of 2 slots each against queued runs, on
// SQLite and on PostgreSQL: every run is executed once, no run twice
// (each appends its id to one file, whose lines are counted), and every
// run ends Success.
func TestExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs hundreds of wfsh processes")
	}
	n := onceRuns(t)
	t.Run("sqlite", func(t *testing.T) { exactlyOnce(t, "", n) })
	t.Run("postgres", func(t *testing.T) { exactlyOnce(t, pgtest.Start(t).NewDatabase(t), n) })
}

func exactlyOnce(t *testing.T, db string, n int) {
	ps := startServer(t, 30*time.Second, db)
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	os.WriteFile(filepath.Join(dir, "mark.star"), []byte(`load("@shell", "shell_task")

mark = shell_task(name="mark", command="echo $WFSH_RUN_ID >> $MARKS")

@flow(name="Mark")
def f(marks):
    mark(env={"MARKS": marks})
`), 0o644)
	if out, code := ps.wfsh(t, ps.admin.Token, "deploy", filepath.Join(dir, "mark.star"), "--name", "m", "-p", "marks="+marks); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	// The runs are queued before any worker starts.
	ctx := context.Background()
	ids := map[string]bool{}
	for range n {
		var r store.Run
		if err := ps.admin.Do(ctx, "POST", "/deployments/Mark/m/runs", server.RunRequest{}, &r); err != nil {
			t.Fatal(err)
		}
		ids[r.ID] = true
	}
	wtok := ps.token(t, "worker", "default")
	start := time.Now()
	for range 8 {
		ps.startWorker(t, wtok, 2)
	}
	deadline := time.Now().Add(time.Duration(n)*200*time.Millisecond + time.Minute)
	for {
		done := countState(t, ps, runtime.Success)
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runs succeeded by the deadline", done, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	took := time.Since(start)
	b, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	seen := map[string]int{}
	for _, l := range lines {
		seen[l]++
	}
	var twice []string
	for id, c := range seen {
		if c > 1 {
			twice = append(twice, fmt.Sprintf("%s x%d", id, c))
		}
		if !ids[id] {
			t.Errorf("a marker of a run not made: %s", id)
		}
	}
	sort.Strings(twice)
	if len(lines) != n || len(seen) != n || len(twice) > 0 {
		t.Fatalf("%d markers of %d runs (%d distinct); run more than once: %v", len(lines), n, len(seen), twice)
	}
	t.Logf("%d runs by 8 workers x 2 slots in %v: %.1f runs/s", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
}

// countState counts the server's runs in state st, a page at a time.
func countState(t *testing.T, ps *procServer, st runtime.State) int { return countStateTB(t, ps, st) }

func countStateTB(t testing.TB, ps *procServer, st runtime.State) int {
	t.Helper()
	total, after := 0, ""
	for {
		var list server.RunList
		if err := ps.admin.Do(context.Background(), "GET", server.Query("/runs", "state", st.String(), "limit", "1000", "after", after), nil, &list); err != nil {
			t.Fatal(err)
		}
		total += len(list.Runs)
		if list.Next == "" {
			return total
		}
		after = list.Next
	}
}
