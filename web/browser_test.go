package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// RequireBrowserEnv makes the browser test fail, rather than skip, when
// Chromium is not installed (`make test` sets it; `make setup` installs
// Debian's chromium).
const RequireBrowserEnv = "WFSH_REQUIRE_BROWSER"

// chromium is the browser's path, or the test skips (fails under
// WFSH_REQUIRE_BROWSER=1).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(RequireBrowserEnv) == "1" {
		t.Fatal("no chromium on PATH: run `make setup` (Debian package chromium)")
	}
	t.Skip("no chromium on PATH (make setup installs it)")
	return ""
}

// browse starts a headless Chromium with a fresh profile that reaches
// nothing but 127.0.0.1.
func browse(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs an action that gives a value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// logIn logs the browser in with token on the login page, then waits for
// the runs page with htmx at work on it. The table shows before the
// deferred scripts have run, and a click then submits a form as a page of
// its own, not through htmx (a loaded make test did so, and TestBrowserBack
// lost its page's mark); htmx takes the page over at DOMContentLoaded,
// before the document is complete.
func logIn(t *testing.T, ctx context.Context, f *fixture, token string) {
	t.Helper()
	run(t, ctx, "log in", chromedp.Navigate(f.http.URL+"/login"), chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	waitJS(t, ctx, "htmx at work", `document.readyState === "complete" && !!window.htmx`)
}

// waitJS waits until the expression is true in the page.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	waitJSWithin(t, ctx, 10*time.Second, what, expr)
}

// clickNow clicks the element of id as the page has it at that moment:
// a header's button may be swapped for a new copy by the page's refresh
// between chromedp's finding a node and its click ("Could not find node
// with given id"), which a click in the page cannot miss.
func clickNow(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	waitJS(t, ctx, "#"+id+" in the page", `!!document.getElementById("`+id+`")`)
	run(t, ctx, "click #"+id, chromedp.Evaluate[chromedp.Void](`document.getElementById("`+id+`").click()`))
}

// chooseNow sets the select matched by sel to value and clicks the button
// matched by button, in one script, as the page has them at that moment:
// clickNow's reason, for a form in a part the page refreshes (a running
// run's task runs).
func chooseNow(t *testing.T, ctx context.Context, sel, value, button string) {
	t.Helper()
	s, b := strconv.Quote(sel), strconv.Quote(button)
	waitJS(t, ctx, sel+" and "+button+" in the page", `!!document.querySelector(`+s+`) && !!document.querySelector(`+b+`)`)
	run(t, ctx, "choose "+value+" in "+sel, chromedp.Evaluate[chromedp.Void](`document.querySelector(`+s+`).value = `+strconv.Quote(value)+`;
		document.querySelector(`+b+`).click()`))
}

// waitJSWithin waits up to d until the expression is true in the page.
func waitJSWithin(t *testing.T, ctx context.Context, d time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s: still not true after %v: %s\n%s", what, d, expr, html)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowser: in a real Chromium against a real server: log in with a
// token, see the runs, open a run whose graph and log change live while
// its worker reports, reach the main actions by keyboard, refuse a bad
// parameter at its field and start a good run from the form.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	f := newFixture(t)
	f.deploy(t)
	dev := f.token(t, "developer")
	r := f.runOf(t, `{"who":"<img src=x onerror=alert(1)>"}`)
	g := &runtime.Graph{Flow: "F"}
	a := g.Add(&runtime.Node{Name: "extract", Task: "extract", Kind: runtime.TaskNode})
	const hostile = `load<img src=x onerror="window.pwned=1">`
	g.Add(&runtime.Node{Name: hostile, Task: "load", Kind: runtime.TaskNode, Inputs: []runtime.Input{{From: a}}})
	w := f.claim(t, g)
	w.emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "F", Node: runtime.NoNode, MapIndex: -1})
	waitDAG(t, f, r.ID)
	// History for the chart: 100 runs made two hours ago, one in ten Failed.
	dep, err := f.st.GetDeployment(context.Background(), "F/nightly")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.FillRuns(context.Background(), &dep, 100, time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	ctx := browse(t)

	// Login: the runs page sends the browser to the login page.
	run(t, ctx, "open the runs page", chromedp.Navigate(f.http.URL+"/runs"), chromedp.WaitVisible(chromedp.ID("token")))
	loc := value(t, ctx, "location", chromedp.Location())
	run(t, ctx, "log in",
		chromedp.SendKeys(chromedp.ID("token"), dev.Token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS("table.runs")))
	if !strings.Contains(loc, "/login?") {
		t.Errorf("the runs page without a session went to %s, not the login page", loc)
	}
	waitJS(t, ctx, "the run in the runs table", `!!document.querySelector('a[href="/runs/`+r.ID+`"]')`)
	waitJS(t, ctx, "the chart of the last 24 hours drawn by uPlot on a canvas: 90 Success and 10 Failed made two hours ago, the run Running",
		chartTotals+` === "✗ Failed 10|✓ Success 90|▶ Running 1" && !!document.querySelector("#runs-chart canvas") &&
		document.getElementById("runs-chart").plot.data[1].some(v => v > 0)`)
	if loaded := value(t, ctx, "resources", chromedp.Evaluate[bool](graphvizLoaded)); loaded {
		t.Errorf("the runs page loaded Graphviz's module")
	}
	// Over a bar, the legend gives its counts: the bar two hours ago.
	run(t, ctx, "hover the bar of two hours ago", chromedp.Evaluate[chromedp.Void](`(u => u.setCursor({left: u.valToPos(Date.now() / 1000 - 7200, "x"), top: 10}))(document.getElementById("runs-chart").plot)`))
	waitJS(t, ctx, "the hovered bar's counts (its 100 runs made a second apart may straddle two bars)", `(v => v.length === 3 && v[2] === "▶ Running 0" &&
		+v[1].split(" ").pop() > 0 && +v[0].split(" ").pop() + +v[1].split(" ").pop() <= 100)(`+chartTotals+`.split("|"))`)
	shoot(t, ctx, "runs")
	// A drag across the chart over the last three hours to the last one
	// lists the runs made then: since and until in the URL.
	drag(t, ctx, "#runs-chart .u-over", 3*3600, 3600)
	waitJS(t, ctx, "the selection in the URL, the table and the chart", `(q => q.has("since") && q.has("until") && !q.has("range"))(new URLSearchParams(location.search)) &&
		!!document.querySelector('a[href^="/runs/fill-"]') && !document.querySelector('a[href="/runs/`+r.ID+`"]') &&
		document.getElementById("runs-time").textContent.includes("the chart's selection") && `+chartTotals+` === "✗ Failed 10|✓ Success 90"`)
	// A selection made by the script (the drag's hook) in the last hour
	// alone: the run, not the older ones.
	run(t, ctx, "all runs", chromedp.Navigate(f.http.URL+"/runs"), chromedp.WaitVisible(chromedp.CSS("#runs-chart canvas")))
	run(t, ctx, "select the last hour", chromedp.Evaluate[chromedp.Void](`(u => { const a = u.valToPos(Date.now() / 1000 - 3600, "x"), b = u.valToPos(Date.now() / 1000 + 60, "x");
		u.setSelect({left: a, width: b - a, top: 0, height: u.over.clientHeight}, true); })(document.getElementById("runs-chart").plot)`))
	waitJS(t, ctx, "the last hour selected: the run alone", `new URLSearchParams(location.search).has("since") &&
		!!document.querySelector('a[href="/runs/`+r.ID+`"]') && !document.querySelector('a[href^="/runs/fill-"]')`)

	// The time range and the tag filter the table and the chart.
	run(t, ctx, "runs of the last hour", chromedp.SetValue(chromedp.CSS(`select[name=range]`), "1h"),
		chromedp.Click(chromedp.CSS(`.filters button`)), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	waitJS(t, ctx, "range=1h: the run, not the older ones, in the table and the chart", `new URLSearchParams(location.search).get("range") === "1h" &&
		!!document.querySelector('a[href="/runs/`+r.ID+`"]') && !document.querySelector('a[href^="/runs/fill-"]') &&
		`+chartTotals+` === "▶ Running 1"`)
	run(t, ctx, "runs of tag nosuch", chromedp.Navigate(f.http.URL+"/runs?tag=nosuch"), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	waitJS(t, ctx, "tag=nosuch: no runs", `document.querySelector("table.runs tbody").textContent.includes("No runs match the filter") &&
		document.querySelector("#runs-chart .chart-empty").textContent.startsWith("No runs were made")`)
	run(t, ctx, "all runs again", chromedp.Navigate(f.http.URL+"/runs"), chromedp.WaitVisible(chromedp.CSS("table.runs")))

	// A filter changes the table and the URL.
	run(t, ctx, "filter by state", chromedp.SetValue(chromedp.CSS(`select[name=state]`), "Failed"),
		chromedp.Click(chromedp.CSS(`.filters button`)), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	waitJS(t, ctx, "the filter in the URL", `location.search.includes("state=Failed")`)
	loc = value(t, ctx, "location", chromedp.Location())
	if !strings.Contains(loc, "state=Failed") {
		t.Errorf("filtered URL %s", loc)
	}
	waitJS(t, ctx, "no Running run under state=Failed", `!document.querySelector('a[href="/runs/`+r.ID+`"]')`)

	// The run's page: its graph and log follow the worker's reports.
	run(t, ctx, "open the run", chromedp.Navigate(f.http.URL+"/runs/"+r.ID), chromedp.WaitVisible(chromedp.ID("n0")))
	waitJS(t, ctx, "the graph laid out by Graphviz: its SVG's graph group, the nodes of class node with the page's ids",
		`document.getElementById("graph").dataset.drawn === "graphviz" && !!document.querySelector("#graph svg > g#graph0.graph") &&
		document.querySelectorAll("#graph g.node.gnode").length === 2 && document.querySelector("#n0 title").textContent === "extract: Pending"`)
	waitJS(t, ctx, "the log follows the run", `document.getElementById("log-status").textContent.includes("following")`)
	w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "extract", Node: 0, State: runtime.Running, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: "extract", Node: 0, Level: runtime.Info, Msg: "read 42 rows <b>bold</b>", MapIndex: -1})
	waitJS(t, ctx, "the log line appears", `[...document.querySelectorAll("#log li")].some(li => li.textContent.includes("read 42 rows <b>bold</b>"))`)
	waitJS(t, ctx, "extract turns Running", `document.getElementById("n0").classList.contains("st-Running")`)

	// Keyboard: Tab reaches the Cancel button, with a visible focus.
	var reached []string
	for range 40 {
		type focused struct {
			ID, Text, Outline string
		}
		run(t, ctx, "tab", chromedp.KeyEvent("\t"))
		focus := value(t, ctx, "the focus", chromedp.Evaluate[focused](`(() => { const e = document.activeElement;
			return {ID: e.id, Text: (e.textContent || "").trim().slice(0, 30), Outline: getComputedStyle(e).outlineStyle}; })()`))
		reached = append(reached, focus.ID+":"+focus.Text)
		if focus.ID == "cancel" {
			if focus.Outline == "none" {
				t.Errorf("the focused Cancel button shows no outline")
			}
			break
		}
	}
	if !strings.HasPrefix(reached[len(reached)-1], "cancel:") {
		t.Errorf("Tab never reached the Cancel button; focus went %q", reached)
	}
	for _, want := range []string{":Runs", ":Deployments", ":Log out"} {
		if !strings.Contains(strings.Join(reached, "|"), want) {
			t.Errorf("Tab did not reach %q on the way: %q", want, reached)
		}
	}

	w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "extract", Node: 0, State: runtime.Success, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: hostile, Node: 1, State: runtime.Failed, Msg: "no table", MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Failed, Node: runtime.NoNode, MapIndex: -1})
	if err := w.rec.Close(); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "extract turns Success", `document.getElementById("n0").classList.contains("st-Success")`)
	waitJS(t, ctx, "load turns Failed", `document.getElementById("n1").classList.contains("st-Failed")`)
	waitJS(t, ctx, "the header says Failed", `document.getElementById("run-state").textContent.includes("Failed")`)
	waitJS(t, ctx, "the stream ends", `document.getElementById("log-status").textContent.includes("ended: Failed")`)
	waitJS(t, ctx, "no Cancel button on an ended run", `!document.getElementById("cancel")`)
	waitJS(t, ctx, "a task name with markup is text", `window.pwned === undefined && !document.querySelector("main img") &&
		[...document.querySelectorAll("#log li")].some(li => li.textContent.includes('load<img src=x onerror="window.pwned=1">'))`)
	waitJS(t, ctx, "the timeline: extract's bar Success, load's Failed", `document.querySelectorAll(".timeline g.tl-bar").length === 2 &&
		document.querySelector(".tl-bar.st-Success title").textContent.startsWith("extract") &&
		document.querySelector(".tl-bar.st-Failed title").textContent.includes("Failed")`)
	shoot(t, ctx, "run")
	run(t, ctx, "scroll to the timeline", chromedp.Evaluate[chromedp.Void](`document.getElementById("timeline-h").scrollIntoView()`))
	shoot(t, ctx, "run-timeline")

	// The log's search shows the lines holding its text.
	run(t, ctx, "search the log", chromedp.SendKeys(chromedp.ID("log-search"), "42 ROWS"))
	waitJS(t, ctx, "one line shown", `[...document.querySelectorAll("#log li")].filter(li => !li.hidden).length === 1`)

	// The task runs filtered by state, in the URL.
	run(t, ctx, "filter the task runs", chromedp.SetValue(chromedp.CSS(`#run-tasks select[name=state]`), "Failed"),
		chromedp.Submit(chromedp.CSS(`#run-tasks form`)))
	waitJS(t, ctx, "only load's task run and its bar, and the state in the URL", `new URLSearchParams(location.search).get("state") === "Failed" &&
		document.querySelectorAll("table.tasks tbody tr").length === 1 &&
		document.querySelector("table.tasks tbody td").textContent.startsWith("load") &&
		document.querySelectorAll(".tl-bar").length === 1 && !!document.querySelector(".tl-bar.st-Failed")`)

	// Retry makes a new run with the same parameters.
	clickNow(t, ctx, "retry")
	waitJS(t, ctx, "the new run's page", `location.pathname !== "/runs/`+r.ID+`" && !!document.getElementById("run-live")`)
	loc = value(t, ctx, "location", chromedp.Location())
	var again struct {
		Run struct{ Parameters json.RawMessage }
	}
	if err := f.admin.Do(context.Background(), "GET", "/runs/"+loc[strings.LastIndex(loc, "/")+1:], nil, &again); err != nil ||
		!strings.Contains(string(again.Run.Parameters), `onerror=alert(1)`) {
		t.Errorf("the retried run %s: %s %v", loc, again.Run.Parameters, err)
	}
	// Resume (the run ended Failed) makes a run that resumes it.
	run(t, ctx, "the run again", chromedp.Navigate(f.http.URL+"/runs/"+r.ID), chromedp.WaitVisible(chromedp.ID("resume")))
	clickNow(t, ctx, "resume")
	waitJS(t, ctx, "the resuming run's page, linking to the run it resumes", `location.pathname !== "/runs/`+r.ID+`" &&
		!!document.getElementById("run-live") && !!document.querySelector('dl a[href="/runs/`+r.ID+`"]') &&
		document.getElementById("run-state").textContent.includes("Scheduled") && !document.getElementById("resume")`)
	loc = value(t, ctx, "location", chromedp.Location())
	var resumed struct{ Run store.Run }
	if err := f.admin.Do(context.Background(), "GET", "/runs/"+loc[strings.LastIndex(loc, "/")+1:], nil, &resumed); err != nil ||
		resumed.Run.ResumedFrom != r.ID || resumed.Run.State != runtime.Scheduled || !strings.Contains(string(resumed.Run.Parameters), `onerror=alert(1)`) {
		t.Errorf("the resuming run %s: %+v %v, want a Scheduled run resuming %s with its parameters", loc, resumed.Run, err, r.ID)
	}

	// The run form: a bad value is refused at its field.
	run(t, ctx, "open the run form", chromedp.Navigate(f.http.URL+"/deployments/F/nightly/run"), chromedp.WaitVisible(chromedp.ID("p-n")),
		chromedp.SetValue(chromedp.ID("p-n"), "lots"), chromedp.SetValue(chromedp.ID("p-who"), "ann"),
		chromedp.Click(chromedp.ID("start")), chromedp.WaitVisible(chromedp.ID("err-n")))
	msg := value(t, ctx, "the field's error", chromedp.Text(chromedp.ID("err-n")))
	invalid := value(t, ctx, "aria-invalid", chromedp.AttributeValue(chromedp.ID("p-n"), "aria-invalid")).Value
	if !strings.Contains(msg, "want integer") || invalid != "true" {
		t.Errorf("the field n says %q (aria-invalid %q), want the API's type error", msg, invalid)
	}
	shoot(t, ctx, "runform")
	run(t, ctx, "submit a good value", chromedp.SetValue(chromedp.ID("p-n"), "7"), chromedp.Click(chromedp.ID("start")),
		chromedp.WaitVisible(chromedp.ID("run-live")))
	loc = value(t, ctx, "location", chromedp.Location())
	id := loc[strings.LastIndex(loc, "/")+1:]
	var d struct {
		Run struct{ Parameters json.RawMessage }
	}
	if err := f.admin.Do(context.Background(), "GET", "/runs/"+id, nil, &d); err != nil || !strings.Contains(string(d.Run.Parameters), `"n":7`) {
		t.Errorf("the form's run %s: %s %v", id, d.Run.Parameters, err)
	}
	// The session ends (its token revoked): the next page is the login
	// page with its message, not a broken page.
	var who struct{ ID string }
	dev.Do(context.Background(), "GET", "/whoami", nil, &who)
	f.admin.Do(context.Background(), "DELETE", "/tokens/"+who.ID, nil, nil)
	run(t, ctx, "browse after revocation", chromedp.Navigate(f.http.URL+"/deployments"), chromedp.WaitVisible(chromedp.ID("token")))
	waitJS(t, ctx, "the login page says why", `document.body.textContent.includes("Your session has ended")`)
	shoot(t, ctx, "login")

	// A viewer sees no button that changes anything.
	viewer := f.token(t, "viewer")
	run(t, ctx, "log in as a viewer", chromedp.SendKeys(chromedp.ID("token"), viewer.Token), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS("table.deployments")))
	waitJS(t, ctx, "a viewer's deployments page has no buttons", `!document.querySelector("main button, main a.button")`)
	run(t, ctx, "a viewer's run page", chromedp.Navigate(f.http.URL+"/runs/"+id), chromedp.WaitVisible(chromedp.ID("run-live")))
	waitJS(t, ctx, "a viewer's run page has no Cancel and no form that acts (the task-run filter reads)", `!document.getElementById("cancel") && !document.querySelector("main form[method=post]")`)

	// The admin's pages, and the themes.
	run(t, ctx, "log out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), f.admin.Token), chromedp.Submit(chromedp.ID("token")), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	run(t, ctx, "deployments", chromedp.Navigate(f.http.URL+"/deployments"), chromedp.WaitVisible(chromedp.CSS("table.deployments")))
	shoot(t, ctx, "deployments")
	run(t, ctx, "a deployment's page", chromedp.Click(chromedp.CSS(`table.deployments a[href="/deployments/F/nightly"]`)),
		chromedp.WaitVisible(chromedp.CSS("table.upcoming")))
	waitJS(t, ctx, "the form's run upcoming, the first run among the recent", `!!document.querySelector('table.upcoming a[href="/runs/`+id+`"]') &&
		!!document.querySelector('table.recent a[href="/runs/`+r.ID+`"]') && !document.querySelector('table.recent a[href="/runs/`+id+`"]') &&
		document.querySelector("table.recent").textContent.includes("Failed")`)
	shoot(t, ctx, "deployment")
	run(t, ctx, "pools", chromedp.Navigate(f.http.URL+"/pools"), chromedp.WaitVisible(chromedp.CSS("table.workers")))
	waitJS(t, ctx, "the worker on the pools page", `document.querySelector("table.workers").textContent.includes("test worker")`)
	shoot(t, ctx, "pools")
	run(t, ctx, "create a token", chromedp.Navigate(f.http.URL+"/tokens"), chromedp.SendKeys(chromedp.ID("tok-name"), "ci"),
		chromedp.Click(chromedp.CSS(`form.stack button`)), chromedp.WaitVisible(chromedp.ID("new-token")))
	shoot(t, ctx, "tokens")
	for scheme, bg := range map[string]string{"light": "rgb(255, 255, 255)", "dark": "rgb(20, 23, 26)"} {
		run(t, ctx, "prefer "+scheme, colorScheme(scheme))
		if got := value(t, ctx, "the background", chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`)); got != bg {
			t.Errorf("with prefers-color-scheme: %s the background is %s, want %s", scheme, got, bg)
		}
	}
}

// chartTotals is the runs chart's legend, "icon state value|..." from
// the state drawn on top down (the totals, or the counts of the bar hovered).
const chartTotals = `[...document.querySelectorAll("#runs-chart .u-legend tr.u-series")].slice(1).map(tr => tr.querySelector("th").textContent.trim() + " " + tr.querySelector("td").textContent.trim()).join("|")`

// drag drags the mouse across the element sel, from the time from
// seconds ago to the time to seconds ago on its chart's x axis.
func drag(t *testing.T, ctx context.Context, sel string, from, to float64) {
	t.Helper()
	type box struct{ X0, X1, Y float64 }
	b := value(t, ctx, "the chart's place", chromedp.Evaluate[box](`(() => { const u = document.getElementById("runs-chart").plot, r = u.over.getBoundingClientRect();
		return {X0: r.left + u.valToPos(Date.now() / 1000 - `+fmt.Sprint(from)+`, "x"), X1: r.left + u.valToPos(Date.now() / 1000 - `+fmt.Sprint(to)+`, "x"), Y: r.top + r.height / 2}; })()`))
	mouse := func(typ input.DispatchMouseEventType, x float64, buttons int64) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: typ, X: x, Y: b.Y,
				Button: input.MouseButtonLeft, Buttons: buttons, ClickCount: 1})
			return err
		})
	}
	steps := []chromedp.Action[chromedp.Void]{mouse(input.DispatchMouseEventTypeMouseMoved, b.X0, 0), mouse(input.DispatchMouseEventTypeMousePressed, b.X0, 1)}
	for i := 1; i <= 10; i++ {
		steps = append(steps, mouse(input.DispatchMouseEventTypeMouseMoved, b.X0+(b.X1-b.X0)*float64(i)/10, 1))
	}
	steps = append(steps, mouse(input.DispatchMouseEventTypeMouseReleased, b.X1, 0))
	run(t, ctx, "drag across "+sel, steps...)
}

// colorScheme makes the page prefer the color scheme ("light", "dark").
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// ScreenshotsEnv names a directory the browser test writes screenshots
// of the pages to, in the light and the dark theme (docs/ui.md shows
// them: WFSH_UI_SCREENSHOTS=$PWD/docs/ui go test ./web/ -run TestBrowser).
const ScreenshotsEnv = "WFSH_UI_SCREENSHOTS"

// shoot writes the page's screenshots, light and dark, when asked to.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return
	}
	for _, scheme := range []string{"light", "dark"} {
		run(t, ctx, "prefer "+scheme, colorScheme(scheme))
		png := value(t, ctx, "screenshot", chromedp.CaptureScreenshot())
		if err := os.WriteFile(filepath.Join(dir, name+"-"+scheme+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, "prefer light", colorScheme(""))
}

// waitDAG waits until the run's graph is stored (its first write).
func waitDAG(t *testing.T, f *fixture, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.admin.Do(context.Background(), "GET", "/runs/"+id+"/dag", nil, nil) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the run's graph was never stored")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
