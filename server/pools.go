package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/store"
)

// PoolSpec is what PUT /pools/{pool} sets. A Job template or job
// variables left out keep the pool's; an empty template ({}) removes it
// (the pool's workers then use their own, --job-template).
type PoolSpec struct {
	Type        string `json:"type" enum:"process,kubernetes"`
	Concurrency int    `json:"concurrency,omitempty" minimum:"0"`
	// JobTemplate is a kubernetes pool's base Job, a batch/v1 Job
	// manifest as JSON.
	JobTemplate json.RawMessage `json:"job_template,omitempty" doc:"a kubernetes pool's base Job: a batch/v1 Job manifest (namespace, image, service account, resources...); {} removes it"`
	// JobVariables are the job variables its deployments may set.
	JobVariables *[]string `json:"job_variables,omitempty" doc:"the job variables its deployments may set: image, image_pull_policy, service_account_name, resources, env, node_selector, tolerations, labels, annotations, ttl_seconds_after_finished, active_deadline_seconds"`
}

// poolOf checks a pool's spec and makes the pool it describes over the
// one stored, if any.
func (s *Server) poolOf(ctx context.Context, name string, sp *PoolSpec) (store.Pool, error) {
	p, err := s.st.GetPool(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNoSuch) {
		return p, problem(err)
	}
	p.Name, p.Type, p.Concurrency = name, sp.Type, sp.Concurrency
	var errs []error
	bad := func(loc, format string, args ...any) {
		errs = append(errs, &huma.ErrorDetail{Location: loc, Message: fmt.Sprintf(format, args...)})
	}
	switch t := sp.JobTemplate; {
	case len(t) == 0:
	case string(t) == "{}" || string(t) == "null":
		p.JobTemplate = nil
	default:
		if err := CheckJobTemplate(t); err != nil {
			bad("body.job_template", "%v", err)
		}
		p.JobTemplate = t
	}
	if sp.JobVariables != nil {
		p.JobVariables = *sp.JobVariables
		for i, k := range p.JobVariables {
			if _, ok := jobVariables[k]; !ok {
				bad(fmt.Sprintf("body.job_variables[%d]", i), "no job variable %q (there are: %s)", k, strings.Join(JobVariableNames(), ", "))
			}
		}
	}
	if p.Type != "kubernetes" && (len(p.JobTemplate) > 0 || len(p.JobVariables) > 0) {
		bad("body.type", "a Job template and job variables are for a pool of type kubernetes, not %s", p.Type)
	}
	if len(errs) > 0 {
		return p, huma.Error422UnprocessableEntity("the pool is not valid", errs...)
	}
	return p, nil
}

// claimedDeployment is a claimed run's deployment, read once per claim.
func (s *Server) claimedDeployment(ctx context.Context, seen map[string]store.Deployment, id string) (store.Deployment, bool) {
	if d, ok := seen[id]; ok {
		return d, true
	}
	d, err := s.st.GetDeployment(ctx, id)
	if err != nil {
		return d, false // deleted since: the run goes on with the pool's template
	}
	seen[id] = d
	return d, true
}
