package tui

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

// These tests run the App as a real bubbletea program (teatest) over the
// events of real executor runs.

// probe wraps the App to read its state from inside the program's own
// goroutine: a probeMsg asks for a snapshot.
type probe struct{ *App }

type probeMsg struct{ reply chan snapshot }

type snapshot struct {
	view     string // the pane and status line, without colours
	asking   bool
	done     bool
	state    runtime.State
	selected string
	filter   string
}

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if q, ok := msg.(probeMsg); ok {
		st, done := p.m.Done()
		q.reply <- snapshot{view: ansi.Strip(p.App.View().Content), asking: p.asking, done: done,
			state: st, selected: p.m.Selected(), filter: p.m.Filter()}
		return p, nil
	}
	_, cmd := p.App.Update(msg)
	return p, cmd
}

// liveRun is a run of g by the executor, shown by an App under teatest.
type liveRun struct {
	tm     *teatest.TestModel
	cancel context.CancelFunc
	result chan *runtime.Result
}

func startLive(t *testing.T, g *runtime.Graph, cancelled func()) *liveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	feed := NewFeed(0)
	m := New(Options{Graph: g, Feed: feed, RunID: "live"})
	app := NewApp(m, func() {
		if cancelled != nil {
			cancelled()
		}
		cancel()
	})
	r := &liveRun{cancel: cancel, result: make(chan *runtime.Result, 1)}
	var starts atomic.Int32
	// The run starts when the program has the terminal, as in wfsh.
	app.Start = func() {
		starts.Add(1)
		go func() {
			res := runtime.Run(ctx, g, runtime.Options{RunID: "live", Concurrency: 2, Sink: feed})
			feed.Close()
			r.result <- res
		}()
	}
	t.Cleanup(func() {
		if n := starts.Load(); n != 1 {
			t.Errorf("App.Start was called %d times, want once", n)
		}
	})
	r.tm = teatest.NewTestModel(t, probe{app}, teatest.WithInitialTermSize(100, 30))
	t.Cleanup(func() { _ = r.tm.Quit() })
	return r
}

// wait polls the App until cond holds, for at most 20s.
func (r *liveRun) wait(t *testing.T, what string, cond func(snapshot) bool) snapshot {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last snapshot
	for time.Now().Before(deadline) {
		reply := make(chan snapshot, 1)
		r.tm.Send(probeMsg{reply})
		select {
		case last = <-reply:
			if cond(last) {
				return last
			}
		case <-time.After(time.Second):
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last screen:\n%s", what, last.view)
	return last
}

func (r *liveRun) keys(keys ...string) {
	for _, k := range keys {
		r.tm.Send(keyMsg(k))
	}
}

func (r *liveRun) runResult(t *testing.T) *runtime.Result {
	t.Helper()
	select {
	case res := <-r.result:
		return res
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not end")
		return nil
	}
}

func isDone(s snapshot) bool { return s.done }

// TestAppAfterRun checks the screen once a real run is over: every task's
// state as the executor reported it, the header's verdict, then q quits
// at once.
func TestAppAfterRun(t *testing.T) {
	g := runtimetest.SampleGraph()
	r := startLive(t, g, nil)
	s := r.wait(t, "the run's end", isDone)
	res := r.runResult(t)
	if s.state != res.State {
		t.Errorf("the view says the run ended %v, the executor %v", s.state, res.State)
	}
	header := strings.SplitN(s.view, "\n", 2)[0]
	for _, want := range []string{"sample", "run live", res.State.String()} {
		if !strings.Contains(header, want) {
			t.Errorf("header %q lacks %q", header, want)
		}
	}
	for i, tr := range res.Tasks {
		n := g.Nodes[i]
		if n.Kind == runtime.ConstNode {
			continue
		}
		row := rowIn(t, s.view, n.Name)
		if !strings.Contains(row, tr.State.String()) {
			t.Errorf("row of %s shows %q, the executor says %v", n.Name, row, tr.State)
		}
	}
	if !strings.Contains(s.view, "run over") {
		t.Errorf("the status line does not say the run is over:\n%s", s.view)
	}
	r.keys("q")
	r.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	final := r.tm.FinalModel(t).(probe)
	if final.asking {
		t.Error("q after the run asked a question")
	}
}

// rowIn returns the list row of the named run in a plain screen.
func rowIn(t *testing.T, view, name string) string {
	t.Helper()
	for _, l := range strings.Split(view, "\n") {
		f := strings.Fields(strings.TrimLeft(l, "› ▸▾"))
		if len(f) > 1 && f[0] == "param" {
			f = f[1:]
		}
		if len(f) > 0 && f[0] == name {
			return l
		}
	}
	t.Fatalf("no row %q on the screen:\n%s", name, view)
	return ""
}

// TestAppFilterSelectLog filters a finished run down to its failed runs,
// selects the failed child and reads its log; then selects another task
// and reads what it logged.
func TestAppFilterSelectLog(t *testing.T) {
	r := startLive(t, runtimetest.SampleGraph(), nil)
	r.wait(t, "the run's end", isDone)
	r.keys("s", "s")
	s := r.wait(t, "the failed filter", func(s snapshot) bool { return s.filter == "failed" })
	// square's child [1] failed (two is not allowed), which fails square.
	if rows := listedIn(s.view); strings.Join(rows, ",") != "square,square[1]" {
		t.Fatalf("failed runs listed: %q\n%s", rows, s.view)
	}
	r.keys("g", "j")
	s = r.wait(t, "square[1] selected", func(s snapshot) bool { return s.selected == "square[1]" })
	if !strings.Contains(s.view, "── square[1] · Failed") || !strings.Contains(s.view, "Failed: two is not allowed") {
		t.Fatalf("the log pane does not show square[1]'s failure:\n%s", s.view)
	}
	r.keys("s", "s", "s", "s") // back to all
	r.keys("g", "j")           // list, after the parameter n
	s = r.wait(t, "list selected", func(s snapshot) bool { return s.selected == "list" && s.filter == "all" })
	if !strings.Contains(s.view, "making a list") {
		t.Fatalf("the log pane of list lacks its line:\n%s", s.view)
	}
}

func listedIn(view string) []string {
	var out []string
	lines := strings.Split(view, "\n")
	for _, l := range lines[headerLines:] {
		if strings.HasPrefix(l, "──") {
			break
		}
		f := strings.Fields(strings.TrimLeft(l, "› ▸▾"))
		if len(f) > 1 && f[0] == "param" {
			f = f[1:]
		}
		if len(f) > 0 && f[0] != "no" {
			out = append(out, f[0])
		}
	}
	return out
}

// blockingGraph has a task that runs until cancelled and one after it;
// started is closed when the first runs, stopped when its body returned.
func blockingGraph(started, stopped chan struct{}) *runtime.Graph {
	g := &runtime.Graph{Flow: "blocking", Values: runtimetest.ListValues{}}
	block := g.Add(&runtime.Node{Name: "block", Task: "block", Trigger: runtime.AllSuccessful,
		Body: runtime.BodyFunc(func(ctx context.Context, c *runtime.Call) (runtime.Value, error) {
			defer close(stopped)
			c.Log(runtime.Info, "blocking until cancelled")
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})})
	g.Add(&runtime.Node{Name: "after", Task: "after", Trigger: runtime.AllSuccessful,
		Inputs: []runtime.Input{{From: block}},
		Body:   runtimetest.Func(func([]any) (any, error) { return nil, errors.New("must not run") })})
	return g
}

// TestAppQuitMidRun quits while a task runs: q asks, n keeps watching,
// q then y cancels the run; the App quits once the run has stopped, with
// every run Cancelled and the body returned. ctrl+c twice does the same.
func TestAppQuitMidRun(t *testing.T) {
	for _, keys := range [][]string{{"q", "y"}, {"ctrl+c", "ctrl+c"}} {
		t.Run(keys[0], func(t *testing.T) {
			started, stopped := make(chan struct{}), make(chan struct{})
			cancels := 0
			r := startLive(t, blockingGraph(started, stopped), func() { cancels++ })
			<-started
			r.wait(t, "block running", func(s snapshot) bool { return strings.Contains(rowIn(t, s.view, "block"), "Running") })

			r.keys(keys[0])
			s := r.wait(t, "the question", func(s snapshot) bool { return s.asking })
			if !strings.Contains(s.view, "The run is still going. Cancel it and quit? (y/n)") {
				t.Fatalf("no question on the screen:\n%s", s.view)
			}
			r.keys("n")
			s = r.wait(t, "no question", func(s snapshot) bool { return !s.asking })
			if s.done {
				t.Fatal("the run ended after n")
			}
			select {
			case <-stopped:
				t.Fatal("the task stopped after n")
			default:
			}

			r.keys(keys...)
			r.tm.WaitFinished(t, teatest.WithFinalTimeout(20*time.Second))
			res := r.runResult(t)
			<-stopped
			if cancels != 1 {
				t.Errorf("the run was cancelled %d times, want 1", cancels)
			}
			if res.State != runtime.Cancelled {
				t.Errorf("run ended %v, want Cancelled", res.State)
			}
			for _, tr := range res.Tasks {
				if tr.State != runtime.Cancelled {
					t.Errorf("%s ended %v, want Cancelled", tr.Name, tr.State)
				}
			}
			final := r.tm.FinalModel(t).(probe)
			if st, done := final.m.Done(); !done || st != runtime.Cancelled {
				t.Errorf("the view quit before the run's end: %v, %v", st, done)
			}
		})
	}
}

// TestAppCancelledOutside checks that a run cancelled from outside the
// view (SIGINT, kill) ends the view with it, without a question.
func TestAppCancelledOutside(t *testing.T) {
	started, stopped := make(chan struct{}), make(chan struct{})
	r := startLive(t, blockingGraph(started, stopped), nil)
	<-started
	r.cancel()
	r.tm.WaitFinished(t, teatest.WithFinalTimeout(20*time.Second))
	if res := r.runResult(t); res.State != runtime.Cancelled {
		t.Errorf("run ended %v", res.State)
	}
	<-stopped
}

// TestAppWaitingForSlot runs two db task runs under limits={"db": 1} on
// the executor: while the first holds the slot, the screen shows the
// second Waiting, and its pane says for which limit; once the slot is
// freed it runs and the run ends Success.
func TestAppWaitingForSlot(t *testing.T) {
	free := make(chan struct{})
	g := &runtime.Graph{Flow: "limited", Limits: map[string]int{"db": 1}}
	g.Add(&runtime.Node{Name: "hold", Task: "hold", Tags: []string{"db"}, Trigger: runtime.AllSuccessful,
		Body: runtime.BodyFunc(func(context.Context, *runtime.Call) (runtime.Value, error) { <-free; return nil, nil })})
	g.Add(&runtime.Node{Name: "queued", Task: "queued", Tags: []string{"db"}, Trigger: runtime.AllSuccessful,
		Body: runtime.BodyFunc(func(context.Context, *runtime.Call) (runtime.Value, error) { return nil, nil })})
	r := startLive(t, g, nil)
	s := r.wait(t, "a task run waiting for its slot", func(s snapshot) bool {
		return strings.Contains(s.view, "· waiting for slot db")
	})
	waiting, holding := "queued", "hold"
	if strings.Contains(s.view, "hold · waiting") {
		waiting, holding = "hold", "queued"
	}
	if row := rowIn(t, s.view, waiting); !strings.Contains(row, "Waiting") {
		t.Errorf("row of %s: %q, want Waiting", waiting, row)
	}
	if row := rowIn(t, s.view, holding); !strings.Contains(row, "Running") {
		t.Errorf("row of %s: %q, want Running", holding, row)
	}
	close(free)
	s = r.wait(t, "the run's end", isDone)
	if res := r.runResult(t); res.State != runtime.Success || s.state != runtime.Success {
		t.Errorf("run %v, the view says %v; want Success", res.State, s.state)
	}
	if row := rowIn(t, s.view, waiting); !strings.Contains(row, "Success") {
		t.Errorf("row of %s after the run: %q", waiting, row)
	}
}
