package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/wfsh/wfsh/runtime"
)

// t0 is the start of the synthetic runs: views of them do not depend on
// the machine's clock or time zone.
var t0 = time.Date(2020, 11, 29, 10, 47, 10, 0, time.UTC)

// script builds the events of a synthetic run, one per call, a tenth of a
// second apart.
type script struct {
	runID  string
	seq    uint64
	events []runtime.Event
}

func (s *script) at() time.Time { return t0.Add(time.Duration(s.seq) * 100 * time.Millisecond) }

func (s *script) add(e runtime.Event) *script {
	s.seq++
	e.Seq, e.Time, e.RunID = s.seq, s.at(), s.runID
	if e.Kind == runtime.FlowStarted || e.Kind == runtime.FlowFinished {
		e.Node = runtime.NoNode
	}
	s.events = append(s.events, e)
	return s
}

func (s *script) state(node runtime.NodeID, name string, idx, attempt int, st runtime.State, msg string) *script {
	if idx >= 0 {
		name += "[" + itoa(idx) + "]"
	}
	return s.add(runtime.Event{Kind: runtime.TaskState, Node: node, TaskRun: name, MapIndex: idx,
		Attempt: attempt, State: st, Msg: msg})
}

func (s *script) log(node runtime.NodeID, name string, idx int, l runtime.Level, msg string) *script {
	if idx >= 0 {
		name += "[" + itoa(idx) + "]"
	}
	return s.add(runtime.Event{Kind: runtime.TaskLog, Node: node, TaskRun: name, MapIndex: idx, Level: l, Msg: msg})
}

// etlGraph is a flow with a parameter, a plain task, a mapped task, a
// task with retries and one that ends TriggerFailed.
func etlGraph() *runtime.Graph {
	g := &runtime.Graph{Flow: "ETL"}
	g.Add(&runtime.Node{Name: "day", Task: "day", Kind: runtime.ParamNode})
	g.Add(&runtime.Node{Name: "extract", Task: "extract"})
	g.Add(&runtime.Node{Name: "clean", Task: "clean", Mapped: true, Inputs: []runtime.Input{{From: 1, Map: true}}})
	g.Add(&runtime.Node{Name: "load", Task: "load", Retries: 2, Inputs: []runtime.Input{{From: 2}}})
	g.Add(&runtime.Node{Name: "notify", Task: "notify", Inputs: []runtime.Input{{From: 3}}})
	return g
}

// etlRun is a run of etlGraph halfway: clean's children are running, one
// failed; load waits.
func etlRun() *script {
	s := &script{runID: "0d6f2c1e-run"}
	s.add(runtime.Event{Kind: runtime.FlowStarted, Msg: "ETL"})
	s.state(0, "day", -1, 1, runtime.Running, "").state(0, "day", -1, 1, runtime.Success, "")
	s.state(1, "extract", -1, 1, runtime.Running, "")
	s.log(1, "extract", -1, runtime.Info, "reading 4 files")
	s.log(1, "extract", -1, runtime.Warning, "file 3 is empty")
	s.state(1, "extract", -1, 1, runtime.Success, "")
	s.add(runtime.Event{Kind: runtime.MapExpanded, Node: 2, TaskRun: "clean", MapIndex: -1, Children: 4})
	s.state(2, "clean", 0, 1, runtime.Running, "").state(2, "clean", 1, 1, runtime.Running, "")
	s.state(2, "clean", 0, 1, runtime.Success, "")
	s.log(2, "clean", 1, runtime.Info, "row 7:\tbad\x1b[31m date")
	s.state(2, "clean", 1, 1, runtime.Failed, "etl.star:12:9: fail: bad date\nTraceback...")
	s.state(2, "clean", 2, 1, runtime.Running, "")
	return s
}

// etlDone finishes etlRun: clean fails, load retries and then is never
// run, notify TriggerFailed.
func etlDone() *script {
	s := etlRun()
	s.state(2, "clean", 2, 1, runtime.Success, "")
	s.state(2, "clean", 3, 1, runtime.Running, "").state(2, "clean", 3, 1, runtime.Success, "")
	s.state(2, "clean", -1, 0, runtime.Failed, "1 of 4 mapped task runs failed")
	s.state(3, "load", -1, 0, runtime.TriggerFailed, "trigger all_successful was not met by upstream states [Failed]")
	s.state(4, "notify", -1, 0, runtime.TriggerFailed, "trigger all_successful was not met by upstream states [TriggerFailed]")
	s.add(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Failed, Msg: "Some reference tasks failed."})
	return s
}

func newTestModel(g *runtime.Graph, s *script, w, h int) *Model {
	m := New(Options{Graph: g, Now: s.at})
	m.SetSize(w, h)
	m.Apply(s.events)
	return m
}

func plain(m *Model) string { return ansi.Strip(m.View()) }

func press(m *Model, keys ...string) {
	for _, k := range keys {
		m.Update(keyMsg(k))
	}
}

// keyMsg is the key press a terminal sends for k ("j", "enter", "up").
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// TestViewMidRun draws a run halfway (golden file: testdata/TestViewMidRun.golden,
// `go test ./tui -update` rewrites it).
func TestViewMidRun(t *testing.T) {
	m := newTestModel(etlGraph(), etlRun(), 100, 22)
	golden.RequireEqual(t, plain(m))
}

// TestViewFinished draws the same run once over, with the failed child
// selected and its log shown.
func TestViewFinished(t *testing.T) {
	m := newTestModel(etlGraph(), etlDone(), 100, 22)
	press(m, "g", "j", "j", "enter", "j", "j")
	if got := m.Selected(); got != "clean[1]" {
		t.Fatalf("selected %q, want clean[1]", got)
	}
	golden.RequireEqual(t, plain(m))
}

func TestCounts(t *testing.T) {
	m := newTestModel(etlGraph(), etlRun(), 100, 22)
	// Tasks: extract, clean, load, notify and clean's 4 children; the
	// parameter is listed but not counted.
	want := map[runtime.State]int{runtime.Success: 2, runtime.Running: 2, runtime.Failed: 1, runtime.Pending: 3}
	checkCounts(t, m, 8, want)
	if _, done := m.Done(); done {
		t.Error("Done before FlowFinished")
	}
	m.Apply(etlDone().events[len(etlRun().events):])
	want = map[runtime.State]int{runtime.Success: 4, runtime.Failed: 2, runtime.TriggerFailed: 2}
	checkCounts(t, m, 8, want)
	if st, done := m.Done(); !done || st != runtime.Failed {
		t.Errorf("Done() = %v, %v; want Failed, true", st, done)
	}
	all := etlDone().events
	if got, want := m.Elapsed(), all[len(all)-1].Time.Sub(all[0].Time); got != want {
		t.Errorf("Elapsed() = %v, want %v (from the events' times)", got, want)
	}
}

func checkCounts(t *testing.T, m *Model, total int, want map[runtime.State]int) {
	t.Helper()
	if m.Total() != total {
		t.Errorf("Total() = %d, want %d", m.Total(), total)
	}
	for st := runtime.Pending; st <= runtime.Crashed; st++ {
		if got := m.Count(st); got != want[st] {
			t.Errorf("Count(%v) = %d, want %d", st, got, want[st])
		}
	}
}

// TestFilterCycle steps through every filter and checks which runs each
// one lists.
func TestFilterCycle(t *testing.T) {
	m := newTestModel(etlGraph(), etlDone(), 100, 30)
	wants := []struct {
		filter string
		rows   []string
	}{
		{"running", nil},
		{"failed", []string{"clean", "clean[1]", "load", "notify"}},
		{"succeeded", []string{"param day", "extract", "clean", "clean[0]", "clean[2]", "clean[3]"}},
		{"skipped", nil},
		{"pending", nil},
		{"all", []string{"param day", "extract", "clean", "load", "notify"}},
	}
	for _, w := range wants {
		press(m, "s")
		if m.Filter() != w.filter {
			t.Fatalf("filter %q, want %q", m.Filter(), w.filter)
		}
		if got := listed(m); strings.Join(got, ",") != strings.Join(w.rows, ",") {
			t.Errorf("filter %s lists %q, want %q", w.filter, got, w.rows)
		}
	}
	press(m, "S")
	if m.Filter() != "pending" {
		t.Errorf("S went back to %q, want pending", m.Filter())
	}
}

// listed returns the names of the rows the list shows.
func listed(m *Model) []string {
	var out []string
	lines := strings.Split(plain(m), "\n")
	for _, l := range lines[headerLines:] {
		if strings.HasPrefix(l, "──") {
			break
		}
		f := strings.Fields(strings.TrimLeft(l, "› "))
		if len(f) == 0 || f[0] == "no" {
			continue
		}
		name := f[0]
		if name == "▸" || name == "▾" || name == "param" {
			name = f[1]
			if f[0] == "param" {
				name = "param " + name
			}
		}
		out = append(out, name)
	}
	return out
}

// TestFilterFollowsStates checks that a filter's list changes as runs
// change state, while the selection stays on its run.
func TestFilterFollowsStates(t *testing.T) {
	s := etlRun()
	m := newTestModel(etlGraph(), s, 100, 30)
	press(m, "s") // running
	if got := strings.Join(listed(m), ","); got != "clean,clean[2]" {
		t.Fatalf("running lists %q", got)
	}
	n := len(s.events)
	s.state(2, "clean", 3, 1, runtime.Running, "")
	m.Apply(s.events[n:])
	if got := strings.Join(listed(m), ","); got != "clean,clean[2],clean[3]" {
		t.Fatalf("after clean[3] started, running lists %q", got)
	}
	press(m, "k")
	if m.Selected() != "clean[2]" || m.Following() {
		t.Fatalf("selected %q (following %v), want clean[2], not following", m.Selected(), m.Following())
	}
	n = len(s.events)
	s.state(2, "clean", 3, 1, runtime.Success, "")
	m.Apply(s.events[n:])
	if got := strings.Join(listed(m), ","); got != "clean,clean[2]" || m.Selected() != "clean[2]" {
		t.Fatalf("after clean[3] ended: lists %q, selected %q", got, m.Selected())
	}
	n = len(s.events)
	s.state(2, "clean", 2, 1, runtime.Success, "")
	m.Apply(s.events[n:])
	if got := strings.Join(listed(m), ","); got != "clean" || m.Selected() != "clean" {
		t.Fatalf("after clean[2] ended: lists %q, selected %q (want its task)", got, m.Selected())
	}
}

// TestFollow checks that the selection follows the run that started last
// until a key moves it.
func TestFollow(t *testing.T) {
	s := etlRun()
	m := newTestModel(etlGraph(), s, 100, 30)
	if !m.Following() || m.Selected() != "clean" {
		t.Fatalf("following %v, selected %q; want the mapped task of the running child", m.Following(), m.Selected())
	}
	press(m, "enter") // expand clean: the running child itself is selected
	n := len(s.events)
	s.state(2, "clean", 3, 1, runtime.Running, "")
	m.Apply(s.events[n:])
	if m.Selected() != "clean[3]" {
		t.Fatalf("selected %q, want clean[3], the run that started last", m.Selected())
	}
	press(m, "k")
	if m.Following() {
		t.Fatal("still following after a move")
	}
	n = len(s.events)
	s.state(2, "clean", 3, 1, runtime.Success, "").state(3, "load", -1, 1, runtime.Running, "")
	m.Apply(s.events[n:])
	if m.Selected() != "clean[2]" {
		t.Fatalf("selected %q, want clean[2]: not following", m.Selected())
	}
	press(m, "f")
	if !m.Following() || m.Selected() != "load" {
		t.Fatalf("after f: following %v, selected %q; want load", m.Following(), m.Selected())
	}
}

// TestLogPane checks what the log pane shows of the selected run: its
// final message first, then its lines, escape sequences removed, and
// scrolling back.
func TestLogPane(t *testing.T) {
	s := etlDone()
	m := newTestModel(etlGraph(), s, 80, 16)
	press(m, "g", "j")
	v := plain(m)
	for _, want := range []string{"── extract · Success · 300ms", "10:47:10 reading 4 files", "10:47:10 WARNING file 3 is empty"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	press(m, "j", "enter", "j", "j")
	v = plain(m)
	for _, want := range []string{"── clean[1] · Failed", " Failed: etl.star:12:9: fail: bad date", "row 7:    bad date"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(m.View(), "\x1b[31m date") || strings.Contains(v, "Traceback...") {
		t.Errorf("task output escapes or a message's later lines reached the screen:\n%q", m.View())
	}

	// A long log shows its end, and [ scrolls back.
	n := len(s.events)
	for i := range 100 {
		s.log(1, "extract", -1, runtime.Info, "line "+itoa(i))
	}
	m.Apply(s.events[n:])
	press(m, "g", "j")
	v = plain(m)
	if !strings.Contains(v, "line 99") || strings.Contains(v, "line 90") {
		t.Fatalf("the log pane does not show the log's end:\n%s", v)
	}
	// 9 rows leave the log pane 5 lines; [ goes back by half of them.
	press(m, "[", "[")
	v = plain(m)
	if strings.Contains(v, "line 99") || strings.Contains(v, "line 96") || !strings.Contains(v, "line 91") || !strings.Contains(v, "line 95") {
		t.Fatalf("[ did not scroll back:\n%s", v)
	}
	press(m, "]", "]", "]")
	if v = plain(m); !strings.Contains(v, "line 99") {
		t.Fatalf("] did not scroll forward to the end:\n%s", v)
	}
}

// TestLogBounded checks that a run's log keeps its last maxLogLines lines
// and says how many it dropped.
func TestLogBounded(t *testing.T) {
	s := &script{runID: "r"}
	s.add(runtime.Event{Kind: runtime.FlowStarted, Msg: "f"})
	s.state(0, "chatty", -1, 1, runtime.Running, "")
	for i := range maxLogLines + 10 {
		s.log(0, "chatty", -1, runtime.Info, "line "+itoa(i))
	}
	m := newTestModel(nil, s, 80, 20)
	b := m.logs[ref{node: 0, child: -1}]
	if len(b.lines) > maxLogLines || b.dropped == 0 || b.dropped+len(b.lines) != maxLogLines+10 {
		t.Fatalf("kept %d lines, dropped %d, of %d", len(b.lines), b.dropped, maxLogLines+10)
	}
	if last := b.lines[len(b.lines)-1].text; last != "line "+itoa(maxLogLines+9) {
		t.Errorf("last line %q", last)
	}
	if v := plain(m); !strings.Contains(v, groupDigits(b.dropped)+" earlier lines dropped") {
		t.Errorf("the view does not say lines were dropped:\n%s", v)
	}
}

// TestNoGraph checks that without a Graph the rows come with the events.
func TestNoGraph(t *testing.T) {
	m := newTestModel(nil, etlDone(), 100, 22)
	if got := strings.Join(listed(m), ","); got != "day,extract,clean,load,notify" {
		t.Errorf("rows %q", got)
	}
	// Without a graph nothing tells parameters from tasks: all count.
	if m.Total() != 9 {
		t.Errorf("Total() = %d, want 9", m.Total())
	}
}

// TestMappedProgress checks the mapped task's row: Running while its
// children run, and its bar.
func TestMappedProgress(t *testing.T) {
	m := newTestModel(etlGraph(), etlRun(), 100, 22)
	row := rowOf(t, m, "clean")
	for _, want := range []string{"Running", "50% 2/4", "✗1"} {
		if !strings.Contains(row, want) {
			t.Errorf("clean's row lacks %q: %q", want, row)
		}
	}
	m.Apply(etlDone().events[len(etlRun().events):])
	row = rowOf(t, m, "clean")
	for _, want := range []string{"Failed", "100% 4/4", "✗1", "1.0s"} {
		if !strings.Contains(row, want) {
			t.Errorf("clean's row lacks %q: %q", want, row)
		}
	}
}

func rowOf(t *testing.T, m *Model, name string) string {
	t.Helper()
	for _, l := range strings.Split(plain(m), "\n") {
		if f := strings.Fields(strings.TrimLeft(l, "› ▸▾")); len(f) > 0 && f[0] == name {
			return l
		}
	}
	t.Fatalf("no row %s in\n%s", name, plain(m))
	return ""
}

// TestRetries checks the tries column and the retry messages in the log.
func TestRetries(t *testing.T) {
	s := etlRun()
	s.state(3, "load", -1, 1, runtime.Running, "")
	s.state(3, "load", -1, 1, runtime.Retrying, "connection refused (attempt 1 of 3, retrying in 1s)")
	s.state(3, "load", -1, 2, runtime.Running, "")
	m := newTestModel(etlGraph(), s, 100, 24)
	if row := rowOf(t, m, "load"); !strings.Contains(row, "Running") || !strings.Contains(row, "2/3") {
		t.Errorf("load's row: %q", row)
	}
	if v := plain(m); !strings.Contains(v, "WARNING connection refused (attempt 1 of 3") {
		t.Errorf("no retry message in the log pane of load:\n%s", v)
	}
}

// TestColours checks that states are drawn in their colours.
func TestColours(t *testing.T) {
	m := newTestModel(etlGraph(), etlDone(), 100, 22)
	v := m.View()
	st := newStyles()
	for _, s := range []runtime.State{runtime.Failed, runtime.TriggerFailed, runtime.Success} {
		want := st.stateStyle(s).Styled(fit(s.String(), stateW))
		if !strings.Contains(v, want) {
			t.Errorf("no %v cell drawn as %q", s, want)
		}
	}
}

// TestSmallSizes draws the pane at sizes down to nothing: never more lines
// than its height nor wider than its width, and no panic.
func TestSmallSizes(t *testing.T) {
	m := newTestModel(etlGraph(), etlDone(), 100, 22)
	press(m, "enter")
	for w := 0; w <= 40; w += 3 {
		for h := 0; h <= 12; h++ {
			m.SetSize(w, h)
			v := m.View()
			lines := strings.Split(v, "\n")
			if v == "" {
				lines = nil
			}
			if w > 0 && len(lines) != h {
				t.Fatalf("%dx%d: %d lines", w, h, len(lines))
			}
			for _, l := range lines {
				if ansi.StringWidth(l) > w {
					t.Fatalf("%dx%d: line wider than the pane: %q", w, h, ansi.Strip(l))
				}
			}
		}
	}
}

// TestExpandCollapse checks enter and left on a mapped task.
func TestExpandCollapse(t *testing.T) {
	m := newTestModel(etlGraph(), etlDone(), 100, 30)
	press(m, "g", "j", "j")
	if m.Selected() != "clean" {
		t.Fatalf("selected %q", m.Selected())
	}
	press(m, "enter")
	if got := strings.Join(listed(m), ","); got != "param day,extract,clean,clean[0],clean[1],clean[2],clean[3],load,notify" {
		t.Fatalf("expanded: %q", got)
	}
	press(m, "j", "j", "left")
	if m.Selected() != "clean" || len(listed(m)) != 5 {
		t.Fatalf("collapsed: selected %q, rows %q", m.Selected(), listed(m))
	}
	press(m, "G")
	if m.Selected() != "notify" {
		t.Fatalf("G selected %q", m.Selected())
	}
}

// TestConstNodesHidden: a graph's constants are not task rows, before
// they run or after (they used to be listed, and counted, at their first
// event).
func TestConstNodesHidden(t *testing.T) {
	g := &runtime.Graph{Flow: "f"}
	g.Add(&runtime.Node{Name: "sq.arg", Kind: runtime.ConstNode})
	g.Add(&runtime.Node{Name: "a"})
	m := New(Options{Graph: g})
	m.SetSize(80, 20)
	m.Apply([]runtime.Event{
		{Kind: runtime.TaskState, Node: 0, NodeName: "sq.arg", TaskRun: "sq.arg", MapIndex: -1, Attempt: 1, State: runtime.Running},
		{Kind: runtime.TaskState, Node: 0, NodeName: "sq.arg", TaskRun: "sq.arg", MapIndex: -1, Attempt: 1, State: runtime.Success},
	})
	if m.Total() != 1 || m.Count(runtime.Pending) != 1 || m.Count(runtime.Success) != 0 {
		t.Errorf("%d task runs, %d Pending, %d Success: want a's alone", m.Total(), m.Count(runtime.Pending), m.Count(runtime.Success))
	}
	if v := m.View(); strings.Contains(v, "sq.arg") {
		t.Errorf("the constant is listed:\n%s", v)
	}
}

// TestViewWaiting draws a run whose second db task run waits for the slot
// the first holds (limits={"db": 1}): its row says Waiting, the counts
// have it, and the pane of the run, selected as the run's latest change,
// says for which limit (golden file).
func TestViewWaiting(t *testing.T) {
	g := &runtime.Graph{Flow: "Limited", Limits: map[string]int{"db": 1}}
	for _, name := range []string{"users", "orders", "report"} {
		g.Add(&runtime.Node{Name: name, Task: name, Tags: []string{"db"}})
	}
	s := &script{runID: "5a1e-run"}
	s.add(runtime.Event{Kind: runtime.FlowStarted, Msg: "Limited"})
	s.state(0, "users", -1, 1, runtime.Running, "")
	s.log(1, "orders", -1, runtime.Info, "waiting for a slot of limit db (1 in use)")
	s.state(1, "orders", -1, 1, runtime.Waiting, "waiting for slot db")
	m := newTestModel(g, s, 100, 12)
	out := plain(m)
	if !strings.Contains(out, "orders · waiting for slot db") || !strings.Contains(rowIn(t, out, "orders"), "Waiting") {
		t.Errorf("the view does not say orders waits for a slot of db:\n%s", out)
	}
	golden.RequireEqual(t, []byte(out))
}
