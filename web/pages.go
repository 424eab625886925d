package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// pageSize is how many runs a page of the runs table holds.
const pageSize = 50

// apiStatus is err's HTTP status when the API answered it, else 0.
func apiStatus(err error) int {
	var ae *server.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// shown is the message of an API refusal a page shows in place of its
// data (a bad filter, a role that may not list this), or err itself to
// fail the page.
func shown(err error) (string, error) {
	switch s := apiStatus(err); {
	case err == nil:
		return "", nil
	case s == http.StatusUnauthorized, s == 0, s >= 500:
		return "", err
	}
	var ae *server.APIError
	errors.As(err, &ae)
	if ae.Detail != "" {
		return ae.Detail, nil
	}
	return ae.Title, nil
}

func (u *UI) runs(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	block := ""
	if r.URL.Query().Get("fragment") != "" {
		block = "runs_table"
	}
	p, err := u.runsPage(r, s, c)
	if err != nil {
		return err
	}
	u.renderBlock(w, http.StatusOK, "runs", block, p)
	return nil
}

// runsPage reads what the runs page and its table show, for the filter
// in r's query. The chart is the browser's: it asks the API itself
// (app.js).
func (u *UI) runsPage(r *http.Request, s *Session, c *server.Client) (*RunsPage, error) {
	q := r.URL.Query()
	f := RunsFilter{State: q.Get("state"), Flow: q.Get("flow"), Deployment: q.Get("deployment"), Tag: q.Get("tag"),
		Range: q.Get("range"), Since: q.Get("since"), Until: q.Get("until"), After: q.Get("after"), Parent: q.Get("parent")}
	now := u.opt.Now()
	p := &RunsPage{Page: Page{Title: "Runs", Nav: "runs", Session: s, Now: now}, Filter: f}
	since := f.Since
	if d, ok := ranges[f.Range]; ok && since == "" {
		since = now.Add(-d).UTC().Format(time.RFC3339)
	} else if f.Range != "" && !ok {
		p.Error = "range: " + f.Range + " is none of 1h, 24h, 7d, 30d"
	}
	err := c.Do(r.Context(), "GET", server.Query("/runs", "state", f.State, "flow", f.Flow, "deployment", f.Deployment,
		"tag", f.Tag, "parent", f.Parent, "since", since, "until", f.Until, "after", f.After, "limit", strconv.Itoa(pageSize)), nil, &p.List)
	if msg, err := shown(err); err != nil {
		return nil, err
	} else if p.Error == "" {
		p.Error = msg
	}
	// Deployments by id, to name them (a role that may not list them
	// sees their ids).
	var ds []server.DeploymentInfo
	if c.Do(r.Context(), "GET", "/deployments", nil, &ds) == nil {
		p.Deployments = map[string]string{}
		for _, d := range ds {
			p.Deployments[d.ID] = d.Flow + "/" + d.Name
		}
	}
	return p, nil
}

func (u *UI) run(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	block := runBlock(r)
	p, err := u.runPage(r, s, c, block)
	if err != nil {
		return err
	}
	u.renderBlock(w, http.StatusOK, "run", block, p)
	return nil
}

// runBlock is the part of a run's page r asks for: the task runs
// (block run_tasks) by fragment=tasks, or when htmx fetches them into
// #run-tasks (a timeline page, a filter, a refresh) or restores them
// (Back: #run-tasks is the page's history element); the header
// (run_live) by any other fragment, or fetched into #run-live; else
// the whole page.
func runBlock(r *http.Request) string {
	q, target := r.URL.Query(), hxTarget(r)
	switch {
	case q.Get("fragment") == "tasks", target == "run-tasks", isHX(r) && r.Header.Get("HX-History-Restore-Request") == "true":
		return "run_tasks"
	case q.Has("fragment"), target == "run-live":
		return "run_live"
	}
	return ""
}

// runPage reads a run, its tasks summed up (the graph's states, the
// timeline), a page of its task runs and its graph: never all its task
// runs, which may be 100,000.
func (u *UI) runPage(r *http.Request, s *Session, c *server.Client, block string) (*RunPage, error) {
	id, q := r.PathValue("id"), r.URL.Query()
	p := &RunPage{Page: Page{Title: "Run " + id, Nav: "runs", Session: s, Now: u.opt.Now()},
		TaskFilter: TaskRunsFilter{State: q.Get("state"), Task: q.Get("task"), After: q.Get("after"), Bars: q.Get("tl")}}
	if err := c.Do(r.Context(), "GET", "/runs/"+server.PathEscape(id)+"?task_runs=false", nil, &p.Detail); err != nil {
		return nil, err
	}
	id = server.PathEscape(p.Detail.Run.ID)
	p.Title = p.Detail.Run.Flow + " " + p.Detail.Run.ID
	if block == "run_live" {
		return p, nil // the header is the run alone
	}
	var tasks server.TaskList
	if err := c.Do(r.Context(), "GET", "/runs/"+id+"/tasks", nil, &tasks); err != nil {
		return nil, err
	}
	first, _ := strconv.Atoi(p.TaskFilter.Bars)
	p.Timeline = timeline(tasks, first, maxBars, p.TaskFilter.State, p.TaskFilter.Task)
	f := p.TaskFilter
	err := c.Do(r.Context(), "GET", server.Query("/runs/"+id+"/task-runs", "state", f.State, "task", f.Task, "after", f.After,
		"limit", strconv.Itoa(MaxTaskRows)), nil, &p.Tasks)
	if p.TaskError, err = shown(err); err != nil {
		return nil, err
	}
	for _, t := range tasks.Tasks {
		if t.Kind == "task" {
			p.TaskNames = append(p.TaskNames, t.Name)
		}
		if t.Runs > 0 {
			p.Mapped = append(p.Mapped, t)
		}
	}
	sort.Strings(p.TaskNames)
	var kids server.RunList
	if err := c.Do(r.Context(), "GET", server.Query("/runs", "parent", p.Detail.Run.ID, "limit", strconv.Itoa(MaxChildRows)), nil, &kids); err != nil {
		return nil, err
	}
	p.Children = kids.Runs
	if block == "run_tasks" {
		return p, nil
	}
	var dag []server.DAGNode
	err = c.Do(r.Context(), "GET", "/runs/"+id+"/dag", nil, &dag)
	switch {
	case apiStatus(err) == http.StatusNotFound:
		p.Graph.Note = "no graph yet: a worker has not started the run"
	case err != nil:
		return nil, err
	}
	nodes := graphNodes(dag, tasks.Tasks)
	if len(dag) > 0 && !q.Has("fragment") {
		p.Graph = draw(p.Detail.Run.Flow, dag, nodes)
	} else {
		p.Graph.Nodes = nodes
	}
	return p, nil
}

// graphDOT serves a run's graph in DOT, its nodes filled by state, as
// `wfsh graph --run` writes it (a link from its page, the graph for a
// browser without JavaScript).
func (u *UI) graphDOT(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	id := server.PathEscape(r.PathValue("id"))
	var d server.RunDetail
	if err := c.Do(r.Context(), "GET", "/runs/"+id+"?task_runs=false", nil, &d); err != nil {
		return err
	}
	var tasks server.TaskList
	if err := c.Do(r.Context(), "GET", "/runs/"+id+"/tasks", nil, &tasks); err != nil {
		return err
	}
	var dag []server.DAGNode
	if err := c.Do(r.Context(), "GET", "/runs/"+id+"/dag", nil, &dag); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(runDOT(d.Run.Flow, dag, graphNodes(dag, tasks.Tasks)))
	return nil
}

// logText serves a run's whole log as text (task: that task's lines
// and the flow's), as the API streams it from the store: the run is
// read first, so that a session that ended, a run that is not there or
// a role that may not read it get the page they would get.
func (u *UI) logText(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	var d server.RunDetail
	if err := c.Do(r.Context(), "GET", "/runs/"+server.PathEscape(r.PathValue("id"))+"?task_runs=false", nil, &d); err != nil {
		return err
	}
	api := r.Clone(r.Context())
	api.URL = &url.URL{Path: "/api/v1/runs/" + d.Run.ID + "/log.txt"}
	if task := r.URL.Query().Get("task"); task != "" {
		api.URL.RawQuery = url.Values{"task": {task}}.Encode()
	}
	api.RequestURI = api.URL.RequestURI()
	u.opt.API.ServeHTTP(w, api)
	return nil
}

func (u *UI) cancel(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	id := r.PathValue("id")
	if err := c.Do(r.Context(), "POST", "/runs/"+server.PathEscape(id)+"/cancel", nil, nil); err != nil {
		return err
	}
	http.Redirect(w, r, "/runs/"+server.PathEscape(id), http.StatusSeeOther)
	return nil
}

// retry makes a new run of a run's deployment with the run's parameters.
func (u *UI) retry(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	var d server.RunDetail
	if err := c.Do(r.Context(), "GET", "/runs/"+server.PathEscape(r.PathValue("id")), nil, &d); err != nil {
		return err
	}
	var ds []server.DeploymentInfo
	if err := c.Do(r.Context(), "GET", "/deployments", nil, &ds); err != nil {
		return err
	}
	for _, dep := range ds {
		if d.Run.Server == nil || dep.ID != d.Run.Server.Deployment {
			continue
		}
		var req server.RunRequest
		if err := json.Unmarshal(d.Run.Parameters, &req.Parameters); err != nil {
			return err
		}
		var run store.Run
		if err := c.Do(r.Context(), "POST", "/deployments/"+server.PathEscape(dep.Flow)+"/"+server.PathEscape(dep.Name)+"/runs", req, &run); err != nil {
			return err
		}
		seeOther(w, r, "/runs/"+server.PathEscape(run.ID))
		return nil
	}
	return &server.APIError{Status: http.StatusGone, Detail: "the run's deployment is gone: nothing to run again"}
}

// resume makes a run that resumes this one (it ended Failed, Cancelled
// or Crashed: the API refuses others) and shows it.
func (u *UI) resume(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	var run store.Run
	if err := c.Do(r.Context(), "POST", "/runs/"+server.PathEscape(r.PathValue("id"))+"/resume", nil, &run); err != nil {
		return err
	}
	seeOther(w, r, "/runs/"+server.PathEscape(run.ID))
	return nil
}

func (u *UI) deployments(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	p := &DeploymentsPage{Page: Page{Title: "Deployments", Nav: "deployments", Session: s, Now: u.opt.Now()}}
	err := c.Do(r.Context(), "GET", "/deployments", nil, &p.Deployments)
	if p.Error, err = shown(err); err != nil {
		return err
	}
	u.render(w, http.StatusOK, "deployments", p)
	return nil
}

// maxDeploymentRuns is how many upcoming and recent runs a deployment's
// page lists.
const maxDeploymentRuns = 10

// deployment shows a deployment, its upcoming runs (GET /runs, state
// Scheduled: the scheduler makes them an hour ahead, so they are few)
// and its recent ones (the newest that are not Scheduled, of the newest
// 50).
func (u *UI) deployment(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	p := &DeploymentPage{Page: Page{Nav: "deployments", Session: s, Now: u.opt.Now()}}
	if err := c.Do(r.Context(), "GET", deploymentPath(r), nil, &p.Deployment); err != nil {
		return err
	}
	ref := p.Deployment.Flow + "/" + p.Deployment.Name
	p.Title = ref
	var up, recent server.RunList
	err := c.Do(r.Context(), "GET", server.Query("/runs", "deployment", ref, "state", "Scheduled", "limit", "100"), nil, &up)
	if err == nil {
		err = c.Do(r.Context(), "GET", server.Query("/runs", "deployment", ref, "limit", "50"), nil, &recent)
	}
	if p.Error, err = shown(err); err != nil {
		return err
	}
	sort.SliceStable(up.Runs, func(i, j int) bool { return scheduledAt(up.Runs[i]).Before(scheduledAt(up.Runs[j])) })
	p.Upcoming = up.Runs[:min(len(up.Runs), maxDeploymentRuns)]
	for _, run := range recent.Runs {
		if run.State != runtime.Scheduled && len(p.Recent) < maxDeploymentRuns {
			p.Recent = append(p.Recent, run)
		}
	}
	u.render(w, http.StatusOK, "deployment", p)
	return nil
}

func deploymentPath(r *http.Request) string {
	return "/deployments/" + server.PathEscape(r.PathValue("flow")) + "/" + server.PathEscape(r.PathValue("name"))
}

func (u *UI) pauseDeployment(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	verb := r.PathValue("verb")
	if verb != "pause" && verb != "resume" {
		return &server.APIError{Status: http.StatusNotFound, Detail: "no such action: " + verb}
	}
	if err := c.Do(r.Context(), "POST", deploymentPath(r)+"/"+verb, nil, nil); err != nil {
		return err
	}
	http.Redirect(w, r, back(r, "/deployments"), http.StatusSeeOther)
	return nil
}

// fields are a deployment's parameters as a form's fields, holding the
// deployment's values, else the flow's defaults.
func fields(d *server.DeploymentInfo) []Field {
	var params []server.Param
	json.Unmarshal(d.ParamSchema, &params)
	values := map[string]json.RawMessage{}
	json.Unmarshal(d.Parameters, &values)
	out := make([]Field, 0, len(params))
	for _, p := range params {
		f := Field{Name: p.Name, Type: p.Type, Required: p.Default == nil}
		v, ok := values[p.Name]
		if !ok {
			v = p.Default
		}
		f.Value = fieldValue(p.Type, v)
		out = append(out, f)
	}
	return out
}

// fieldValue is a parameter's JSON value as its field holds it: a
// string's text, any other value's JSON.
func fieldValue(typ string, v json.RawMessage) string {
	var s string
	if typ == "string" && json.Unmarshal(v, &s) == nil {
		return s
	}
	return compactJSON(v)
}

// paramValue is a field's text as the JSON value sent: a string
// parameter's text as a JSON string; any other's text as JSON if it is
// JSON, else as a string (for the API to refuse by its type).
func paramValue(typ, text string) json.RawMessage {
	if typ != "string" && json.Valid([]byte(text)) {
		return json.RawMessage(text)
	}
	b, _ := json.Marshal(text)
	return b
}

func (u *UI) runFormPage(r *http.Request, s *Session, c *server.Client) (*RunFormPage, error) {
	p := &RunFormPage{Page: Page{Nav: "deployments", Session: s, Now: u.opt.Now()}}
	if err := c.Do(r.Context(), "GET", deploymentPath(r), nil, &p.Deployment); err != nil {
		return nil, err
	}
	p.Title = "Run " + p.Deployment.Flow + "/" + p.Deployment.Name
	p.Fields = fields(&p.Deployment)
	return p, nil
}

func (u *UI) runForm(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	p, err := u.runFormPage(r, s, c)
	if err != nil {
		return err
	}
	u.render(w, http.StatusOK, "runform", p)
	return nil
}

// createRun sends the form to the API; its refusal (422) is shown at
// the fields it names.
func (u *UI) createRun(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	p, err := u.runFormPage(r, s, c)
	if err != nil {
		return err
	}
	params := map[string]json.RawMessage{}
	for i := range p.Fields {
		f := &p.Fields[i]
		f.Value = r.PostFormValue("p." + f.Name)
		if f.Value == "" && f.Type != "string" {
			continue // the deployment's value or the default
		}
		params[f.Name] = paramValue(f.Type, f.Value)
	}
	var run store.Run
	err = c.Do(r.Context(), "POST", deploymentPath(r)+"/runs", server.RunRequest{Parameters: params}, &run)
	if apiStatus(err) == http.StatusUnprocessableEntity {
		var ae *server.APIError
		errors.As(err, &ae)
		p.Error = fieldErrors(p.Fields, ae.Detail)
		u.render(w, http.StatusUnprocessableEntity, "runform", p)
		return nil
	}
	if err != nil {
		return err
	}
	seeOther(w, r, "/runs/"+server.PathEscape(run.ID))
	return nil
}

// fieldErrors puts the API's parameter problems ("parameters: n: want
// integer ...; m: required ...") at their fields, and returns what
// names no field.
func fieldErrors(fs []Field, detail string) string {
	rest := []string{}
	list, ok := strings.CutPrefix(detail, "parameters: ")
	if !ok {
		return detail
	}
	for _, prob := range strings.Split(list, "; ") {
		name, msg, _ := strings.Cut(prob, ": ")
		placed := false
		for i := range fs {
			if fs[i].Name == name {
				fs[i].Error, placed = msg, true
			}
		}
		if !placed {
			rest = append(rest, prob)
		}
	}
	return strings.Join(rest, "; ")
}

func (u *UI) pausePool(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	verb := r.PathValue("verb")
	if verb != "pause" && verb != "resume" {
		return &server.APIError{Status: http.StatusNotFound, Detail: "no such action: " + verb}
	}
	if err := c.Do(r.Context(), "POST", "/pools/"+server.PathEscape(r.PathValue("pool"))+"/"+verb, nil, nil); err != nil {
		return err
	}
	http.Redirect(w, r, back(r, "/pools"), http.StatusSeeOther)
	return nil
}

func (u *UI) pools(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	p := &PoolsPage{Page: Page{Title: "Work pools", Nav: "pools", Session: s, Now: u.opt.Now()}}
	err := c.Do(r.Context(), "GET", "/pools", nil, &p.Pools)
	if err == nil {
		err = c.Do(r.Context(), "GET", "/workers", nil, &p.Workers)
	}
	if p.Error, err = shown(err); err != nil {
		return err
	}
	u.render(w, http.StatusOK, "pools", p)
	return nil
}

func (u *UI) secretsPage(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client, status int, msg string) error {
	p := &SecretsPage{Page: Page{Title: "Secrets", Nav: "secrets", Session: s, Now: u.opt.Now()}, Error: msg}
	err := c.Do(r.Context(), "GET", "/secrets", nil, &p.Secrets)
	if m, err := shown(err); err != nil {
		return err
	} else if m != "" && p.Error == "" {
		p.Error = m
	}
	u.render(w, status, "secrets", p)
	return nil
}

func (u *UI) secrets(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	return u.secretsPage(w, r, s, c, http.StatusOK, "")
}

func (u *UI) setSecret(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	err := c.Do(r.Context(), "PUT", "/secrets/"+server.PathEscape(name), []byte(r.PostFormValue("value")), nil)
	if msg, err := shown(err); err != nil {
		return err
	} else if msg != "" {
		return u.secretsPage(w, r, s, c, apiStatus(err), msg)
	}
	http.Redirect(w, r, "/secrets", http.StatusSeeOther)
	return nil
}

func (u *UI) deleteSecret(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	if err := c.Do(r.Context(), "DELETE", "/secrets/"+server.PathEscape(r.PathValue("name")), nil, nil); err != nil {
		return err
	}
	http.Redirect(w, r, "/secrets", http.StatusSeeOther)
	return nil
}

func (u *UI) tokensPage(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client, p *TokensPage, status int) error {
	p.Page = Page{Title: "Tokens", Nav: "tokens", Session: s, Now: u.opt.Now()}
	err := c.Do(r.Context(), "GET", "/tokens", nil, &p.Tokens)
	if m, err := shown(err); err != nil {
		return err
	} else if m != "" && p.Error == "" {
		p.Error = m
	}
	u.render(w, status, "tokens", p)
	return nil
}

func (u *UI) tokens(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	return u.tokensPage(w, r, s, c, &TokensPage{}, http.StatusOK)
}

// createToken makes a token and shows it once, on the page that
// answers the form (never in a URL).
func (u *UI) createToken(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	req := server.TokenRequest{Name: r.PostFormValue("name"), Role: r.PostFormValue("role"), Pool: r.PostFormValue("pool"), ExpiresIn: r.PostFormValue("expires_in")}
	var out server.NewTokenReply
	err := c.Do(r.Context(), "POST", "/tokens", req, &out)
	msg, err := shown(err)
	if err != nil {
		return err
	}
	p := &TokensPage{Error: msg}
	if msg == "" {
		p.New = &out
	}
	return u.tokensPage(w, r, s, c, p, http.StatusOK)
}

func (u *UI) revokeToken(w http.ResponseWriter, r *http.Request, s *Session, c *server.Client) error {
	if err := c.Do(r.Context(), "DELETE", "/tokens/"+server.PathEscape(r.PathValue("id")), nil, nil); err != nil {
		return err
	}
	http.Redirect(w, r, "/tokens", http.StatusSeeOther)
	return nil
}
