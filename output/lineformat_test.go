package output_test

import (
	"bytes"
	"testing"
	"time"
	"unsafe"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
)

// TestLineFormatterSameAsPrinter formats task log lines with a
// LineFormatter and prints them with the LogPrinter it was made from:
// the same bytes, whether consecutive lines share their time, level and
// task or not, and whatever their messages hold. The formatter keeps the
// start of the last line; the strings it was made of are overwritten
// after each call, as the store's are.
func TestLineFormatterSameAsPrinter(t *testing.T) {
	base := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	var evs []runtime.Event
	tasks := []string{"spam", "spam", "eggs", "", "spam[3]", "a\nb", "spam"}
	msgs := []string{"plain", "tab\there", "two\nlines", "trailing\n", "\x1b[31mred", "é 世", "x", "", "\u202eevil"}
	levels := []runtime.Level{runtime.Info, runtime.Info, runtime.Warning, runtime.Debug, runtime.Error}
	for i := range 200 {
		evs = append(evs, runtime.Event{Seq: uint64(i + 1), Kind: runtime.TaskLog, Time: base.Add(time.Duration(i/3) * time.Second),
			TaskRun: tasks[i%len(tasks)], Msg: msgs[i%len(msgs)], Level: levels[i%len(levels)], MapIndex: -1, Node: runtime.NoNode})
	}
	for _, level := range []runtime.Level{runtime.Debug, runtime.Info} {
		var want bytes.Buffer
		p := &output.LogPrinter{Out: &want, Level: level}
		for _, e := range evs {
			p.Emit(e)
		}
		f := (&output.LogPrinter{Level: level}).LineFormatter()
		var got []byte
		// The strings of each event in the same bytes, as a store's
		// decoder reuses its buffer.
		buf := make([]byte, 64)
		for _, e := range evs {
			task := append(buf[:0], e.TaskRun...)
			msg := append(buf[len(task):len(task)], e.Msg...)
			e.TaskRun = unsafe.String(unsafe.SliceData(task), len(task))
			e.Msg = unsafe.String(unsafe.SliceData(msg), len(msg))
			var ok bool
			if got, ok = f.AppendEntry(got, &e); !ok {
				t.Fatalf("a task log line not taken: %+v", e)
			}
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("level %v: the formatter wrote\n%s\nthe printer\n%s", level, got, want.Bytes())
		}
	}
}
