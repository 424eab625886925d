//go:build !wfshlight

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
	"github.com/wfsh/wfsh/tui"
)

// upcomingTimes is how many next times the view lists per schedule.
const upcomingTimes = 3

// serveView is the live view of `wfsh serve --tui` (tui.ServeApp) as the
// scheduler sees it: it hands the view each run's events and its own
// lines, and counts how the runs ended for the line printed afterwards.
// Its methods do nothing on a nil *serveView (no --tui).
type serveView struct {
	p      *tea.Program
	cancel context.CancelFunc // stops serving
	done   chan struct{}      // closed when the program has ended
	err    error              // the program's, once done is closed
	killed sync.Once

	mu     sync.Mutex
	states map[runtime.State]int
	runs   int
}

// serveTTY is the terminal of --tui: nil without --tui, and nil (after a
// note on standard error) when standard output is not a terminal, where
// serve prints log lines as without --tui.
func serveTTY(cmd *cobra.Command, f *serveFlags) (*os.File, error) {
	if !f.tui {
		return nil, nil
	}
	out, ok := cmd.OutOrStdout().(*os.File)
	if !ok || !term.IsTerminal(out.Fd()) {
		fmt.Fprintln(cmd.ErrOrStderr(), "wfsh serve: --tui: standard output is not a terminal; printing log lines instead")
		return nil, nil
	}
	return out, nil
}

// newServeView makes the view of jobs on tty; start shows it.
func newServeView(tty *os.File, jobs []*scheduled, r *runner.Runner) *serveView {
	v := &serveView{done: make(chan struct{}), states: map[runtime.State]int{}}
	app := tui.NewServe(tui.ServeOptions{
		Upcoming: func(now time.Time) []tui.Upcoming { return upcoming(jobs, now) },
		Stop:     func() { v.cancel() },
		// Called in the program's own loop: exit from another goroutine.
		Kill: func() { go func() { v.kill(); r.Close(); os.Exit(exitInterrupted) }() },
	})
	v.p = tea.NewProgram(app, tea.WithOutput(tty), tea.WithoutSignalHandler())
	return v
}

// start shows the view and returns the context serving runs under:
// cancelled by Ctrl+C in the view as by SIGINT, and when the view ends by
// itself (a terminal that fails), as nothing would show the runs.
func (v *serveView) start(ctx context.Context) context.Context {
	ctx, v.cancel = context.WithCancel(ctx)
	go func() {
		_, v.err = v.p.Run()
		close(v.done)
		v.cancel()
	}()
	return ctx
}

// upcoming is each schedule's next times after now, in its zone.
func upcoming(jobs []*scheduled, now time.Time) []tui.Upcoming {
	out := make([]tui.Upcoming, 0, len(jobs))
	for _, j := range jobs {
		u := tui.Upcoming{Flow: j.fl.Flow.Name(), Schedule: j.s.String()}
		for t := now; len(u.Times) < upcomingTimes; {
			if t = j.s.Next(t); t.IsZero() {
				break
			}
			u.Times = append(u.Times, t.In(j.s.Location()))
		}
		out = append(out, u)
	}
	return out
}

// line shows a line of the scheduler's.
func (v *serveView) line(s string) { v.p.Send(tui.SchedulerLine(strings.TrimSuffix(s, "\n"))) }

// run shows a run that begins and returns the sink of its events.
func (v *serveView) run(run *runner.Run, flow string, s *store.Scheduled) runtime.Sink {
	feed := tui.NewFeed(0)
	pane := tui.New(tui.Options{Graph: run.Graph(), Feed: feed, Flow: flow, RunID: run.ID})
	v.p.Send(tui.RunStarted{Pane: pane, Scheduled: s.At, Late: s.Late})
	return feed
}

// ended closes a run's feed and counts its final state.
func (v *serveView) ended(sink runtime.Sink, st runtime.State) {
	if v == nil {
		return
	}
	if f, ok := sink.(*tui.Feed); ok {
		f.Close()
	}
	v.mu.Lock()
	v.states[st]++
	v.runs++
	v.mu.Unlock()
}

// kill ends the view at once and gives the terminal back.
func (v *serveView) kill() {
	if v == nil {
		return
	}
	v.killed.Do(func() {
		v.p.Kill()
		<-v.done
	})
}

// stop ends the view once serving has stopped and prints one line on how
// the runs of this process ended. A view that failed is an error.
func (v *serveView) stop(out, stderr io.Writer, interrupted bool) error {
	if v == nil {
		return nil
	}
	v.p.Send(tui.ServeStopped{})
	<-v.done
	fmt.Fprintln(out, v.summary(interrupted))
	if v.err != nil && !errors.Is(v.err, tea.ErrProgramKilled) {
		fmt.Fprintf(stderr, "wfsh serve: --tui: %v\n", v.err)
		return &exitError{code: exitFailed}
	}
	return nil
}

// summary is "wfsh serve: interrupted; 3 runs: 2 Success, 1 Cancelled".
func (v *serveView) summary(interrupted bool) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	how := "every schedule has ended"
	if interrupted {
		how = "interrupted"
	}
	s := fmt.Sprintf("wfsh serve: %s; %d runs", how, v.runs)
	sep := ": "
	for st := runtime.Pending; st <= runtime.Crashed; st++ {
		if n := v.states[st]; n > 0 {
			s += fmt.Sprintf("%s%d %s", sep, n, st)
			sep = ", "
		}
	}
	return s
}
