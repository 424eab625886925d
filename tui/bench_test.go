package tui_test

// Benchmarks of the run view at 100,000 task runs (docs/performance.md,
// "The live view"):
//
//	go test -run '^$' -bench . -benchmem ./tui/
//
// BenchmarkFrame: one frame of the task list (draw, and the list rebuild a
// filter needs when states change) with 100,000 task runs listed; target
// under 16 ms. BenchmarkApply: what the view spends per event.
// BenchmarkLag: the W2 workload (a task mapped over 100,000 ints) run by the
// executor while a real bubbletea program shows it; how long after the
// executor emitted an event the frame that shows it was written out;
// target under 100 ms.

import (
	"context"
	"io"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
	"github.com/wfsh/wfsh/tui"
)

const width, height = 200, 60

// flatGraph has n independent tasks.
func flatGraph(n int) *runtime.Graph {
	g := &runtime.Graph{Flow: "flat", Values: runtimetest.ListValues{}}
	body := runtimetest.Func(func([]any) (any, error) { return nil, nil })
	for i := range n {
		g.Add(&runtime.Node{Name: "task-" + strconv.Itoa(i), Task: "task", Trigger: runtime.AllSuccessful, Body: body})
	}
	return g
}

// mapGraph maps a task over n elements.
func mapGraph(n int) *runtime.Graph {
	g := &runtime.Graph{Flow: "map", Values: runtimetest.ListValues{}}
	src := g.Add(&runtime.Node{Name: "numbers", Task: "numbers", Trigger: runtime.AllSuccessful,
		Body: runtimetest.Func(func([]any) (any, error) {
			l := make([]any, n)
			for i := range l {
				l[i] = int64(i)
			}
			return l, nil
		})})
	g.Add(&runtime.Node{Name: "inc", Task: "inc", Trigger: runtime.AllSuccessful, Mapped: true,
		Inputs: []runtime.Input{{From: src, Map: true}},
		Body:   runtimetest.Func(func(in []any) (any, error) { return in[0].(int64) + 1, nil })})
	return g
}

// recorded runs g once and returns its events.
func recorded(b *testing.B, g *runtime.Graph) []runtime.Event {
	b.Helper()
	rec := &runtimetest.Recorder{}
	res := runtime.Run(context.Background(), g, runtime.Options{RunID: "bench", Sink: rec})
	if res.State != runtime.Success {
		b.Fatalf("run ended %v", res.State)
	}
	return rec.Events()
}

// halfway returns the events up to the middle of the run, so that the
// view shows runs in every state.
func halfway(events []runtime.Event) []runtime.Event { return events[:len(events)/2] }

func key(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	}
	return tea.KeyPressMsg{Code: []rune(k)[0], Text: k}
}

// BenchmarkFrame measures one frame with 100,000 task runs listed.
//
//   - flat: 100,000 tasks, the selection in the middle; View only.
//   - map: a task mapped over 100,000 elements, expanded; View only.
//   - map-filtered: the same under the "succeeded" filter, with a state
//     change before each frame, which makes the list rebuild: the
//     frame's worst case.
func BenchmarkFrame(b *testing.B) {
	b.Run("flat", func(b *testing.B) {
		g := flatGraph(100_000)
		m := tui.New(tui.Options{Graph: g})
		m.SetSize(width, height)
		m.Apply(halfway(recorded(b, g)))
		m.Update(key("f")) // stop following, stay in the middle
		for range 1000 {
			m.Update(key("pgdown"))
		}
		if m.Total() != 100_000 {
			b.Fatalf("%d task runs", m.Total())
		}
		frame(b, m, nil)
	})
	b.Run("map", func(b *testing.B) {
		g := mapGraph(100_000)
		m := tui.New(tui.Options{Graph: g})
		m.SetSize(width, height)
		m.Apply(halfway(recorded(b, g)))
		m.Update(key("enter")) // expand inc (followed, so selected)
		if m.Total() != 100_002 {
			b.Fatalf("%d task runs", m.Total())
		}
		frame(b, m, nil)
	})
	b.Run("map-filtered", func(b *testing.B) {
		g := mapGraph(100_000)
		events := recorded(b, g)
		m := tui.New(tui.Options{Graph: g})
		m.SetSize(width, height)
		half := halfway(events)
		m.Apply(half)
		m.Update(key("s"))
		m.Update(key("s"))
		m.Update(key("s")) // succeeded
		if m.Filter() != "succeeded" {
			b.Fatalf("filter %s", m.Filter())
		}
		// Each frame, one more child changes state.
		rest := events[len(half):]
		i := 0
		frame(b, m, func() {
			if i < len(rest) {
				m.Apply(rest[i : i+1])
				i++
			}
		})
	})
}

func frame(b *testing.B, m *tui.Model, before func()) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if before != nil {
			before()
		}
		n += len(m.View())
	}
	if n == 0 {
		b.Fatal("empty view")
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
}

// BenchmarkApply measures the view's cost per event: all the events of a
// run mapped over 100,000 elements, applied in frames of 10,000.
func BenchmarkApply(b *testing.B) {
	g := mapGraph(100_000)
	events := recorded(b, g)
	b.ReportAllocs()
	for b.Loop() {
		m := tui.New(tui.Options{Graph: g})
		m.SetSize(width, height)
		for i := 0; i < len(events); i += 10_000 {
			m.Apply(events[i:min(i+10_000, len(events))])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(events)), "ns/event")
}

// BenchmarkLag runs flows/bench/w2_map.star (100,002 task runs, 200,000
// events) with the view as a real bubbletea program (the App, 60 frames
// a second, drawing into a writer that records when each frame was
// written), and measures for every event the time from its emission by
// the executor to the write of the first frame that includes it. The
// executor and the view share the machine's cores, as in `wfsh run --tui`,
// with its garbage collector setting.
func BenchmarkLag(b *testing.B) {
	// The garbage collector's pace of `wfsh run` (cmd/wfsh/main.go).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	path := filepath.Join("..", "flows", "bench", "w2_map.star")
	// default: wfsh's default concurrency, which keeps both cores busy;
	// c=1: one task body at a time, which leaves the view a core.
	for _, c := range []struct {
		name string
		n    int
	}{{"default", 0}, {"c=1", 1}} {
		b.Run(c.name, func(b *testing.B) {
			var lags []time.Duration
			frames := 0
			for b.Loop() {
				l, f := lagRun(b, path, c.n)
				lags = append(lags, l...)
				frames += f
			}
			slices.Sort(lags)
			q := func(p float64) float64 {
				return float64(lags[min(int(p*float64(len(lags))), len(lags)-1)]) / 1e6
			}
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
			b.ReportMetric(float64(frames)/float64(b.N), "frames/run")
		})
	}
}

// stamps records when the executor emitted each event, by Seq.
type stamps struct{ at []int64 }

func (s *stamps) Emit(e runtime.Event) {
	for int(e.Seq) >= len(s.at) {
		s.at = append(s.at, make([]int64, len(s.at)+1024)...)
	}
	s.at[e.Seq] = e.Time.UnixNano()
}

// screen is the program's output: it records when each write happened.
type screen struct {
	mu     sync.Mutex
	writes []int64
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.writes = append(s.writes, time.Now().UnixNano())
	s.mu.Unlock()
	return len(p), nil
}

// lagApp records, each time the program draws, which events the frame
// includes.
type lagApp struct {
	*tui.App
	mu    *sync.Mutex
	views *[]view
	seq   *uint64 // the last Seq applied, from EventsMsg
}

type view struct {
	seq uint64
	at  int64
}

func (a lagApp) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if e, ok := msg.(tui.EventsMsg); ok && len(e.Events) > 0 {
		*a.seq = e.Events[len(e.Events)-1].Seq
	}
	_, cmd := a.App.Update(msg)
	return a, cmd
}

func (a lagApp) View() tea.View {
	v := a.App.View()
	a.mu.Lock()
	*a.views = append(*a.views, view{*a.seq, time.Now().UnixNano()})
	a.mu.Unlock()
	return v
}

func lagRun(b *testing.B, path string, concurrency int) ([]time.Duration, int) {
	b.Helper()
	mod, err := builtins.Load(path, builtins.LoadOptions{Print: func(string) {}})
	if err != nil {
		b.Fatal(err)
	}
	flow, err := mod.FindFlow("")
	if err != nil {
		b.Fatal(err)
	}
	bd, err := flow.Build(builtins.BuildOptions{RunSettings: builtins.RunSettings{RunID: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	feed := tui.NewFeed(0)
	m := tui.New(tui.Options{Graph: bd.Graph, Feed: feed, RunID: "bench"})
	var (
		mu    sync.Mutex
		views []view
		seq   uint64
	)
	out := &screen{}
	app := lagApp{App: tui.NewApp(m, func() {}), mu: &mu, views: &views, seq: &seq}
	p := tea.NewProgram(app, tea.WithInput(nil), tea.WithOutput(out), tea.WithWindowSize(width, height),
		tea.WithoutSignalHandler())
	ran := make(chan error, 1)
	go func() {
		_, err := p.Run()
		ran <- err
	}()
	st := &stamps{}
	res := runtime.Run(context.Background(), bd.Graph, runtime.Options{RunID: "bench", Redactor: bd.Redactor(),
		Concurrency: concurrency, Sink: runtime.Tee(st, feed)})
	feed.Close()
	if res.State != runtime.Success {
		b.Fatalf("run ended %v", res.State)
	}
	last := uint64(len(st.at) - 1)
	for last > 0 && st.at[last] == 0 {
		last--
	}
	// Wait until the first frame with the last event was drawn and
	// written (later frames may be the same, and not written).
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		var at int64
		for _, v := range views {
			if v.seq == last {
				at = v.at
				break
			}
		}
		mu.Unlock()
		if at != 0 && written(out, at) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the last event never reached the screen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Quit()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	return lagsOf(st.at[:last+1], views, out.writes), len(views)
}

func written(s *screen, after int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.writes) > 0 && s.writes[len(s.writes)-1] >= after
}

// lagsOf pairs each event with the first frame that includes it and the
// first write after that frame was drawn.
func lagsOf(emitted []int64, views []view, writes []int64) []time.Duration {
	var lags []time.Duration
	v, w := 0, 0
	for seq := 1; seq < len(emitted); seq++ {
		for v < len(views) && views[v].seq < uint64(seq) {
			v++
		}
		if v == len(views) {
			break
		}
		for w < len(writes) && writes[w] < views[v].at {
			w++
		}
		if w == len(writes) {
			break
		}
		lags = append(lags, time.Duration(writes[w]-emitted[seq]))
	}
	return lags
}

var _ io.Writer = (*screen)(nil)
