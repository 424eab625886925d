package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/runtime/runtimetest"
)

// hookLog records every hook call as "on_kind run State".
type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *hookLog) hook(on runtime.HookOn, err error) runtime.Hook {
	return runtime.Hook{On: on, Name: "h", Fn: func(_ context.Context, h *runtime.HookCall) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		run := h.Call.TaskRun
		if run == "" {
			run = "<flow>"
		}
		l.calls = append(l.calls, fmt.Sprintf("%s %s %s", on, run, h.State))
		return err
	}}
}

func (l *hookLog) all(err error) []runtime.Hook {
	var hs []runtime.Hook
	for _, on := range []runtime.HookOn{runtime.OnSuccess, runtime.OnFailure, runtime.OnCompletion, runtime.OnRetry, runtime.OnCancellation} {
		hs = append(hs, l.hook(on, err))
	}
	return hs
}

func (l *hookLog) sorted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.calls)
	sort.Strings(out)
	return out
}

func TestHooksFireOncePerState(t *testing.T) {
	b := newBuilder()
	l := &hookLog{}
	ok := b.task("ok", constant(1))
	attempts := 0
	flaky := b.task("flaky", func([]any) (any, error) {
		if attempts++; attempts < 3 {
			return nil, errors.New("not yet")
		}
		return 2, nil
	})
	flaky.Retries = 2
	bad := b.task("bad", failing("boom"))
	bad.Retries = 1
	down := b.task("down", constant(1), bad.ID)
	skipped := b.task("skipped", func([]any) (any, error) { return nil, &runtime.Signal{State: runtime.Skipped, Msg: "no"} })
	list := b.task("list", constant([]any{1, 2}))
	mapped := b.task("each", func(in []any) (any, error) { return in[0], nil })
	mapped.Inputs, mapped.Mapped = []runtime.Input{{From: list.ID, Map: true}}, true
	for _, n := range []*runtime.Node{ok, flaky, bad, down, skipped, mapped} {
		n.Hooks = l.all(nil)
	}
	b.g.Hooks = l.all(nil)
	res, _ := run(t, b.g, runtime.Options{})
	if res.State != runtime.Failed {
		t.Fatalf("flow %s", res.State)
	}
	want := []string{
		"on_completion <flow> Failed", "on_failure <flow> Failed",
		"on_completion bad Failed", "on_failure bad Failed", "on_retry bad Retrying",
		"on_completion down TriggerFailed", "on_failure down TriggerFailed",
		"on_completion each[0] Success", "on_completion each[1] Success",
		"on_success each[0] Success", "on_success each[1] Success",
		"on_completion flaky Success", "on_retry flaky Retrying", "on_retry flaky Retrying", "on_success flaky Success",
		"on_completion ok Success", "on_success ok Success",
		"on_completion skipped Skipped",
	}
	sort.Strings(want)
	if got := l.sorted(); !slices.Equal(got, want) {
		t.Errorf("hook calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFailingHookChangesNothing(t *testing.T) {
	for _, fail := range []string{"error", "panic"} {
		t.Run(fail, func(t *testing.T) {
			b := newBuilder()
			ok := b.task("ok", constant(7))
			bad := b.task("bad", failing("boom"))
			b.g.Reference = []runtime.NodeID{ok.ID}
			hook := runtime.Hook{On: runtime.OnCompletion, Name: "alert", Fn: func(context.Context, *runtime.HookCall) error {
				if fail == "panic" {
					panic("hook blew up")
				}
				return errors.New("flows/x.star:3:5: smtp refused")
			}}
			ok.Hooks, bad.Hooks, b.g.Hooks = []runtime.Hook{hook}, []runtime.Hook{hook}, []runtime.Hook{hook}
			res, rec := run(t, b.g, runtime.Options{})
			wantState(t, res, ok.ID, runtime.Success)
			wantState(t, res, bad.ID, runtime.Failed)
			if res.State != runtime.Success || res.Tasks[ok.ID].Value != 7 || res.Tasks[bad.ID].Msg != "boom" {
				t.Errorf("flow %s, ok %v, bad %q", res.State, res.Tasks[ok.ID].Value, res.Tasks[bad.ID].Msg)
			}
			if got := rec.States("ok"); !slices.Equal(got, []runtime.State{runtime.Running, runtime.Success}) {
				t.Errorf("states of ok: %v", got)
			}
			wantMsg := "smtp refused"
			if fail == "panic" {
				wantMsg = "hook panicked: hook blew up"
			}
			errs := 0
			for _, e := range rec.Events() {
				if e.Kind == runtime.TaskLog && e.Level == runtime.Error {
					errs++
					if !strings.Contains(e.Msg, "on_completion hook alert failed") || !strings.Contains(e.Msg, wantMsg) {
						t.Errorf("error line %q", e.Msg)
					}
				}
			}
			if errs != 3 { // ok's, bad's and the flow's
				t.Errorf("%d error lines, want 3", errs)
			}
			if last := rec.Events()[len(rec.Events())-1]; last.Kind != runtime.FlowFinished || last.State != runtime.Success {
				t.Errorf("last event %s %s", last.Kind, last.State)
			}
		})
	}
}

// TestHooksOrder: what follows a state follows its hooks: the runs
// waiting for a task run start after its hooks have returned, a retry
// after its on_retry hooks, the flow's hooks after every task's.
func TestHooksOrder(t *testing.T) {
	b := newBuilder()
	var order []string
	var mu sync.Mutex
	record := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	attempts := 0
	a := b.task("a", func([]any) (any, error) {
		attempts++
		record(fmt.Sprint("a attempt ", attempts))
		if attempts == 1 {
			return nil, errors.New("once")
		}
		return 1, nil
	})
	a.Retries = 1
	down := b.task("down", func([]any) (any, error) { record("down"); return 2, nil }, a.ID)
	note := func(on runtime.HookOn, s string) runtime.Hook {
		return runtime.Hook{On: on, Name: s, Fn: func(_ context.Context, h *runtime.HookCall) error {
			time.Sleep(20 * time.Millisecond) // slow hooks still come first
			record(s)
			h.Call.Log(runtime.Info, "said "+s)
			return nil
		}}
	}
	a.Hooks = []runtime.Hook{note(runtime.OnRetry, "retry"), note(runtime.OnSuccess, "task")}
	down.Hooks = []runtime.Hook{note(runtime.OnSuccess, "down hook")}
	b.g.Hooks = []runtime.Hook{note(runtime.OnSuccess, "flow")}
	_, rec := run(t, b.g, runtime.Options{Concurrency: 4})
	want := []string{"a attempt 1", "retry", "a attempt 2", "task", "down", "down hook", "flow"}
	if !slices.Equal(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
	if got := rec.Logs("a"); !slices.Equal(got, []string{"Running on_retry hook retry for state Retrying", "said retry",
		"Running on_success hook task for state Success", "said task"}) {
		t.Errorf("a's log: %q", got)
	}
	var flowLines []string
	for _, e := range rec.Events() {
		if e.Kind == runtime.TaskLog && e.Node == runtime.NoNode {
			flowLines = append(flowLines, e.Msg)
		}
	}
	if !slices.Equal(flowLines, []string{"Running on_success hook flow for state Success", "said flow"}) {
		t.Errorf("flow's log: %q", flowLines)
	}
}

func TestCancelledRunCallsCancellationHooks(t *testing.T) {
	b := newBuilder()
	l := &hookLog{}
	started := make(chan struct{})
	slow := b.task("slow", constant(nil))
	slow.Body = runtimeBody(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	slow.Hooks = l.all(nil)
	b.g.Hooks = l.all(nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	var hookCtxErr error
	b.g.Hooks = append(b.g.Hooks, runtime.Hook{On: runtime.OnCancellation, Name: "ctx", Fn: func(ctx context.Context, _ *runtime.HookCall) error {
		hookCtxErr = ctx.Err()
		return nil
	}})
	res := runtime.Run(ctx, b.g, runtime.Options{RunID: "r"})
	if res.State != runtime.Cancelled {
		t.Fatalf("flow %s", res.State)
	}
	want := []string{"on_cancellation <flow> Cancelled", "on_cancellation slow Cancelled",
		"on_completion <flow> Cancelled", "on_completion slow Cancelled"}
	if got := l.sorted(); !slices.Equal(got, want) {
		t.Errorf("hook calls %q, want %q", got, want)
	}
	if hookCtxErr != nil {
		t.Errorf("a cancelled run's hook got a done context: %v", hookCtxErr)
	}
}

type runtimeBody func(ctx context.Context) error

func (f runtimeBody) Run(ctx context.Context, _ *runtime.Call) (runtime.Value, error) {
	return nil, f(ctx)
}

func TestHookTimeout(t *testing.T) {
	b := newBuilder()
	a := b.task("a", constant(1))
	a.Hooks = []runtime.Hook{{On: runtime.OnSuccess, Name: "stuck", Fn: func(ctx context.Context, _ *runtime.HookCall) error {
		<-ctx.Done()
		return ctx.Err()
	}}}
	start := time.Now()
	res, rec := run(t, b.g, runtime.Options{HookTimeout: 50 * time.Millisecond})
	if res.State != runtime.Success || time.Since(start) > 5*time.Second {
		t.Fatalf("flow %s after %s", res.State, time.Since(start))
	}
	if logs := rec.Logs("a"); len(logs) != 2 || !strings.Contains(logs[1], "context deadline exceeded") {
		t.Errorf("a's log %q", logs)
	}
}

// TestAbandonedWhileHooksRun: a run cancelled while a task run's hook
// outlasts the cancel grace ends with no run left Pending: what waited
// for that task run ends Cancelled.
func TestAbandonedWhileHooksRun(t *testing.T) {
	b := newBuilder()
	a := b.task("a", constant(1))
	down := b.task("down", constant(2), a.ID)
	inHook := make(chan struct{})
	a.Hooks = []runtime.Hook{{On: runtime.OnSuccess, Name: "slow", Fn: func(ctx context.Context, _ *runtime.HookCall) error {
		close(inHook)
		<-ctx.Done()
		return ctx.Err()
	}}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-inHook; cancel() }()
	rec := &runtimetest.Recorder{}
	res := runtime.Run(ctx, b.g, runtime.Options{RunID: "r", Sink: rec, CancelGrace: 50 * time.Millisecond, HookTimeout: 300 * time.Millisecond})
	if res.State != runtime.Cancelled {
		t.Errorf("flow %s", res.State)
	}
	wantState(t, res, a.ID, runtime.Success)
	wantState(t, res, down.ID, runtime.Cancelled)
	if got := rec.States("down"); !slices.Equal(got, []runtime.State{runtime.Cancelled}) {
		t.Errorf("states of down: %v", got)
	}
}
