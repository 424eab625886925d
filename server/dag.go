package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/store"
)

// DAGNode is a node of a run's graph as the API gives it (store.DAGNode):
// its run name, task, kind ("task", "param", ...), whether it is mapped,
// and its edges by the run names of the nodes they come from (an input
// mapped over as "*name", a branch condition as "name label").
type DAGNode struct {
	Name     string   `json:"name"`
	Task     string   `json:"task"`
	Kind     string   `json:"kind"`
	Mapped   bool     `json:"mapped,omitempty"`
	Inputs   []string `json:"inputs,omitempty"`
	Upstream []string `json:"upstream,omitempty"`
	Guards   []string `json:"guards,omitempty"`
}

func (s *Server) dagRoutes() {
	huma.Register(s.api, op("run-dag", http.MethodGet, "/runs/{id}/dag", auth.RunsRead, "The graph a run was recorded with"),
		func(ctx context.Context, in *RunPath) (*struct{ Body []DAGNode }, error) {
			r, err := s.serverRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			d, err := s.st.RunDAG(ctx, r.ID)
			if errors.Is(err, store.ErrNoDAG) {
				return nil, huma.Error404NotFound("run " + r.ID + " has no graph yet: its worker has not started it")
			}
			if err != nil {
				return nil, problem(err)
			}
			return &struct{ Body []DAGNode }{apiDAG(d)}, nil
		})
}

// Whoami is the token a request is made with: its public id, role and,
// for a worker token, pool. The web UI shows the buttons the role allows.
type Whoami struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	Pool string `json:"pool,omitempty"`
}

func (s *Server) whoamiRoutes() {
	// runs.read: the roles that may browse the UI (a worker token reads
	// only the runs it holds, and is refused here).
	huma.Register(s.api, op("whoami", http.MethodGet, "/whoami", auth.RunsRead, "The token this request is made with"),
		func(ctx context.Context, in *struct{}) (*struct{ Body Whoami }, error) {
			p := principalOf(ctx)
			return &struct{ Body Whoami }{Whoami{ID: p.ID, Role: string(p.Role), Pool: p.Pool}}, nil
		})
}
