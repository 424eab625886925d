package output_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

var epoch = time.Date(2020, 11, 29, 10, 47, 10, 0, time.FixedZone("JST", 9*3600))

func fixedClock(time.Time) time.Time { return epoch }

func runSample(sink runtime.Sink) {
	runtime.Run(context.Background(), runtimetest.SampleGraph(), runtime.Options{RunID: "run-1", Concurrency: 1, Sink: sink})
}

func TestLogPrinter(t *testing.T) {
	for _, level := range []runtime.Level{runtime.Info, runtime.Debug} {
		t.Run(level.String(), func(t *testing.T) {
			var buf bytes.Buffer
			g := runtimetest.SampleGraph()
			runSample(&output.LogPrinter{Out: &buf, Level: level, Clock: fixedClock, Graph: g})
			golden.RequireEqual(t, buf.String())
		})
	}
}

func TestLogPrinterProgress(t *testing.T) {
	var buf bytes.Buffer
	p := &output.LogPrinter{Out: &buf, Level: runtime.Info, Clock: fixedClock, ProgressEvery: time.Second}
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	p.Emit(runtime.Event{Kind: runtime.MapExpanded, Node: 1, TaskRun: "sq", MapIndex: -1, Children: 4, Time: at(0)})
	for i, s := range []int{0, 2, 2, 3} {
		st := runtime.Success
		if i == 1 {
			st = runtime.Failed
		}
		p.Emit(runtime.Event{Kind: runtime.TaskState, Node: 1, TaskRun: "sq[" + string(rune('0'+i)) + "]", MapIndex: i, State: st, Msg: "boom", Time: at(s)})
	}
	golden.RequireEqual(t, buf.String())
}

func TestJSONPrinter(t *testing.T) {
	var buf bytes.Buffer
	runSample(&output.JSONPrinter{Out: &buf, Flow: "sample"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	kinds := map[string]int{}
	for i, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		if e["seq"].(float64) != float64(i+1) || e["run_id"] != "run-1" || e["flow"] != "sample" {
			t.Errorf("line %d: %s", i+1, l)
		}
		kinds[e["kind"].(string)]++
	}
	for _, k := range []string{"flow_started", "flow_finished", "task_state", "task_log", "map_expanded"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event in %v", k, kinds)
		}
	}
	if !strings.Contains(buf.String(), `"task":"square[1]","map_index":1,"attempt":1,"state":"Failed","msg":"two is not allowed"`) {
		t.Errorf("failed child not reported:\n%s", buf.String())
	}
}

// TestSinksConform: the printers keep what they must of every run: the
// JSON printer every state, log line and the flow's end; the log printer
// each task run's final state and every log line (at level debug).
func TestSinksConform(t *testing.T) {
	var logs bytes.Buffer
	runtimetest.TestSink(t, &output.LogPrinter{Out: &logs, Level: runtime.Debug},
		runtimetest.Keeps{Logs: true}, func() []runtimetest.Fact { return logFacts(t, &logs) })
	var js bytes.Buffer
	runtimetest.TestSink(t, &output.JSONPrinter{Out: &js},
		runtimetest.Keeps{States: true, Logs: true, Flow: true}, func() []runtimetest.Fact { return jsonFacts(t, &js) })
}

var (
	finalLine = regexp.MustCompile(`\| Task '(.+)': Finished task run for task with final state: '(\w+)'$`)
	logLine   = regexp.MustCompile(`^\[[^]]+\] \w+ - wfsh\.(\S+) \| (.*)$`)
)

// logFacts reads back the log printer's lines since the last call.
func logFacts(t *testing.T, buf *bytes.Buffer) []runtimetest.Fact {
	var facts []runtimetest.Fact
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if m := finalLine.FindStringSubmatch(l); m != nil {
			st, err := runtime.ParseState(m[2])
			if err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			facts = append(facts, runtimetest.Fact{Kind: runtime.TaskState, TaskRun: m[1], State: st})
		} else if m := logLine.FindStringSubmatch(l); m != nil && m[1] != "FlowRunner" && m[1] != "TaskRunner" {
			facts = append(facts, runtimetest.Fact{Kind: runtime.TaskLog, TaskRun: m[1], Msg: m[2]})
		}
	}
	buf.Reset()
	return facts
}

// jsonFacts reads back the JSON printer's lines since the last call.
func jsonFacts(t *testing.T, buf *bytes.Buffer) []runtimetest.Fact {
	var facts []runtimetest.Fact
	dec := json.NewDecoder(buf)
	for dec.More() {
		var e struct {
			Kind  string `json:"kind"`
			Task  string `json:"task"`
			State string `json:"state"`
			Msg   string `json:"msg"`
		}
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		f := runtimetest.Fact{TaskRun: e.Task}
		switch e.Kind {
		case "task_state", "flow_finished":
			f.Kind = runtime.TaskState
			if e.Kind == "flow_finished" {
				f.Kind = runtime.FlowFinished
			}
			st, err := runtime.ParseState(e.State)
			if err != nil {
				t.Fatal(err)
			}
			f.State = st
		case "task_log":
			f.Kind, f.Msg = runtime.TaskLog, e.Msg
		default:
			continue
		}
		facts = append(facts, f)
	}
	buf.Reset()
	return facts
}

// A message of several lines prints as several log lines with the same
// prefix; a trailing newline adds none.
func TestLogPrinterMultiline(t *testing.T) {
	var buf bytes.Buffer
	p := &output.LogPrinter{Out: &buf, Level: runtime.Info, Clock: fixedClock}
	p.Emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: "t", Level: runtime.Info, Msg: "first\nsecond\n", Time: epoch})
	p.Emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "t", MapIndex: -1, State: runtime.Failed, Msg: "boom\nat line 2", Time: epoch})
	want := `[2020-11-29 10:47:10+0900] INFO - wfsh.t | first
[2020-11-29 10:47:10+0900] INFO - wfsh.t | second
[2020-11-29 10:47:10+0900] ERROR - wfsh.TaskRunner | Task 't': boom
[2020-11-29 10:47:10+0900] ERROR - wfsh.TaskRunner | at line 2
[2020-11-29 10:47:10+0900] INFO - wfsh.TaskRunner | Task 't': Finished task run for task with final state: 'Failed'
`
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestLogPrinterSubflow: a child flow run's lines name its task runs
// under the subflow's task run, and its flow lines say which subflow.
func TestLogPrinterSubflow(t *testing.T) {
	var buf bytes.Buffer
	g := runtimetest.SubflowGraph()
	runtime.Run(context.Background(), g, runtime.Options{RunID: "run-1", Concurrency: 1,
		Sink: &output.LogPrinter{Out: &buf, Level: runtime.Info, Clock: fixedClock, Graph: g, ProgressEvery: time.Hour}})
	out := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f-]{27}`).ReplaceAllString(buf.String(), "RUN-ID")
	golden.RequireEqual(t, out)
}

// TestJSONPrinterSubflow: a child flow run's events carry their flow and
// their parent run and task run.
func TestJSONPrinterSubflow(t *testing.T) {
	var buf bytes.Buffer
	runtime.Run(context.Background(), runtimetest.SubflowGraph(), runtime.Options{RunID: "run-1", Concurrency: 1,
		Sink: &output.JSONPrinter{Out: &buf, Flow: "month"}})
	children := map[string]string{} // run id -> parent task
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e["run_id"] == "run-1" {
			if e["flow"] != "month" || e["parent_run_id"] != nil {
				t.Errorf("parent event: %s", l)
			}
			continue
		}
		if e["flow"] != "report" || e["parent_run_id"] != "run-1" {
			t.Errorf("child event: %s", l)
		}
		children[e["run_id"].(string)] = e["parent_task"].(string)
	}
	var tasks []string
	for _, task := range children {
		tasks = append(tasks, task)
	}
	slices.Sort(tasks)
	if !slices.Equal(tasks, []string{"report", "report-2[0]", "report-2[1]"}) {
		t.Errorf("child runs of tasks %v", tasks)
	}
}
