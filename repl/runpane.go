package repl

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runtime"
)

// maxRunLines bounds the log lines the run pane keeps (the last ones).
const maxRunLines = 2000

// runLog is the live view of the last flow run started at the prompt: the
// log printer's lines, and the run's state. Executor goroutines write it;
// the UI reads a snapshot when told that it changed.
type runLog struct {
	mu      sync.Mutex
	title   string
	state   runtime.State
	done    bool
	lines   []string
	partial []byte
	pending bool // a runChangedMsg is on its way
	notify  func()
}

// runChangedMsg tells the UI to take a new snapshot of the run log.
type runChangedMsg struct{}

// runSnapshot is what the run pane shows.
type runSnapshot struct {
	title string
	state runtime.State
	done  bool
	lines []string
}

// start resets the log for a new run and returns the sink for its events.
func (l *runLog) start(r builtins.RunStart, level runtime.Level) runtime.Sink {
	l.mu.Lock()
	l.title = fmt.Sprintf("%s · %s", r.Flow, shortID(r.RunID))
	l.state, l.done = runtime.Pending, false
	l.lines, l.partial = nil, nil
	l.mu.Unlock()
	printer := &output.LogPrinter{Out: l, Level: level, Graph: r.Graph}
	return runtime.SinkFunc(func(e runtime.Event) {
		printer.Emit(e)
		l.track(e)
	})
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func (l *runLog) track(e runtime.Event) {
	l.mu.Lock()
	switch e.Kind {
	case runtime.FlowStarted:
		l.state = runtime.Running
	case runtime.FlowFinished:
		l.state, l.done = e.State, true
	}
	l.mu.Unlock()
	l.changed()
}

// Write takes the log printer's output, whole lines at a time.
func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.partial = append(l.partial, p...)
	for {
		i := strings.IndexByte(string(l.partial), '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, paneLine(string(l.partial[:i])))
		l.partial = l.partial[i+1:]
	}
	if over := len(l.lines) - maxRunLines; over > 0 {
		l.lines = append(l.lines[:0:0], l.lines[over:]...)
	}
	l.mu.Unlock()
	l.changed()
	return len(p), nil
}

// changed posts one runChangedMsg until the UI takes a snapshot.
func (l *runLog) changed() {
	l.mu.Lock()
	post := !l.pending && l.notify != nil
	l.pending = true
	l.mu.Unlock()
	if post {
		l.notify()
	}
}

func (l *runLog) snapshot() runSnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = false
	return runSnapshot{title: l.title, state: l.state, done: l.done, lines: append([]string(nil), l.lines...)}
}

var stampRE = regexp.MustCompile(`^\[\d{4}-\d\d-\d\d (\d\d:\d\d:\d\d)[+-]\d{4}\] (\w+) - wfsh\.`)

// paneLine shortens a log line for the narrow pane: the time of day
// without the date, and no "wfsh." before the logger.
func paneLine(s string) string {
	return stampRE.ReplaceAllString(s, "$1 $2 ")
}
