package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// Fixed data: each page rendered with it is compared with its golden
// file (go test ./web/ -run TestPages -update rewrites them).
var (
	t0  = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	dev = &Session{Who: server.Whoami{ID: "a1b2c3d4e5f6", Role: "developer"}, CSRF: "CSRF-TOKEN"}
	adm = &Session{Who: server.Whoami{ID: "0f0f0f0f0f0f", Role: "admin"}, CSRF: "CSRF-TOKEN"}
	vwr = &Session{Who: server.Whoami{ID: "777777777777", Role: "viewer"}, CSRF: "CSRF-TOKEN"}
)

func page(title, nav string, s *Session) Page {
	return Page{Title: title, Nav: nav, Session: s, Now: t0}
}

func fixedRuns() []store.Run {
	srv := func(created time.Time, worker string) *store.ServerRun {
		return &store.ServerRun{Deployment: "dep1", Pool: "default", Bundle: strings.Repeat("ab", 32), Worker: worker, CreatedAt: created}
	}
	return []store.Run{
		{ID: "run-3", Flow: "ETL", Parameters: json.RawMessage(`{"full": true, "day": "2026-03-01"}`), State: runtime.Running,
			StartedAt: t0.Add(-90 * time.Second), Scheduled: &store.Scheduled{At: t0.Add(-2 * time.Minute), Late: true}, Server: srv(t0.Add(-time.Hour), "w1")},
		{ID: "run-2", Flow: "ETL", Parameters: json.RawMessage(`{}`), State: runtime.Failed, Message: "task load failed",
			StartedAt: t0.Add(-time.Hour), FinishedAt: t0.Add(-59 * time.Minute), Server: srv(t0.Add(-61*time.Minute), "w1")},
		{ID: "run-1", Flow: "<script>alert(1)</script>", Parameters: json.RawMessage(`{"x":"<img src=x onerror=alert(1)>"}`), State: runtime.Scheduled,
			Scheduled: &store.Scheduled{At: t0.Add(time.Hour)}, Server: srv(t0.Add(-2*time.Hour), "")},
	}
}

// fixedDAG is the graph of fixedRunPage's run.
func fixedDAG() []server.DAGNode {
	return []server.DAGNode{
		{Name: "n", Task: "n", Kind: "param"},
		{Name: "extract", Task: "extract", Kind: "task", Inputs: []string{"n"}},
		{Name: "square", Task: "square", Kind: "task", Mapped: true, Inputs: []string{"*extract"}},
		{Name: "<b>load</b>", Task: "load", Kind: "task", Inputs: []string{"square"}, Upstream: []string{"extract"}},
	}
}

func fixedRunPage(s *Session) *RunPage {
	dag := fixedDAG()
	trs := []store.TaskRun{
		{Name: "n", Task: "n", Kind: "param", MapIndex: -1, State: runtime.Success, FinishedAt: t0.Add(-80 * time.Second)},
		{Name: "extract", Task: "extract", Kind: "task", MapIndex: -1, State: runtime.Success, Attempts: 1, StartedAt: t0.Add(-80 * time.Second), FinishedAt: t0.Add(-70 * time.Second)},
		{Name: "square", Task: "square", Kind: "task", MapIndex: -1, State: runtime.Running, Attempts: 1, StartedAt: t0.Add(-70 * time.Second)},
		{Name: "square", Task: "square", Kind: "task", MapIndex: 0, State: runtime.Success, Attempts: 1, StartedAt: t0.Add(-70 * time.Second), FinishedAt: t0.Add(-60 * time.Second)},
		{Name: "square", Task: "square", Kind: "task", MapIndex: 1, State: runtime.Running, Attempts: 2, Message: "retrying: <oops>", StartedAt: t0.Add(-65 * time.Second)},
	}
	tasks := server.TaskList{From: t0.Add(-90 * time.Second), To: t0, Tasks: []store.TaskSummary{
		{Name: "n", Task: "n", Kind: "param", State: runtime.Success, FinishedAt: t0.Add(-80 * time.Second)},
		{Name: "extract", Task: "extract", Kind: "task", State: runtime.Success, StartedAt: t0.Add(-80 * time.Second), FinishedAt: t0.Add(-70 * time.Second)},
		{Name: "square", Task: "square", Kind: "task", State: runtime.Running, Runs: 2, Done: 1, StartedAt: t0.Add(-70 * time.Second)},
	}}
	p := &RunPage{Page: page("ETL run-3", "runs", s), Detail: server.RunDetail{Run: fixedRuns()[0]},
		Tasks:     server.TaskRunPage{TaskRuns: trs, Total: len(trs), Counts: map[string]int{"Success": 3, "Running": 2}, Next: "square[1]"},
		TaskNames: []string{"extract", "square"}, Timeline: timeline(tasks, 0, maxBars, "", ""), Mapped: tasks.Tasks[2:3]}
	p.Graph = draw(p.Detail.Run.Flow, dag, graphNodes(dag, tasks.Tasks))
	return p
}

// endedRunPage is the run of fixedRunPage, ended Failed.
func endedRunPage() *RunPage {
	p := fixedRunPage(dev)
	p.Detail.Run = fixedRuns()[1]
	return p
}

// resumedRunPage is a run that resumed run-2 and Succeeded: it shows
// where it came from, and is not resumed itself.
func resumedRunPage() *RunPage {
	p := endedRunPage()
	p.Detail.Run.ID, p.Detail.Run.State, p.Detail.Run.Message, p.Detail.Run.ResumedFrom = "run-4", runtime.Success, "", "run-2"
	return p
}

// childRunPage is a run made by run-2's run_deployment task run that
// made runs itself: it links to the one that made it, and lists those.
func childRunPage() *RunPage {
	p := fixedRunPage(dev)
	p.Detail.Run.Parent, p.Detail.Run.ParentTaskRun = "run-2", "run_deployment[3]"
	kids := fixedRuns()[1:3]
	for i := range kids {
		kids[i].Parent, kids[i].ParentTaskRun = p.Detail.Run.ID, "run_deployment"
	}
	p.Children = kids
	return p
}

// timelinePage is the task runs' fragment of fixedRunPage with a
// timeline of one bar a page, at its second: links before and after.
func timelinePage() *RunPage {
	p := fixedRunPage(dev)
	p.TaskFilter.Bars = "1"
	tasks := server.TaskList{From: p.Timeline.From, To: p.Timeline.To}
	for _, b := range p.Timeline.Bars {
		tasks.Tasks = append(tasks.Tasks, store.TaskSummary{Name: b.Name, Kind: "task", State: b.State, StartedAt: b.Start, FinishedAt: b.Stop})
	}
	p.Timeline = timeline(tasks, 1, 1, "", "")
	return p
}

func fixedDeployments() []server.DeploymentInfo {
	d := server.DeploymentInfo{Deployment: store.Deployment{ID: "dep1", Flow: "ETL", Name: "nightly", Pool: "default",
		Schedules:   json.RawMessage(`[{"kind":"cron","expr":"0 2 * * *","timezone":"Asia/Tokyo"},{"kind":"interval","expr":"6h","timezone":"UTC"},{"kind":"cron","expr":"*/15 * * * *","timezone":"UTC"}]`),
		ParamSchema: json.RawMessage(`[{"name":"full","default":false,"type":"boolean"},{"name":"n","default":3,"type":"integer"},{"name":"who"}]`),
		Parameters:  json.RawMessage(`{"n":5}`), CreatedAt: t0},
		Next: []time.Time{t0.Add(30 * time.Minute), t0.Add(45 * time.Minute), t0.Add(time.Hour)}}
	p := server.DeploymentInfo{Deployment: store.Deployment{ID: "dep2", Flow: "Report", Name: "weekly", Pool: "k8s", Paused: true,
		Schedules: json.RawMessage(`[{"kind":"cron","expr":"30 9 * * MON","timezone":"Europe/Berlin"}]`), CreatedAt: t0}, Next: []time.Time{}}
	return []server.DeploymentInfo{d, p}
}

// TestPages renders each page with fixed data against its golden file.
func TestPages(t *testing.T) {
	v := NewView()
	runs := fixedRuns()
	form := &RunFormPage{Page: page("Run ETL/nightly", "deployments", dev), Deployment: fixedDeployments()[0]}
	form.Fields = fields(&form.Deployment)
	bad := &RunFormPage{Page: form.Page, Deployment: form.Deployment, Fields: append([]Field(nil), form.Fields...)}
	bad.Fields[1].Value = "lots"
	bad.Error = fieldErrors(bad.Fields, "parameters: n: want integer (the type of its default), got string; who: required (it has no default)")
	cases := []struct {
		name, page, block string
		data              any
	}{
		{"login", "login", "", &LoginPage{Page: Page{Title: "Log in"}, Message: loginMessages["expired"], Next: "/runs"}},
		{"login_error", "login", "", &LoginPage{Page: Page{Title: "Log in"}, Error: "The token is unknown, expired or revoked."}},
		{"error", "error", "", &ErrorPage{Page: page("Forbidden", "", vwr), Status: 403, Message: "a viewer token may not do this"}},
		{"runs", "runs", "", &RunsPage{Page: page("Runs", "runs", dev), List: server.RunList{Runs: runs, Next: "run-1"},
			Deployments: map[string]string{"dep1": "ETL/nightly"}}},
		{"deployment", "deployment", "", &DeploymentPage{Page: page("ETL/nightly", "deployments", dev), Deployment: fixedDeployments()[0],
			Upcoming: runs[2:], Recent: runs[:2]}},
		{"deployment_viewer", "deployment", "", &DeploymentPage{Page: page("Report/weekly", "deployments", vwr), Deployment: fixedDeployments()[1]}},
		{"runs_filtered", "runs", "", &RunsPage{Page: page("Runs", "runs", vwr), Filter: RunsFilter{State: "Failed", Flow: "ETL", Tag: "etl", Range: "7d", After: "run-9",
			Since: "2026-11-01T10:00:00Z", Until: "2026-11-01T12:00:00Z"},
			List: server.RunList{Runs: runs[1:2]}}},
		{"runs_empty_error", "runs", "", &RunsPage{Page: page("Runs", "runs", dev), Filter: RunsFilter{State: "Nope"},
			List: server.RunList{Runs: []store.Run{}}, Error: `unknown state "Nope"`}},
		{"runs_parent", "runs", "", &RunsPage{Page: page("Runs", "runs", vwr), Filter: RunsFilter{Parent: "run-1"}, List: server.RunList{Runs: runs[1:3]}}},
		{"runs_fragment", "runs", "runs_table", &RunsPage{Page: page("Runs", "runs", dev), List: server.RunList{Runs: runs[:1]}}},
		{"run", "run", "", fixedRunPage(dev)},
		{"run_viewer", "run", "", fixedRunPage(vwr)},
		{"run_ended", "run", "", endedRunPage()},
		{"run_ended_viewer", "run", "", func() *RunPage { p := endedRunPage(); p.Session = vwr; return p }()},
		{"run_resumed", "run", "", resumedRunPage()},
		{"run_child", "run", "", childRunPage()},
		{"run_child_tasks", "run", "run_tasks", childRunPage()},
		{"run_timeline_page", "run", "run_tasks", timelinePage()},
		{"deployments", "deployments", "", &DeploymentsPage{Page: page("Deployments", "deployments", dev), Deployments: fixedDeployments()}},
		{"deployments_viewer", "deployments", "", &DeploymentsPage{Page: page("Deployments", "deployments", vwr), Deployments: fixedDeployments()}},
		{"runform", "runform", "", form},
		{"runform_errors", "runform", "", bad},
		{"pools", "pools", "", &PoolsPage{Page: page("Work pools", "pools", adm),
			Pools: []store.Pool{{Name: "default", Type: "process", CreatedAt: t0}, {Name: "k8s", Type: "kubernetes", Paused: true, Concurrency: 4, CreatedAt: t0}},
			Workers: []store.Worker{{ID: "w1", Pool: "default", Name: "host-1", Slots: 4, Running: 2, StartedAt: t0.Add(-time.Hour), HeartbeatAt: t0.Add(-7 * time.Second)},
				{ID: "w2", Pool: "default", Name: "host-2", Slots: 1, Draining: true, StartedAt: t0.Add(-time.Hour), HeartbeatAt: t0.Add(-40 * time.Second)}}}},
		{"secrets", "secrets", "", &SecretsPage{Page: page("Secrets", "secrets", adm),
			Secrets: []store.SecretInfo{{Name: "DB_PASSWORD", CreatedAt: t0.Add(-48 * time.Hour), UpdatedAt: t0}}}},
		{"secrets_developer", "secrets", "", &SecretsPage{Page: page("Secrets", "secrets", dev),
			Secrets: []store.SecretInfo{{Name: "DB_PASSWORD", CreatedAt: t0.Add(-48 * time.Hour), UpdatedAt: t0}}}},
		{"tokens", "tokens", "", &TokensPage{Page: page("Tokens", "tokens", adm),
			Tokens: []store.Token{{ID: "0f0f0f0f0f0f", Name: "admin (first start)", Role: "admin", CreatedAt: t0},
				{ID: "a1b2c3d4e5f6", Name: "ci", Role: "worker", Pool: "default", CreatedAt: t0, ExpiresAt: t0.Add(720 * time.Hour)},
				{ID: "999999999999", Name: "old", Role: "viewer", CreatedAt: t0, RevokedAt: t0.Add(time.Hour)}},
			New: &server.NewTokenReply{Token: "wfsh_" + strings.Repeat("a", 52), Info: store.Token{Name: "ci", Role: "worker"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := v.Render(&b, c.page, c.block, c.data); err != nil {
				t.Fatal(err)
			}
			golden.RequireEqual(t, b.String())
		})
	}
}

// TestEscaping: what flows and users wrote (flow and task names,
// parameters, messages) is text on every page, never markup.
func TestEscaping(t *testing.T) {
	v := NewView()
	var b bytes.Buffer
	v.Render(&b, "runs", "", &RunsPage{Page: page("Runs", "runs", dev), List: server.RunList{Runs: fixedRuns()}})
	v.Render(&b, "run", "", fixedRunPage(dev))
	// The same graph drawn by the server (past MaxBrowserNodes).
	p := fixedRunPage(dev)
	p.Graph.SVG, p.Graph.DOT = layered(p.Graph.Nodes, edges(fixedDAG())), ""
	v.Render(&b, "run", "", p)
	out := b.String()
	for _, raw := range []string{"<script>alert", "<img src=x", "<b>load</b>", "<oops>"} {
		if strings.Contains(out, raw) {
			t.Errorf("the pages hold %q unescaped", raw)
		}
	}
	for _, esc := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;load&lt;/b&gt;", "retrying: &lt;oops&gt;",
		`\"\u003cb\u003eload\u003c/b\u003e\"`} { // in the DOT, a JSON string in a script element that nothing runs
		if !strings.Contains(out, esc) {
			t.Errorf("the pages lack %q", esc)
		}
	}
}

// TestGraphNodes: a mapped task is one node counting its children; the
// states are its task runs'.
func TestGraphNodes(t *testing.T) {
	p := fixedRunPage(dev)
	got := []string{}
	for _, n := range p.Graph.Nodes {
		label := n.Name
		if n.Mapped {
			label += " " + progress(n.Done, n.Total)
		}
		got = append(got, label+"="+n.State.String())
	}
	want := "n=Success extract=Success square 1/2 done=Running <b>load</b>=Pending"
	if strings.Join(got, " ") != want {
		t.Errorf("nodes %q, want %q", strings.Join(got, " "), want)
	}
}

// TestScheduleWords: schedules as the deployments page says them.
func TestScheduleWords(t *testing.T) {
	got := scheduleWords(json.RawMessage(`[{"kind":"cron","expr":"0 2 * * *","timezone":"Asia/Tokyo"},{"kind":"cron","expr":"5 * * * *"},
		{"kind":"cron","expr":"30 9 * * MON"},{"kind":"cron","expr":"@daily"},{"kind":"interval","expr":"6h","start":"2020-11-30T00:00:00"},
		{"kind":"rrule","expr":"FREQ=WEEKLY;BYDAY=MO"},{"kind":"cron","expr":"0 0 1 * *"},{"kind":"cron","expr":"*/15 * * * *"}]`))
	want := []string{"every day at 02:00 (Asia/Tokyo)", "every hour at :05", "every Monday at 09:30", "every day at 00:00",
		"every 6h from 2020-11-30T00:00:00", "rule FREQ=WEEKLY;BYDAY=MO", "cron 0 0 1 * *", "every 15 minutes"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestTimelinePages: a timeline draws its task runs a page at a time,
// in the order they started, each page in the span of the whole run; a
// page past the last is the last.
func TestTimelinePages(t *testing.T) {
	l := server.TaskList{From: t0, To: t0.Add(450 * time.Second)}
	l.Tasks = append(l.Tasks, store.TaskSummary{Name: "p", Kind: "param"}, store.TaskSummary{Name: "waiting", Kind: "task"})
	for i := range 450 {
		l.Tasks = append(l.Tasks, store.TaskSummary{Name: fmt.Sprint("t", i), Kind: "task", State: runtime.Success,
			StartedAt: t0.Add(time.Duration(i) * time.Second), FinishedAt: t0.Add(time.Duration(i+1) * time.Second)})
	}
	for _, c := range []struct {
		first, wantFirst, bars, more int
		earlier, later               int
		rng                          string
	}{
		{0, 0, 200, 250, 0, 200, "1–200 of 450"},
		{200, 200, 200, 50, 0, 400, "201–400 of 450"},
		{300, 300, 150, 0, 100, 450, "301–450 of 450"},
		{9999, 400, 50, 0, 200, 450, "401–450 of 450"},
		{-5, 0, 200, 250, 0, 200, "1–200 of 450"},
	} {
		tl := timeline(l, c.first, 200, "", "")
		if tl.First != c.wantFirst || len(tl.Bars) != c.bars || tl.More != c.more || tl.Total != 450 || !tl.Paged() ||
			tl.Earlier() != c.earlier || tl.Later() != c.later || tl.Range() != c.rng {
			t.Errorf("tl=%d: first %d, %d bars, %d more, earlier %d, later %d, %q", c.first, tl.First, len(tl.Bars), tl.More, tl.Earlier(), tl.Later(), tl.Range())
			continue
		}
		b := tl.Bars[0]
		if b.Name != fmt.Sprint("t", c.wantFirst) || b.Y != 20 || b.X != round2(100*float64(c.wantFirst)/450) {
			t.Errorf("tl=%d: the first bar %+v", c.first, b)
		}
	}
	if tl := timeline(server.TaskList{}, 0, 200, "", ""); tl.Paged() || len(tl.Bars) != 0 || tl.First != 0 {
		t.Errorf("no task started: %+v", tl)
	}
}

// TestTimelineFilter: the timeline draws the tasks the task-run filter
// selects (by state, a mapped task by a failed child too; by name), in
// the span of the whole run.
func TestTimelineFilter(t *testing.T) {
	l := server.TaskList{From: t0, To: t0.Add(100 * time.Second)}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	l.Tasks = []store.TaskSummary{
		{Name: "a", Kind: "task", State: runtime.Success, StartedAt: at(0), FinishedAt: at(10)},
		{Name: "b", Kind: "task", State: runtime.Failed, StartedAt: at(10), FinishedAt: at(20)},
		{Name: "m", Kind: "task", State: runtime.Running, Runs: 10, Done: 4, Failed: 1, StartedAt: at(20)},
		{Name: "c", Kind: "task", State: runtime.Success, StartedAt: at(50), FinishedAt: at(60)},
		{Name: "p", Kind: "task", State: runtime.Failed}, // never started
	}
	names := func(tl Timeline) string {
		var n []string
		for _, b := range tl.Bars {
			n = append(n, b.Name)
		}
		return strings.Join(n, ",")
	}
	for _, c := range []struct{ state, task, want string }{
		{"", "", "a,b,m,c"},
		{"Failed", "", "b,m"},
		{"Success", "", "a,c"},
		{"Running", "", "m"},
		{"", "c", "c"},
		{"Failed", "a", ""},
	} {
		tl := timeline(l, 0, 200, c.state, c.task)
		if got := names(tl); got != c.want || tl.Total != len(tl.Bars) || tl.Filtered != (c.state != "" || c.task != "") {
			t.Errorf("state %q task %q: bars %q (total %d, filtered %v), want %q", c.state, c.task, got, tl.Total, tl.Filtered, c.want)
		}
	}
	if tl := timeline(l, 0, 200, "", "c"); tl.Bars[0].X != 50 {
		t.Errorf("c's bar at %v%%, want 50%% (the span of the whole run)", tl.Bars[0].X)
	}
}

// TestSummary: a graph drawn by layers counts each layer's tasks and
// shows its state: Failed if one failed, Running once one started,
// Success when all are final.
func TestSummary(t *testing.T) {
	dag := []server.DAGNode{{Name: "a"}, {Name: "b"}, {Name: "c", Inputs: []string{"a"}}, {Name: "d", Inputs: []string{"b"}},
		{Name: "e", Inputs: []string{"c", "d"}}, {Name: "f", Inputs: []string{"e"}}}
	tasks := []store.TaskSummary{{Name: "a", State: runtime.Success}, {Name: "b", State: runtime.Success},
		{Name: "c", State: runtime.Success}, {Name: "d", State: runtime.Failed}, {Name: "e", State: runtime.Running}}
	svg := string(summary(graphNodes(dag, tasks), edges(dag)))
	for _, want := range []string{
		`<g id="L0" class="gnode st-Success"><title>layer 0: 2 tasks</title>`, `>2/2 done</text>`,
		`<g id="L1" class="gnode st-Failed">`, `<g id="L2" class="gnode st-Running">`, `>0/1 done</text>`,
		`<g id="L3" class="gnode st-Pending">`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the summary lacks %s:\n%s", want, svg)
		}
	}
	if strings.Count(svg, "<g ") != 4 {
		t.Errorf("want 4 layers:\n%s", svg)
	}
}

// TestPageDOT: the DOT a run's page lays out is `wfsh graph`'s, each
// node with the SVG id of its index and the class of its state, a mapped
// one with its progress, names that hold markup quoted as text.
func TestPageDOT(t *testing.T) {
	p := fixedRunPage(dev)
	src := p.Graph.DOT
	for _, want := range []string{
		`"n" [label="n", shape=ellipse, id="n0", class="gnode st-Success"];`,
		`"square" [label="square\n[mapped]\n1/2 done", peripheries=2, id="n2", class="gnode st-Running"];`,
		`"<b>load</b>" [label="<b>load</b>", id="n3", class="gnode st-Pending", style="bold"];`,
		`"extract" -> "square" [label="map", style=bold];`, `"extract" -> "<b>load</b>" [style=dashed];`,
		`bgcolor="transparent", rankdir=LR`,
	} {
		if !strings.Contains(src, want) {
			t.Errorf("the page's DOT lacks %s:\n%s", want, src)
		}
	}
	if strings.Contains(src, "fillcolor") || p.Graph.SVG != "" {
		t.Errorf("the page colours the nodes itself: no fill, no server drawing:\n%s", src)
	}
	dag := []server.DAGNode{{Name: "a", Kind: "param"}, {Name: "b", Kind: "flow", Inputs: []string{"a"}}, {Name: "c", Guards: []string{"b == 1"}}}
	got := string(runDOT("F", dag, graphNodes(dag, []store.TaskSummary{{Name: "b", State: runtime.Failed}})))
	for _, want := range []string{`"b" [label="b\n[subflow]\nFailed", shape=component, fillcolor="#e05252"`, `"b" -> "c" [style=dotted, label="== 1"];`} {
		if !strings.Contains(got, want) {
			t.Errorf("graph.dot lacks %s:\n%s", want, got)
		}
	}
}
