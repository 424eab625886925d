package auth

import (
	"errors"
	"fmt"
)

// A Role is what a token may do; roles are stored by name.
type Role string

const (
	Admin     Role = "admin"     // tokens, secrets, everything
	Developer Role = "developer" // deploy, run, cancel
	Viewer    Role = "viewer"    // read
	Worker    Role = "worker"    // claim, heartbeat and report for one pool
	// Run is the role of a token made for one run by the worker holding
	// it (POST /runs/{id}/token), for the process that runs it elsewhere
	// (a Kubernetes Job's pod): it may report on, read and resolve the
	// secrets of that run only, while the run is held, and is revoked
	// when the run is claimed again or ends.
	Run Role = "run"
)

// roles are the roles, in the order of the table's columns.
var roles = [...]Role{Admin, Developer, Viewer, Worker, Run}

// Roles lists the roles.
func Roles() []Role { return append([]Role(nil), roles[:]...) }

// ParseRole reads the name of a role a token may be created with (a run
// token is made for its run, never by name).
func ParseRole(s string) (Role, error) {
	for _, r := range roles[:4] {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("auth: no role %q: one of admin, developer, viewer, worker", s)
}

// An Action is something a request does, named resource.verb.
type Action string

const (
	RunsRead         Action = "runs.read"
	RunsCreate       Action = "runs.create"
	RunsCancel       Action = "runs.cancel"
	RunsReport       Action = "runs.report"   // events, logs and states of a run being run
	RunsToken        Action = "runs.token"    // make a run token for a run held
	RunsResumed      Action = "runs.resumed"  // the graph and results of the run a held run resumes
	RunsChildren     Action = "runs.children" // make a run of a deployment as a child of a held run (run_deployment)
	DeploymentsRead  Action = "deployments.read"
	DeploymentsWrite Action = "deployments.write"
	BundlesRead      Action = "bundles.read"
	BundlesWrite     Action = "bundles.write"
	PoolsRead        Action = "pools.read" // pools and their workers
	PoolsWrite       Action = "pools.write"
	WorkersClaim     Action = "workers.claim"
	WorkersHeartbeat Action = "workers.heartbeat"
	SecretsReadValue Action = "secrets.read_value"
	SecretsWrite     Action = "secrets.write"
	SecretsList      Action = "secrets.list" // names only
	TokensWrite      Action = "tokens.write"
	TokensList       Action = "tokens.list"
	AuditRead        Action = "audit.read"
)

// A Principal is who makes a request: the token's ID, its role and, for
// a worker token, the one pool it serves; for a run token, its run.
type Principal struct {
	ID   string
	Role Role
	Pool string
	Run  string
}

// A Scope is what the server knows of the object an action touches, for
// the rules that depend on it: the pool of the run (or of the worker,
// for a claim or a heartbeat), and the ID of the token whose worker holds
// the run's lease ("" when no one holds it).
type Scope struct {
	Pool   string
	Holder string
	Run    string // the run's ID, for a run token's rule
	// Parent is the ID of the run that made this one (run_deployment in
	// its flow), ParentHolder the ID of the token whose worker holds the
	// parent's lease: whoever runs a run may follow and cancel the runs
	// it made.
	Parent, ParentHolder string
}

// A rule is one cell of the table: the conditions of which one is
// enough (no: none).
type rule uint8

const (
	no      rule = 0
	yes     rule = 1 << iota // always
	ownPool                  // the principal's pool is the scope's
	holder                   // the principal holds the run's lease (and serves its pool)
	ownRun                   // the run is the principal's, and held
	child                    // the run's parent is held by the principal (its worker, or the parent is its run)
)

// table is who may do what: one row per action, one column per role, in
// the order of roles. Values of secrets reach only whoever holds the run
// being run, an admin's own worker included: no API answer carries them
// otherwise. docs/security.md prints this table; a test compares them.
var table = map[Action][5]rule{
	//                 admin    developer viewer  worker  run
	RunsRead:         {yes, yes, yes, holder | child, ownRun | child},
	RunsCreate:       {yes, yes, no, no, no},
	RunsCancel:       {yes, yes, no, child, child},
	RunsReport:       {holder, no, no, holder, ownRun},
	RunsToken:        {holder, no, no, holder, no},
	RunsResumed:      {holder, no, no, holder, ownRun},
	RunsChildren:     {holder, no, no, holder, ownRun},
	DeploymentsRead:  {yes, yes, yes, no, no},
	DeploymentsWrite: {yes, yes, no, no, no},
	BundlesRead:      {yes, yes, no, holder, ownRun},
	BundlesWrite:     {yes, yes, no, no, no},
	PoolsRead:        {yes, yes, yes, ownPool, no},
	PoolsWrite:       {yes, no, no, no, no},
	WorkersClaim:     {yes, no, no, ownPool, no},
	WorkersHeartbeat: {yes, no, no, ownPool, no},
	SecretsReadValue: {holder, no, no, holder, ownRun},
	SecretsWrite:     {yes, no, no, no, no},
	SecretsList:      {yes, yes, no, no, no},
	TokensWrite:      {yes, no, no, no, no},
	TokensList:       {yes, no, no, no, no},
	AuditRead:        {yes, no, no, no, no},
}

// Actions lists every action of the table.
func Actions() []Action {
	out := make([]Action, 0, len(table))
	for a := range table {
		out = append(out, a)
	}
	return out
}

// The two kinds of refusal: the server answers 401 to the first and 403
// to the second.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
)

// An Error is a refusal; errors.Is tells its kind.
type Error struct {
	Err    error // ErrUnauthenticated or ErrForbidden
	Reason string
}

func (e *Error) Error() string { return e.Err.Error() + ": " + e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// Allow returns nil if p may do action on what scope describes, an
// *Error otherwise: ErrUnauthenticated when there is no principal,
// ErrForbidden when it may not.
func Allow(p *Principal, action Action, scope Scope) error {
	if p == nil {
		return &Error{Err: ErrUnauthenticated, Reason: "no token"}
	}
	row, ok := table[action]
	col := roleIndex(p.Role)
	switch {
	case !ok:
		return forbidden("no action %q", action)
	case col < 0:
		return forbidden("no role %q", p.Role)
	case p.Role == Worker && p.Pool == "":
		return forbidden("a worker token with no pool")
	case p.Role == Run && p.Run == "":
		return forbidden("a run token with no run")
	}
	r := row[col]
	if r&yes != 0 ||
		r&ownPool != 0 && scope.Pool != "" && scope.Pool == p.Pool ||
		r&holder != 0 && scope.Holder != "" && scope.Holder == p.ID && (p.Pool == "" || scope.Pool == p.Pool) ||
		r&ownRun != 0 && scope.Run != "" && scope.Run == p.Run && scope.Holder != "" ||
		r&child != 0 && parentHeld(p, scope) {
		return nil
	}
	switch r {
	case no:
		return forbidden("%s: not for a %s token", action, p.Role)
	case ownPool:
		return forbidden("%s: a worker token of pool %q, not of %q", action, p.Pool, scope.Pool)
	case holder:
		return forbidden("%s: only for a run this token's worker holds", action)
	case ownRun:
		return forbidden("%s: only for run %s while it is held", action, p.Run)
	case child:
		return forbidden("%s: only for a run made by a run this token holds", action)
	case holder | child:
		return forbidden("%s: only for a run this token's worker holds, or one such a run made", action)
	case ownRun | child:
		return forbidden("%s: only for run %s while it is held, or a run it made", action, p.Run)
	}
	return forbidden("%s: not for this %s token", action, p.Role)
}

// parentHeld reports whether the scope's run was made by a run the
// principal holds: a worker token whose worker holds the parent, or a
// run token of the parent while it is held.
func parentHeld(p *Principal, scope Scope) bool {
	if scope.Parent == "" || scope.ParentHolder == "" {
		return false
	}
	if p.Role == Run {
		return scope.Parent == p.Run
	}
	return scope.ParentHolder == p.ID
}

func roleIndex(r Role) int {
	for i, x := range roles {
		if x == r {
			return i
		}
	}
	return -1
}

func forbidden(format string, args ...any) error {
	return &Error{Err: ErrForbidden, Reason: fmt.Sprintf(format, args...)}
}
