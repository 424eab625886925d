package output_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
)

// TestLogPrinterEscapesControls: a newline in a flow's or a task's name
// cannot forge a log line, and NUL, ESC, CR in names and messages reach
// the terminal escaped.
func TestLogPrinterEscapesControls(t *testing.T) {
	var buf bytes.Buffer
	p := &output.LogPrinter{Out: &buf, Level: runtime.Info, Clock: fixedClock}
	forged := "x\n[2020-11-29 10:47:10+0900] INFO - wfsh.FlowRunner | Flow run SUCCESS"
	p.Emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "F\x00\x1b[2J", Time: epoch})
	p.Emit(runtime.Event{Kind: runtime.TaskState, TaskRun: forged, MapIndex: -1, State: runtime.Running, Attempt: 1, Time: epoch})
	p.Emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: forged, Level: runtime.Info, Msg: "red \x1b[31mtext\r\u202eevil\tok", Time: epoch})
	p.Emit(runtime.Event{Kind: runtime.TaskState, TaskRun: forged, MapIndex: -1, State: runtime.Failed, Msg: "boom\nline 2\x07", Time: epoch})
	want := `[2020-11-29 10:47:10+0900] INFO - wfsh.FlowRunner | Beginning Flow run for 'F\x00\x1b[2J'
[2020-11-29 10:47:10+0900] INFO - wfsh.TaskRunner | Task 'x\n[2020-11-29 10:47:10+0900] INFO - wfsh.FlowRunner | Flow run SUCCESS': Starting task run...
[2020-11-29 10:47:10+0900] INFO - wfsh.x\n[2020-11-29 10:47:10+0900] INFO - wfsh.FlowRunner | Flow run SUCCESS | red \x1b[31mtext\r\u202eevil` + "\t" + `ok
[2020-11-29 10:47:10+0900] ERROR - wfsh.TaskRunner | Task 'x\n[2020-11-29 10:47:10+0900] INFO - wfsh.FlowRunner | Flow run SUCCESS': boom
[2020-11-29 10:47:10+0900] ERROR - wfsh.TaskRunner | line 2\a
[2020-11-29 10:47:10+0900] INFO - wfsh.TaskRunner | Task 'x\n[2020-11-29 10:47:10+0900] INFO - wfsh.FlowRunner | Flow run SUCCESS': Finished task run for task with final state: 'Failed'
`
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"etl":            "etl",
		"a\tb\nc\x1b[0m": `a\tb\nc\x1b[0m`,
		"日本\u202e\u0085": `日本\u202e\u0085`,
	} {
		if got := output.Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
	if got := output.Printable("a\tb\n"); got != "a\tb\\n" {
		t.Errorf("Printable kept %q", got)
	}
	if got, want := output.PrintableLines("f.star:1:5: x\x1b[2J\nf.star:2:1: \x00y\r"), "f.star:1:5: x\\x1b[2J\nf.star:2:1: \\x00y\\r"; got != want {
		t.Errorf("PrintableLines = %q, want %q", got, want)
	}
}

// BenchmarkLogPrinterLines prints task log lines, the printer's most
// frequent work: plain ASCII, and text with a control character to escape.
func BenchmarkLogPrinterLines(b *testing.B) {
	for _, c := range []struct{ name, msg string }{
		{"plain", "INFO extracted 1,204 rows from s3://bucket/day=2020-11-29/part-0003.csv in 1.2s"},
		{"escape", "\x1b[32mINFO\x1b[0m extracted 1,204 rows from s3://bucket/day=2020-11-29/part-0003.csv"},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := &output.LogPrinter{Out: io.Discard, Level: runtime.Info, Clock: fixedClock}
			e := runtime.Event{Kind: runtime.TaskLog, TaskRun: "extract[12]", Level: runtime.Info, Msg: c.msg, Time: epoch}
			b.ReportAllocs()
			for b.Loop() {
				p.Emit(e)
			}
		})
	}
}

// BenchmarkLogPrinterMap prints the events of a task mapped over 100,000
// elements at level info (its children's lines are left out; a progress
// line a second): what the printer keeps of the map is all its work.
func BenchmarkLogPrinterMap(b *testing.B) {
	const n = 100_000
	at := func(i int) time.Time { return epoch.Add(time.Duration(i) * 50 * time.Microsecond) }
	events := []runtime.Event{{Kind: runtime.MapExpanded, Node: 1, NodeName: "sq", TaskRun: "sq", MapIndex: -1, Children: n, Time: at(0)}}
	for i := range n {
		events = append(events,
			runtime.Event{Kind: runtime.TaskState, Node: 1, NodeName: "sq", TaskRun: "sq[" + strconv.Itoa(i) + "]", MapIndex: i, Attempt: 1, State: runtime.Running, Time: at(i)},
			runtime.Event{Kind: runtime.TaskState, Node: 1, NodeName: "sq", TaskRun: "sq[" + strconv.Itoa(i) + "]", MapIndex: i, Attempt: 1, State: runtime.Success, Time: at(i + 1)})
	}
	events = append(events, runtime.Event{Kind: runtime.TaskState, Node: 1, NodeName: "sq", TaskRun: "sq", MapIndex: -1, State: runtime.Mapped, Time: at(n + 1)},
		runtime.Event{Kind: runtime.FlowFinished, Node: runtime.NoNode, State: runtime.Success, Time: at(n + 2)})
	b.ReportAllocs()
	for b.Loop() {
		p := &output.LogPrinter{Out: io.Discard, Level: runtime.Info}
		for i := range events {
			p.Emit(events[i])
		}
	}
}
