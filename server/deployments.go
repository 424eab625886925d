package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/bundle"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/schedule"
	"github.com/wfsh/wfsh/store"
)

// MaxBundle bounds a bundle's size.
const MaxBundle = 64 << 20

// Param is one parameter of a flow, as its deployment checks runs
// against it and a form shows it.
type Param struct {
	Name string `json:"name"`
	// Default is the parameter's default as JSON; absent: required.
	Default json.RawMessage `json:"default,omitempty"`
	// Type is the JSON type of the default (string, number, integer,
	// boolean, array, object), "" when any value goes.
	Type string `json:"type,omitempty"`
}

// DeploymentSpec is what `wfsh deploy` sends for FLOW/NAME.
type DeploymentSpec struct {
	File         string                     `json:"file" minLength:"1" doc:"the flow file's path inside the bundle"`
	Bundle       string                     `json:"bundle" pattern:"^[0-9a-f]{64}$" doc:"the bundle's sha256, uploaded first"`
	Pool         string                     `json:"pool,omitempty" doc:"default: default"`
	Parameters   map[string]json.RawMessage `json:"parameters,omitempty"`
	Params       []Param                    `json:"params,omitempty" doc:"the flow's parameters"`
	Schedules    []schedule.Spec            `json:"schedules,omitempty"`
	Catchup      string                     `json:"catchup,omitempty" enum:"latest,all,none,"`
	Overlap      string                     `json:"overlap,omitempty" enum:"allow,skip,queue,cancel_other,"`
	LateAfter    string                     `json:"late_after,omitempty" doc:"a Go duration, e.g. 15s"`
	Tags         []string                   `json:"tags,omitempty"`
	Concurrency  int                        `json:"concurrency,omitempty" minimum:"0"`
	CrashRetries int                        `json:"crash_retries,omitempty" minimum:"0" maximum:"100"`
	Timeout      string                     `json:"timeout,omitempty" doc:"the flow's timeout, a Go duration (e.g. 30m0s): a kubernetes pool's Jobs get a deadline from it"`
	JobVariables map[string]json.RawMessage `json:"job_variables,omitempty" doc:"overrides of the kubernetes pool's Job template for this deployment's runs, within what the pool allows"`
}

// DeploymentInfo is a deployment with its next scheduled times.
type DeploymentInfo struct {
	store.Deployment
	Next []time.Time `json:"next"`
}

// DeploymentPath names a deployment, FLOW/NAME, in a path.
type DeploymentPath struct {
	Flow string `path:"flow"`
	Name string `path:"name"`
}

func (r DeploymentPath) ref() string { return r.Flow + "/" + r.Name }

func (s *Server) deploymentRoutes() {
	up := op("put-bundle", http.MethodPut, "/bundles/{hash}", auth.BundlesWrite, "Upload a bundle (a flow's directory tree) by its sha256")
	up.MaxBodyBytes = MaxBundle
	huma.Register(s.api, up, func(ctx context.Context, in *struct {
		Hash    string `path:"hash" pattern:"^[0-9a-f]{64}$"`
		RawBody []byte `contentType:"application/octet-stream"`
	}) (*struct {
		Status int
	}, error) {
		sum := sha256.Sum256(in.RawBody)
		if hex.EncodeToString(sum[:]) != in.Hash {
			return nil, huma.Error422UnprocessableEntity("the body's sha256 is not the hash in the path")
		}
		if err := checkBundle(in.RawBody); err != nil {
			return nil, huma.Error422UnprocessableEntity("the bundle would not unpack on a worker: " + err.Error())
		}
		made, err := s.st.PutBundle(ctx, in.Hash, in.RawBody, s.opt.Now())
		if err != nil {
			return nil, problem(err)
		}
		if made {
			return &struct{ Status int }{http.StatusCreated}, nil
		}
		return &struct{ Status int }{http.StatusOK}, nil
	})

	huma.Register(s.api, op("has-bundle", http.MethodHead, "/bundles/{hash}", auth.BundlesWrite,
		"Whether a bundle is stored (200) or not (404): an identical tree is not uploaded again"),
		func(ctx context.Context, in *struct {
			Hash string `path:"hash" pattern:"^[0-9a-f]{64}$"`
		}) (*struct{}, error) {
			ok, err := s.st.HasBundle(ctx, in.Hash)
			if err != nil {
				return nil, problem(err)
			}
			if !ok {
				return nil, huma.Error404NotFound("no bundle " + in.Hash)
			}
			return &struct{}{}, nil
		})

	huma.Register(s.api, op("get-bundle", http.MethodGet, "/bundles/{hash}", auth.BundlesRead, "Download a bundle"),
		func(ctx context.Context, in *struct {
			Hash string `path:"hash" pattern:"^[0-9a-f]{64}$"`
		}) (*struct {
			ContentType string `header:"Content-Type"`
			Body        []byte
		}, error) {
			b, err := s.st.Bundle(ctx, in.Hash)
			if err != nil {
				return nil, problem(err)
			}
			return &struct {
				ContentType string `header:"Content-Type"`
				Body        []byte
			}{"application/octet-stream", b}, nil
		})

	huma.Register(s.api, op("put-deployment", http.MethodPut, "/deployments/{flow}/{name}", auth.DeploymentsWrite, "Create or update a deployment"),
		func(ctx context.Context, in *struct {
			DeploymentPath
			Body DeploymentSpec
		}) (*struct{ Body DeploymentInfo }, error) {
			d, err := s.deployment(ctx, in.DeploymentPath, &in.Body)
			if err != nil {
				return nil, err
			}
			if d, err = s.st.PutDeployment(ctx, d, s.opt.Now()); err != nil {
				return nil, problem(err)
			}
			return &struct{ Body DeploymentInfo }{s.info(d)}, nil
		})

	huma.Register(s.api, op("list-deployments", http.MethodGet, "/deployments", auth.DeploymentsRead, "List deployments"),
		func(ctx context.Context, in *struct{}) (*struct{ Body []DeploymentInfo }, error) {
			ds, err := s.st.ListDeployments(ctx)
			if err != nil {
				return nil, problem(err)
			}
			out := []DeploymentInfo{}
			for _, d := range ds {
				out = append(out, s.info(d))
			}
			return &struct{ Body []DeploymentInfo }{out}, nil
		})

	huma.Register(s.api, op("get-deployment", http.MethodGet, "/deployments/{flow}/{name}", auth.DeploymentsRead, "A deployment"),
		func(ctx context.Context, in *DeploymentPath) (*struct{ Body DeploymentInfo }, error) {
			d, err := s.st.GetDeployment(ctx, in.ref())
			if err != nil {
				return nil, problem(err)
			}
			return &struct{ Body DeploymentInfo }{s.info(d)}, nil
		})

	for _, p := range []struct {
		verb   string
		paused bool
	}{{"pause", true}, {"resume", false}} {
		huma.Register(s.api, op(p.verb+"-deployment", http.MethodPost, "/deployments/{flow}/{name}/"+p.verb, auth.DeploymentsWrite,
			strings.ToUpper(p.verb[:1])+p.verb[1:]+" a deployment's schedules and runs"),
			func(ctx context.Context, in *DeploymentPath) (*struct{ Body DeploymentInfo }, error) {
				d, err := s.st.PauseDeployment(ctx, in.ref(), p.paused, s.opt.Now())
				if err != nil {
					return nil, problem(err)
				}
				if !p.paused {
					s.changed(ctx)
				}
				return &struct{ Body DeploymentInfo }{s.info(d)}, nil
			})
	}

	huma.Register(s.api, op("delete-deployment", http.MethodDelete, "/deployments/{flow}/{name}", auth.DeploymentsWrite, "Delete a deployment and its runs not yet claimed"),
		func(ctx context.Context, in *DeploymentPath) (*struct{ Status int }, error) {
			if err := s.st.DeleteDeployment(ctx, in.ref()); err != nil {
				return nil, problem(err)
			}
			return &struct{ Status int }{http.StatusNoContent}, nil
		})

	huma.Register(s.api, op("create-run", http.MethodPost, "/deployments/{flow}/{name}/runs", auth.RunsCreate, "Create a run of a deployment, due now"),
		func(ctx context.Context, in *struct {
			DeploymentPath
			Body RunRequest
		}) (*struct {
			Status int
			Body   store.Run
		}, error) {
			r, err := s.createRun(ctx, in.DeploymentPath, in.Body.Parameters, store.NewRun{})
			if err != nil {
				return nil, err
			}
			return &struct {
				Status int
				Body   store.Run
			}{http.StatusCreated, r}, nil
		})

	huma.Register(s.api, op("create-child-run", http.MethodPost, "/runs/{id}/children", auth.RunsChildren,
		"Create a run of a deployment, due now, made by run {id} (run_deployment in its flow): its holder follows and may cancel it, and cancelling run {id} cancels it"),
		func(ctx context.Context, in *struct {
			RunPath
			Body ChildRunRequest
		}) (*struct {
			Status int
			Body   store.Run
		}, error) {
			parent, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			if parent.State != runtime.Pending && parent.State != runtime.Running {
				return nil, huma.Error409Conflict(fmt.Sprintf("run %s is %s: only a run being run makes runs", parent.ID, parent.State))
			}
			flow, name, ok := strings.Cut(in.Body.Deployment, "/")
			if !ok || flow == "" || name == "" || strings.Contains(name, "/") {
				return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("deployment: want FLOW/NAME, got %q", in.Body.Deployment))
			}
			r, err := s.createRun(ctx, DeploymentPath{Flow: flow, Name: name}, in.Body.Parameters,
				store.NewRun{Parent: parent.ID, ParentTaskRun: in.Body.TaskRun})
			if err != nil {
				return nil, err
			}
			return &struct {
				Status int
				Body   store.Run
			}{http.StatusCreated, r}, nil
		})
}

// createRun makes a run of deployment ref, due now, with params over
// the deployment's; nr gives the rest (who made it).
func (s *Server) createRun(ctx context.Context, ref DeploymentPath, params map[string]json.RawMessage, nr store.NewRun) (store.Run, error) {
	d, err := s.st.GetDeployment(ctx, ref.ref())
	if err != nil {
		return store.Run{}, problem(err)
	}
	ps, err := runParams(&d, params, true)
	if err != nil {
		return store.Run{}, huma.Error422UnprocessableEntity(err.Error())
	}
	nr.ID, nr.Deployment, nr.Parameters = runtime.NewRunID(), &d, ps
	r, err := s.st.CreateRun(ctx, nr, s.opt.Now())
	if err != nil {
		return store.Run{}, problem(err)
	}
	s.changed(ctx)
	return r, nil
}

// deployment checks a spec and makes the deployment it describes.
func (s *Server) deployment(ctx context.Context, ref DeploymentPath, sp *DeploymentSpec) (store.Deployment, error) {
	var errs []error
	bad := func(loc, format string, args ...any) {
		errs = append(errs, &huma.ErrorDetail{Location: loc, Message: fmt.Sprintf(format, args...)})
	}
	if ok, err := s.st.HasBundle(ctx, sp.Bundle); err != nil {
		return store.Deployment{}, problem(err)
	} else if !ok {
		bad("body.bundle", "no bundle %s: upload it first (PUT /api/v1/bundles/HASH)", sp.Bundle)
	}
	for i, sc := range sp.Schedules {
		if _, err := sc.Build(); err != nil {
			bad(fmt.Sprintf("body.schedules[%d]", i), "%v", err)
		}
	}
	var late time.Duration
	if sp.LateAfter != "" {
		var err error
		if late, err = time.ParseDuration(sp.LateAfter); err != nil || late < 0 {
			bad("body.late_after", "want a duration such as 15s")
		}
	}
	var timeout time.Duration
	if sp.Timeout != "" {
		var err error
		if timeout, err = time.ParseDuration(sp.Timeout); err != nil || timeout < 0 {
			bad("body.timeout", "want a duration such as 30m")
		}
	}
	pool := sp.Pool
	if pool == "" {
		pool = "default"
	}
	d := store.Deployment{ID: runtime.NewRunID(), Flow: ref.Flow, Name: ref.Name, File: sp.File, Bundle: sp.Bundle, Pool: pool,
		Catchup: sp.Catchup, Overlap: sp.Overlap, LateAfter: late, Tags: sp.Tags, Concurrency: sp.Concurrency, CrashRetries: sp.CrashRetries,
		Timeout: timeout}
	d.ParamSchema, _ = json.Marshal(orNone(sp.Params))
	d.Schedules, _ = json.Marshal(orNone(sp.Schedules))
	params, err := runParams(&d, sp.Parameters, false)
	if err != nil {
		bad("body.parameters", "%v", err)
	}
	d.Parameters = params
	if len(sp.JobVariables) > 0 {
		var p *store.Pool
		if got, err := s.st.GetPool(ctx, pool); err == nil {
			p = &got
		} else if !errors.Is(err, store.ErrNoSuch) {
			return d, problem(err)
		}
		bad := checkJobVariables(pool, p, sp.JobVariables)
		for _, k := range sortedNames(bad) {
			errs = append(errs, &huma.ErrorDetail{Location: "body.job_variables." + k, Message: bad[k].Error()})
		}
		d.JobVariables, _ = json.Marshal(sp.JobVariables)
	}
	if len(errs) > 0 {
		return d, huma.Error422UnprocessableEntity("the deployment is not valid", errs...)
	}
	return d, nil
}

// runParams merges given over the deployment's parameters and checks the
// result against the flow's: no unknown name, each of the type of its
// default, and, for a run (complete), every required one given.
func runParams(d *store.Deployment, given map[string]json.RawMessage, complete bool) (json.RawMessage, error) {
	var schema []Param
	if len(d.ParamSchema) > 0 {
		if err := json.Unmarshal(d.ParamSchema, &schema); err != nil {
			return nil, err
		}
	}
	merged := map[string]json.RawMessage{}
	if len(d.Parameters) > 0 {
		if err := json.Unmarshal(d.Parameters, &merged); err != nil {
			return nil, err
		}
	}
	for k, v := range given {
		merged[k] = v
	}
	known := map[string]Param{}
	for _, p := range schema {
		known[p.Name] = p
	}
	var problems []string
	names := make([]string, 0, len(merged))
	for k := range merged {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p, ok := known[k]
		switch {
		case !ok && len(schema) > 0:
			problems = append(problems, fmt.Sprintf("%s: the flow has no such parameter (it has %s)", k, paramNames(schema)))
		case ok && p.Type != "" && jsonType(merged[k]) != p.Type && !(p.Type == "number" && jsonType(merged[k]) == "integer"):
			problems = append(problems, fmt.Sprintf("%s: want %s (the type of its default), got %s", k, p.Type, jsonType(merged[k])))
		}
	}
	for _, p := range schema {
		if _, ok := merged[p.Name]; !ok && p.Default == nil && complete {
			problems = append(problems, fmt.Sprintf("%s: required (it has no default)", p.Name))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("parameters: %s", strings.Join(problems, "; "))
	}
	return json.Marshal(merged)
}

func paramNames(ps []Param) string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return strings.Join(n, ", ")
}

// jsonType is the JSON Schema type of a JSON value.
func jsonType(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "null"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(v, ".eE") {
		return "number"
	}
	return "integer"
}

// JSONType is the type a default gives its parameter.
func JSONType(v json.RawMessage) string {
	if t := jsonType(v); t != "null" {
		return t
	}
	return ""
}

// info adds the next five scheduled times to a deployment.
func (s *Server) info(d store.Deployment) DeploymentInfo {
	info := DeploymentInfo{Deployment: d, Next: []time.Time{}}
	scheds, _ := specs(&d)
	now := s.opt.Now()
	for _, sc := range scheds {
		t := now
		for range 5 {
			if t = sc.Next(t); t.IsZero() {
				break
			}
			info.Next = append(info.Next, t)
		}
	}
	sort.Slice(info.Next, func(i, j int) bool { return info.Next[i].Before(info.Next[j]) })
	info.Next = info.Next[:min(5, len(info.Next))]
	return info
}

// specs builds a deployment's schedules.
func specs(d *store.Deployment) ([]*schedule.Schedule, error) {
	var sp []schedule.Spec
	if err := json.Unmarshal(d.Schedules, &sp); err != nil {
		return nil, err
	}
	out := make([]*schedule.Schedule, 0, len(sp))
	for _, x := range sp {
		sc, err := x.Build()
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// checkBundle unpacks a bundle into a directory of its own, thrown away,
// by the rules a worker unpacks it by (package bundle: no "..", no
// absolute names, no links or devices, no bombs): a bundle the workers
// would refuse is refused at its upload, with the entry named.
func checkBundle(b []byte) error {
	dir, err := os.MkdirTemp("", "wfsh-bundle-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return bundle.Unpack(bytes.NewReader(b), dir, bundle.Limits{})
}
