package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// printedByEmit is a run's log as wfsh logs printed it before the store's
// decoders formatted the task log lines: every entry through
// LogPrinter.Emit, in order.
func printedByEmit(t *testing.T, st *store.Store, id string, f store.LogFilter, level runtime.Level) string {
	t.Helper()
	var out bytes.Buffer
	p := &output.LogPrinter{Out: &out, Level: level, ProgressEvery: math.MaxInt64, NotTask: st.NotTasks(context.Background())}
	err := st.EachLog(context.Background(), id, f, func(e *runtime.Event) error {
		p.Emit(*e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// printedByText is the same log printed as wfsh logs prints it now.
func printedByText(t *testing.T, st *store.Store, id string, f store.LogFilter, level runtime.Level) (string, uint64) {
	t.Helper()
	var out bytes.Buffer
	p := &output.LogPrinter{Out: &out, Level: level, ProgressEvery: math.MaxInt64, NotTask: st.NotTasks(context.Background())}
	text := store.LogText{
		NewFormatter: func() store.LogFormatter { return p.LineFormatter() },
		Write: func(b []byte) error {
			out.Write(b)
			return nil
		},
	}
	last, err := st.EachLogText(context.Background(), id, f, text, func(e *runtime.Event) error {
		p.Emit(*e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), last
}

// TestLogsSameAsEmit checks that wfsh logs prints, byte for byte, what
// the printer's Emit prints of the same entries, on a run with task log
// lines (multi-line, with control characters and colour codes), a shell
// task's stdout and stderr, a retry, hooks, mapped children some of which
// fail, in long logs written in several chunks: at every log level, with
// and without --task, and from points in the middle of the log as
// --follow reads it.
func TestLogsSameAsEmit(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wfsh.db")
	// A process of its own: the shell plugin is wfsh itself.
	run := exec.Command(wfshBinary(t), "run", "--store", db, "testdata/logs/mixed.star", "-p", "n=30000", "-p", "m=40")
	if out, err := run.CombinedOutput(); run.ProcessState == nil || run.ProcessState.ExitCode() != exitFailed {
		t.Fatalf("wfsh run: %v, want exit status %d (the flow fails)\n%s", err, exitFailed, out[max(0, len(out)-2000):])
	}
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.ListRuns(context.Background(), store.RunFilter{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	id := runs[0].ID
	all := printedByEmit(t, st, id, store.LogFilter{}, runtime.Debug)
	for _, want := range []string{
		"wfsh.talk | line 29999 y", "wfsh.talk | two\n", "| \\x1b[32mgreen\\x1b[0m and a bell \\a and é\n",
		"WARNING - wfsh.noisy | \\x1b[1;31mred\\x1b[0m\n", "INFO - wfsh.noisy | a\tb\n",
		"wfsh.child \\x1b[7mrev[38] | child 38\n", "Task 'child \\x1b[7mrev[3]': ", "ERROR - wfsh.TaskRunner | with a second line\n",
		"Starting task run (attempt 2)...", "wfsh.FlowRunner | second line\n", "Flow run FAILED",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	// Where --follow would start again: the start, a few points in the
	// middle (at a task log line and just before a state change, every
	// tenth), the end.
	seqs := []uint64{0, 1, 2}
	changes := 0
	for _, e := range mustLogs(t, st, id) {
		if e.Kind != runtime.TaskLog {
			if changes++; changes%10 == 0 {
				seqs = append(seqs, e.Seq-1)
			}
		} else if e.Seq%9973 == 0 {
			seqs = append(seqs, e.Seq)
		}
	}
	seqs = append(seqs, math.MaxUint32)
	type logCase struct {
		level runtime.Level
		f     store.LogFilter
	}
	var cases []logCase
	for _, level := range []runtime.Level{runtime.Debug, runtime.Info, runtime.Warning, runtime.Error} {
		for _, task := range []string{"", "talk", "noisy", "flaky", "child \x1b[7mrev", "child \x1b[7mrev[3]", "items", "none"} {
			cases = append(cases, logCase{level, store.LogFilter{Task: task}})
		}
	}
	for _, after := range seqs {
		for _, task := range []string{"", "child \x1b[7mrev"} {
			cases = append(cases, logCase{runtime.Info, store.LogFilter{Task: task, After: after}})
		}
	}
	for _, c := range cases {
		want := printedByEmit(t, st, id, c.f, c.level)
		got, _ := printedByText(t, st, id, c.f, c.level)
		if got != want {
			t.Fatalf("level %v, %+v: the log differs from Emit's at byte %d:\n%s", c.level, c.f, firstDiff(got, want), diffAround(got, want))
		}
	}
	t.Logf("%d cases, %d bytes at debug level", len(cases), len(all))
}

// TestLogsFollowSame follows a run in progress as wfsh logs --follow
// does, then checks that what it printed is the whole log, byte for byte
// what Emit prints of the finished run.
func TestLogsFollowSame(t *testing.T) {
	db := filepath.Join(t.TempDir(), "wfsh.db")
	var stderr bytes.Buffer
	proc := exec.Command(wfshBinary(t), "run", "--store", db, "testdata/logs/mixed.star", "-p", "n=100000", "-p", "m=20")
	proc.Stderr = &stderr
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = proc.Process.Kill()
			_ = proc.Wait()
		}
	}()
	var st *store.Store
	var run store.Run
	for deadline := time.Now().Add(30 * time.Second); run.ID == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the run never appeared in the store")
		}
		if st == nil {
			if _, err := os.Stat(db); err != nil {
				continue
			}
			var err error
			if st, err = store.Open(db); err != nil {
				t.Fatal(err)
			}
			defer st.Close()
		}
		if runs, err := st.ListRuns(context.Background(), store.RunFilter{}); err == nil && len(runs) > 0 {
			run = runs[0]
		}
	}
	var got bytes.Buffer
	if err := storeLog(context.Background(), st, run, &logsFlags{follow: true}, runtime.Info, &got); err != nil {
		t.Fatal(err)
	}
	// storeLog returned: the run is over, the process ends.
	waited = true
	if err := proc.Wait(); proc.ProcessState.ExitCode() != exitFailed {
		t.Fatalf("wfsh run: %v, want exit status %d\n%s", err, exitFailed, stderr.String())
	}
	want := printedByEmit(t, st, run.ID, store.LogFilter{}, runtime.Info)
	if !strings.Contains(want, "line 99999 ") {
		t.Fatalf("the log lacks its last line:\n%s", want[max(0, len(want)-2000):])
	}
	if got.String() != want {
		t.Fatalf("followed log differs from Emit's at byte %d:\n%s", firstDiff(got.String(), want), diffAround(got.String(), want))
	}
}

func mustLogs(t *testing.T, st *store.Store, id string) []runtime.Event {
	t.Helper()
	evs, err := st.Logs(context.Background(), id, store.LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func firstDiff(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

func diffAround(got, want string) string {
	i := firstDiff(got, want)
	cut := func(s string) string {
		from, to := max(0, i-200), min(len(s), i+200)
		return s[from:to]
	}
	return fmt.Sprintf("got  ...%q...\nwant ...%q...", cut(got), cut(want))
}
