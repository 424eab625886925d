package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/schedule"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// Page is what every page has: its title, the navigation's current
// entry and the session (nil on the login page).
type Page struct {
	Title   string
	Nav     string
	Session *Session
	// Now is the time the page is drawn at (durations, "ago").
	Now time.Time
}

// LoginPage asks for a token.
type LoginPage struct {
	Page
	Message, Error, Next string
}

// ErrorPage says what went wrong.
type ErrorPage struct {
	Page
	Status  int
	Message string
}

// RunsFilter is what the runs page shows: the query of its URL. Range
// is a time range back from now ("1h", "24h", "7d", "30d"; "" all);
// Since and Until (RFC 3339, the chart's selection) bound the time runs
// were made, in place of Range.
type RunsFilter struct {
	State, Flow, Deployment, Tag, Range, After string
	Since, Until                               string
	Parent                                     string // the run that made them
}

// ranges are the time ranges the runs page offers, by their name in
// its URL.
var ranges = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// Ranges are the names of the time ranges offered.
func (RunsFilter) Ranges() []string { return []string{"1h", "24h", "7d", "30d"} }

// Set says whether the filter selects (the page offers Clear).
func (f RunsFilter) Set() bool {
	return f.State != "" || f.Flow != "" || f.Deployment != "" || f.Tag != "" || f.Range != "" || f.Parent != "" ||
		f.Since != "" || f.Until != ""
}

// Query is the filter as a URL query, after set to after (encoded: a
// template puts it in a URL as it is).
func (f RunsFilter) Query(after string) template.URL {
	q := url.Values{}
	for k, v := range map[string]string{"state": f.State, "flow": f.Flow, "deployment": f.Deployment, "tag": f.Tag,
		"range": f.Range, "since": f.Since, "until": f.Until, "parent": f.Parent, "after": after} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return template.URL(q.Encode())
}

// History is the API's URL of the chart's counts (GET /runs/history):
// every state, over Since to Until when set; else the page's script
// asks from Range back from now at each refresh (the last 24 hours
// without one).
func (f RunsFilter) History() string {
	return server.Query("/api/v1/runs/history", "flow", f.Flow, "deployment", f.Deployment, "tag", f.Tag, "parent", f.Parent,
		"since", f.Since, "until", f.Until, "buckets", "48")
}

// RangeSeconds is Range in seconds (0 without one, or with Since).
func (f RunsFilter) RangeSeconds() int64 {
	if f.Since != "" {
		return 0
	}
	return int64(ranges[f.Range] / time.Second)
}

// RunsPage is a page of runs (GET /api/v1/runs).
type RunsPage struct {
	Page
	Filter RunsFilter
	List   server.RunList
	Error  string
	// Deployments name deployments by id.
	Deployments map[string]string
}

// States are the states a run may be in, for the filter.
func (RunsPage) States() []string {
	out := make([]string, runtime.NumStates)
	for i := range out {
		out[i] = runtime.State(i).String()
	}
	return out
}

// StateIcons are the states, in order, with their icons: the chart's
// legend names them so.
func (RunsPage) StateIcons() [][2]string {
	out := make([][2]string, runtime.NumStates)
	for i := range out {
		out[i] = [2]string{runtime.State(i).String(), stateIcon(runtime.State(i))}
	}
	return out
}

// RunPage is a run (GET /api/v1/runs/{id}, without its task runs), its
// graph, timeline, a page of its task runs and its log.
type RunPage struct {
	Page
	Detail   server.RunDetail
	Graph    Graph
	Timeline Timeline
	// Tasks is the page of task runs shown (at most MaxTaskRows), as
	// TaskFilter selects; TaskError the API's refusal of the filter.
	Tasks      server.TaskRunPage
	TaskFilter TaskRunsFilter
	TaskError  string
	TaskNames  []string
	// Mapped are the mapped tasks summed up: the page's script counts
	// their graph nodes from them at each refresh (their children's
	// states are not in the run's event stream).
	Mapped []store.TaskSummary
	// Children are the runs the run made (run_deployment in its flow),
	// newest first, at most MaxChildRows.
	Children []store.Run
}

// MaxChildRows bounds the runs a run's page lists as made by it.
const MaxChildRows = 50

// MappedIndex lists the mapped tasks as [name, state, done, runs].
func (p *RunPage) MappedIndex() [][4]any {
	out := make([][4]any, 0, len(p.Mapped))
	for _, t := range p.Mapped {
		out = append(out, [4]any{t.Name, t.State, t.Done, t.Runs})
	}
	return out
}

// TaskRunsFilter selects the task runs a run's page lists: the query of
// its URL.
type TaskRunsFilter struct {
	State, Task, After string
	// Bars is the timeline's page: the index of its first bar ("": 0).
	Bars string
}

// Query is the filter as a URL query, after set to after, with extra
// key-value pairs (encoded: a template puts it in a URL as it is).
func (f TaskRunsFilter) Query(after string, kv ...string) template.URL {
	q := url.Values{}
	kv = append([]string{"state", f.State, "task", f.Task, "after", after, "tl", f.Bars}, kv...)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return template.URL(q.Encode())
}

// States are the states a task run may be in, for the filter.
func (RunPage) States() []string { return RunsPage{}.States() }

// MaxTaskRows bounds the task runs a run's page lists.
const MaxTaskRows = 200

// DeploymentsPage lists deployments (GET /api/v1/deployments).
type DeploymentsPage struct {
	Page
	Deployments []server.DeploymentInfo
	Error       string
}

// DeploymentPage is a deployment (GET /api/v1/deployments/{flow}/{name})
// with its upcoming runs (Scheduled, soonest first) and recent ones.
type DeploymentPage struct {
	Page
	Deployment       server.DeploymentInfo
	Upcoming, Recent []store.Run
	Error            string
}

// Field is a parameter of a run's form.
type Field struct {
	Name, Type string
	// Value is what the field holds: a string parameter's text, any
	// other's JSON.
	Value    string
	Required bool
	Error    string
}

// RunFormPage is the form of a deployment's run.
type RunFormPage struct {
	Page
	Deployment server.DeploymentInfo
	Fields     []Field
	Error      string
}

// PoolsPage lists work pools and workers.
type PoolsPage struct {
	Page
	Pools   []store.Pool
	Workers []store.Worker
	Error   string
}

// SecretsPage lists secrets by name.
type SecretsPage struct {
	Page
	Secrets []store.SecretInfo
	Error   string
}

// TokensPage lists tokens; New is a token just made, shown once.
type TokensPage struct {
	Page
	Tokens []store.Token
	New    *server.NewTokenReply
	Error  string
}

// View renders pages: a pure function of their data.
type View struct {
	pages map[string]*template.Template
}

// pageNames are the templates of templates/, each drawn in layout.html.
var pageNames = []string{"login", "error", "runs", "run", "deployments", "deployment", "runform", "pools", "secrets", "tokens"}

// NewView parses the templates.
func NewView() *View {
	v := &View{pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		t := template.New("layout.html").Funcs(funcs)
		v.pages[name] = template.Must(t.ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	return v
}

// Render writes page name with data; block, when not "", names the
// template of a fragment to write alone (the runs table's refresh).
func (v *View) Render(w io.Writer, name, block string, data any) error {
	if block == "" {
		block = "layout.html"
	}
	return v.pages[name].ExecuteTemplate(w, block, data)
}

func (u *UI) render(w http.ResponseWriter, status int, name string, data any) {
	u.renderBlock(w, status, name, "", data)
}

func (u *UI) renderBlock(w http.ResponseWriter, status int, name, block string, data any) {
	var b bytes.Buffer
	if err := u.view.Render(&b, name, block, data); err != nil {
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

var funcs = template.FuncMap{
	"icon":    stateIcon,
	"stclass": func(s runtime.State) string { return "st-" + s.String() },
	"when":    when,
	"ago":     ago,
	"dur":     duration,
	"runtime": runDuration,
	"json":    func(v json.RawMessage) string { return compactJSON(v) },
	// jsonattr writes v as JSON for a data- attribute (html/template
	// escapes it there): data in a part htmx swaps cannot be a <script
	// type="application/json">, since htmx drops every script element
	// of what it swaps in when scripts may not run (allowScriptTags).
	"jsonattr": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"short":     func(s string) string { return s[:min(12, len(s))] },
	"schedule":  scheduleWords,
	"sched":     scheduledAt,
	"esc":       url.PathEscape,
	"thousands": thousands,
	"resumable": func(s runtime.State) bool { return slices.Contains(store.Resumable, s) },
}

// thousands is n with its thousands separated: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// stateIcon is a state's symbol: pages show it beside the state's name,
// so that no state is told by colour alone.
func stateIcon(s runtime.State) string {
	switch s {
	case runtime.Success:
		return "✓"
	case runtime.Failed, runtime.TriggerFailed:
		return "✗"
	case runtime.Running:
		return "▶"
	case runtime.Retrying:
		return "↻"
	case runtime.Scheduled:
		return "◷"
	case runtime.Pending:
		return "…"
	case runtime.Cancelling, runtime.Cancelled:
		return "⊘"
	case runtime.Crashed:
		return "☠"
	case runtime.TimedOut:
		return "⌛"
	case runtime.Skipped:
		return "↷"
	case runtime.Cached:
		return "≡"
	case runtime.Mapped:
		return "⧉"
	}
	return "?"
}

// when is a time as pages show it, in UTC ("" for none).
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago is how long before now t was, to the second.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		return "in " + (-d).String()
	}
	return d.String() + " ago"
}

func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// runDuration is how long r took, or has run so far ("" if not started).
func runDuration(now time.Time, r store.Run) string {
	if r.StartedAt.IsZero() || r.State == runtime.Scheduled {
		return ""
	}
	return duration(r.Duration(now))
}

// scheduledAt is when a run was due: its schedule's time, else when it
// was made (a run made by hand is due at once).
func scheduledAt(r store.Run) time.Time {
	if r.Scheduled != nil {
		return r.Scheduled.At
	}
	if r.Server != nil {
		return r.Server.CreatedAt
	}
	return time.Time{}
}

// compactJSON is v on one line, with <, > and & as themselves (Go's
// encoder writes them \u003c...: the page escapes them as HTML).
func compactJSON(v json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	r := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
	return r.Replace(b.String())
}

// scheduleWords says a deployment's schedules in words.
func scheduleWords(raw json.RawMessage) []string {
	var specs []schedule.Spec
	if json.Unmarshal(raw, &specs) != nil {
		return nil
	}
	out := make([]string, 0, len(specs))
	for _, sp := range specs {
		s := specWords(sp)
		if sp.Timezone != "" && sp.Timezone != "UTC" {
			s += " (" + sp.Timezone + ")"
		}
		out = append(out, s)
	}
	return out
}

var weekdays = map[string]string{"0": "Sunday", "1": "Monday", "2": "Tuesday", "3": "Wednesday", "4": "Thursday", "5": "Friday", "6": "Saturday", "7": "Sunday",
	"SUN": "Sunday", "MON": "Monday", "TUE": "Tuesday", "WED": "Wednesday", "THU": "Thursday", "FRI": "Friday", "SAT": "Saturday"}

var cronMacros = map[string]string{"@yearly": "every year on 1 January at 00:00", "@annually": "every year on 1 January at 00:00",
	"@monthly": "every month on the 1st at 00:00", "@weekly": "every Sunday at 00:00", "@daily": "every day at 00:00",
	"@midnight": "every day at 00:00", "@hourly": "every hour at :00"}

func specWords(sp schedule.Spec) string {
	switch sp.Kind {
	case schedule.KindInterval:
		s := "every " + sp.Expr
		if sp.Start != "" {
			s += " from " + sp.Start
		}
		return s
	case schedule.KindRRule:
		return "rule " + sp.Expr
	}
	if m, ok := cronMacros[sp.Expr]; ok {
		return m
	}
	f := strings.Fields(sp.Expr)
	if len(f) != 5 {
		return "cron " + sp.Expr
	}
	num := func(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
	min, hour, dom, mon, dow := f[0], f[1], f[2], f[3], f[4]
	switch {
	case f[1] == "*" && dom == "*" && mon == "*" && dow == "*" && strings.HasPrefix(min, "*/"):
		return "every " + min[2:] + " minutes"
	case min == "*" && hour == "*" && dom == "*" && mon == "*" && dow == "*":
		return "every minute"
	case num(min) && hour == "*" && dom == "*" && mon == "*" && dow == "*":
		return fmt.Sprintf("every hour at :%02s", min)
	case num(min) && num(hour) && dom == "*" && mon == "*":
		at := fmt.Sprintf("%02s:%02s", hour, min)
		if dow == "*" {
			return "every day at " + at
		}
		if d, ok := weekdays[strings.ToUpper(dow)]; ok {
			return "every " + d + " at " + at
		}
		return "at " + at + " on weekdays " + dow
	}
	return "cron " + sp.Expr
}

// TaskLink is a link to another part of a run's task runs (a timeline
// page, a page of task runs): htmx fetches that part alone into the
// page and pushes Href, so Back shows the part before.
type TaskLink struct {
	ID, Text, Anchor string
	Href             template.URL
}

// TasksLink is the link id, saying text, to the run's task runs as the
// page's filter selects them with the cursor after and key-value pairs
// kv (TaskRunsFilter.Query); anchor is where it leads without script.
func (p *RunPage) TasksLink(id, text, anchor, after string, kv ...string) TaskLink {
	return TaskLink{ID: id, Text: text, Anchor: anchor,
		Href: template.URL("/runs/" + url.PathEscape(p.Detail.Run.ID) + "?" + string(p.TaskFilter.Query(after, kv...)))}
}
