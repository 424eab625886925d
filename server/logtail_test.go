package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// TestRunEventsTail: GET /runs/{id}/events?tail=N of a run written in
// many chunks gives exactly the last N of the events GET /runs/{id}/logs
// gives (with a task filter, that task's; all of them when N is larger),
// then "replayed" saying whether earlier ones were left out, then "end".
func TestRunEventsTail(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	dev, worker := ts.token(t, string(auth.Developer)), ts.token(t, string(auth.Worker))
	ts.deploy(t, dev, DeploymentSpec{})
	var run store.Run
	if err := dev.Do(ctx, "POST", "/deployments/F/nightly/runs", RunRequest{}, &run); err != nil {
		t.Fatal(err)
	}
	var claimed []Claimed
	if err := worker.Do(ctx, "POST", "/pools/default/claim", ClaimRequest{Worker: WorkerInfo{ID: "w1", Slots: 1}, Max: 1}, &claimed); err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	var writes atomic.Int32
	var sent atomic.Int64 // the last event's seq written
	rec := store.NewRemoteRecorder(store.RecorderOptions{Run: store.RunInfo{ID: run.ID}, FlushEvery: time.Millisecond,
		Send: func(ctx context.Context, w *store.Write) error {
			err := worker.Do(ctx, "POST", "/runs/"+run.ID+"/writes", WriteRequest{Worker: "w1", Write: *w}, nil)
			writes.Add(1)
			if w.Chunk != nil {
				sent.Store(w.Chunk.Seq)
			}
			return err
		}})
	seq := uint64(0)
	emit := func(e runtime.Event) {
		seq++
		e.Seq, e.Time, e.Node, e.MapIndex = seq, time.Now(), runtime.NoNode, -1
		rec.Emit(e)
		if seq%25 == 0 {
			// A write every 25 events: each batch waited for, whatever
			// the load (sleeping a while was not enough under -race).
			for deadline := time.Now().Add(10 * time.Second); sent.Load() < int64(seq) && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		}
	}
	emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "F"})
	for i := range 100 {
		name := fmt.Sprintf("t%d", i)
		emit(runtime.Event{Kind: runtime.TaskState, TaskRun: name, Attempt: 1, State: runtime.Running})
		emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: name, Level: runtime.Info, Msg: "line of " + name})
		emit(runtime.Event{Kind: runtime.TaskState, TaskRun: name, Attempt: 1, State: runtime.Success})
	}
	emit(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Success})
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n < 10 {
		t.Fatalf("%d writes: want many chunks", n)
	}
	for _, c := range []struct {
		task string
		tail int
	}{{"", 25}, {"", 1}, {"t7", 3}, {"t7", 2}, {"", 1000}, {"t7", 50}, {"", 0}} {
		var whole LogPage
		if err := dev.Do(ctx, "GET", Query("/runs/"+run.ID+"/logs", "task", c.task), nil, &whole); err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for _, e := range whole.Events {
			want = append(want, e.Seq)
		}
		earlier := c.tail > 0 && c.tail < len(want)
		if earlier {
			want = want[len(want)-c.tail:]
		}
		var got []uint64
		var events []string
		var replayed Replayed
		err := dev.Stream(ctx, Query("/runs/"+run.ID+"/events", "task", c.task, "tail", fmt.Sprint(c.tail)), func(event string, data []byte) error {
			events = append(events, event)
			switch event {
			case "event":
				var e Event
				if err := json.Unmarshal(data, &e); err != nil {
					return err
				}
				got = append(got, e.Seq)
			case "replayed":
				return json.Unmarshal(data, &replayed)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(events); !reflect.DeepEqual(got, want) || replayed.Earlier != earlier || n < 2 || events[n-2] != "replayed" || events[n-1] != "end" {
			t.Errorf("tail=%d task=%q: events %v, earlier %v (%v)\nwant %v, earlier %v", c.tail, c.task, got, replayed.Earlier, events[max(0, len(events)-2):], want, earlier)
		}
		// A page of earlier events (the UI's "Load earlier lines"): the
		// last tail of those before the first of want, as the whole log
		// has them.
		if len(want) == 0 {
			continue
		}
		var all []uint64
		for _, e := range whole.Events {
			if e.Seq < want[0] {
				all = append(all, e.Seq)
			}
		}
		wantPage, wantEarlier := all, false
		if c.tail > 0 && c.tail < len(all) {
			wantPage, wantEarlier = all[len(all)-c.tail:], true
		}
		var page LogPage
		if err := dev.Do(ctx, "GET", Query("/runs/"+run.ID+"/logs", "task", c.task, "before_seq", fmt.Sprint(want[0]), "limit", fmt.Sprint(c.tail)), nil, &page); err != nil {
			t.Fatal(err)
		}
		var gotPage []uint64
		for _, e := range page.Events {
			gotPage = append(gotPage, e.Seq)
		}
		if len(gotPage) != len(wantPage) || len(wantPage) > 0 && !reflect.DeepEqual(gotPage, wantPage) || page.Earlier != wantEarlier || page.State != runtime.Success {
			t.Errorf("before_seq=%d limit=%d task=%q: %v, earlier %v, %v\nwant %v, earlier %v", want[0], c.tail, c.task, gotPage, page.Earlier, page.State, wantPage, wantEarlier)
		}
	}
}

// TestRunLogText: GET /runs/{id}/log.txt is the run's log as wfsh logs
// prints it, as text that no browser takes for a page; task keeps that
// task's lines and the flow's.
func TestRunLogText(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	run, rc := ts.runToken(t)
	now := time.Now()
	rec := store.NewRemoteRecorder(store.RecorderOptions{Run: store.RunInfo{ID: run.ID}, FlushEvery: time.Millisecond,
		Send: func(ctx context.Context, w *store.Write) error {
			return rc.Do(ctx, "POST", "/runs/"+run.ID+"/writes", WriteRequest{Worker: "w2", Write: *w}, nil)
		}})
	for i, e := range []runtime.Event{
		{Kind: runtime.FlowStarted, Msg: "F"},
		{Kind: runtime.TaskState, TaskRun: "a", State: runtime.Running, Attempt: 1},
		{Kind: runtime.TaskLog, TaskRun: "a", Level: runtime.Info, Msg: "<script>alert(1)</script> from a"},
		{Kind: runtime.TaskState, TaskRun: "a", State: runtime.Success, Attempt: 1},
		{Kind: runtime.TaskLog, TaskRun: "b", Level: runtime.Warning, Msg: "from b"},
		{Kind: runtime.FlowFinished, State: runtime.Success},
	} {
		e.Seq, e.Time, e.Node, e.MapIndex = uint64(i+1), now, runtime.NoNode, -1
		rec.Emit(e)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	get := func(query string) (*http.Response, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.http.URL+"/api/v1/runs/"+run.ID+"/log.txt"+query, nil)
		req.Header.Set("Authorization", "Bearer "+ts.admin.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, all := get("")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("log.txt: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{"INFO - wfsh.FlowRunner | Beginning Flow run for 'F'", "Task 'a': Starting task run...",
		"INFO - wfsh.a | <script>alert(1)</script> from a", "WARNING - wfsh.b | from b", "Task 'a': Finished task run for task with final state: 'Success'", "Flow run SUCCESS"} {
		if !strings.Contains(all, want) {
			t.Errorf("log.txt lacks %q:\n%s", want, all)
		}
	}
	if _, only := get("?task=a"); strings.Contains(only, "from b") || !strings.Contains(only, "from a") || !strings.Contains(only, "Beginning Flow run") {
		t.Errorf("log.txt?task=a:\n%s", only)
	}
	if _, warn := get("?level=warning"); strings.Contains(warn, "from a") || !strings.Contains(warn, "from b") {
		t.Errorf("log.txt?level=warning:\n%s", warn)
	}
	if resp, _ := get("?level=loud"); resp.StatusCode != 422 {
		t.Errorf("log.txt?level=loud: %d, want 422", resp.StatusCode)
	}
}
