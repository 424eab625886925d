package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// countingWriter counts what is written to it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	return len(b), nil
}

// recordSpam records run id: one task printing n lines of 100 bytes, as
// flows/bench/logs_print.star does.
func recordSpam(tb testing.TB, st *store.Store, id string, n int) {
	tb.Helper()
	r := st.NewRecorder(store.RecorderOptions{Run: store.RunInfo{ID: id, Flow: "LogsPrint"}})
	seq := uint64(0)
	emit := func(e runtime.Event) {
		seq++
		e.Seq, e.Time, e.RunID, e.Node = seq, time.Now(), id, runtime.NoNode
		r.Emit(e)
	}
	emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "LogsPrint", MapIndex: -1})
	emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "spam", MapIndex: -1, Attempt: 1, State: runtime.Running})
	line := strings.Repeat("x", 91)
	for i := range n {
		emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: "spam", MapIndex: -1, Attempt: 1, Level: runtime.Info,
			Msg: fmt.Sprintf("%d %s", 10000000+i, line)})
	}
	emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "spam", MapIndex: -1, Attempt: 1, State: runtime.Success})
	emit(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Success, MapIndex: -1})
	if err := r.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkLogs is wfsh logs without the process: a run's 100,000 lines
// of 100 bytes read from the store, inflated, decoded, formatted and
// written (to a writer that only counts them). MB/s is of the output.
func BenchmarkLogs(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "wfsh.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 100000
	recordSpam(b, st, "r", n)
	run, err := st.GetRun(context.Background(), "r")
	if err != nil {
		b.Fatal(err)
	}
	var w countingWriter
	if err := storeLog(context.Background(), st, run, &logsFlags{}, runtime.Info, &w); err != nil {
		b.Fatal(err)
	}
	if w.n < n*100 {
		b.Fatalf("%d bytes printed, want at least %d", w.n, n*100)
	}
	b.SetBytes(w.n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := storeLog(context.Background(), st, run, &logsFlags{}, runtime.Info, &w); err != nil {
			b.Fatal(err)
		}
	}
}
