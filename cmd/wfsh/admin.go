package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// The server's objects as commands: wfsh login, token, secret, pool,
// deployment. Each is a client of the API (docs/server.md).

func newLoginCmd() *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   "login URL",
		Short: "Keep a server and its token in a profile (0600) that client commands use",
		Long: `Check the token against the server and keep both in $WFSH_HOME/profile.json
(mode 0600): the commands that take --server use them when neither --server
nor WFSH_SERVER is given. The token comes from --token, else WFSH_TOKEN, else
the first line of standard input.`,
		Example: `  wfsh login http://127.0.0.1:4200 < token.txt`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if token == "" {
				token = os.Getenv("WFSH_TOKEN")
			}
			if token == "" {
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				token = strings.TrimSpace(line)
			}
			if token == "" {
				return badInput(fmt.Errorf("no token: give --token, set WFSH_TOKEN or pass it on standard input"))
			}
			c := &server.Client{Base: strings.TrimRight(args[0], "/"), Token: token}
			var runs server.RunList
			if err := c.Do(cmd.Context(), "GET", "/runs?limit=1", nil, &runs); err != nil {
				return remoteErr(err)
			}
			path, err := profilePath()
			if err != nil {
				return storeErr(err)
			}
			if err := writePrivate(path, profile{Server: c.Base, Token: token}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s (profile %s)\n", c.Base, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "the token (default $WFSH_TOKEN, else standard input)")
	return cmd
}

// writePrivate writes v as JSON to path, readable by its owner only,
// replacing the file whole.
func writePrivate(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// clientCmd is a subcommand that talks to the server.
func clientCmd(use, short string, args cobra.PositionalArgs, run func(cmd *cobra.Command, c *server.Client, args []string) error) *cobra.Command {
	var r remoteFlags
	cmd := &cobra.Command{Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := run(cmd, c, a); err != nil {
				var ee *exitError
				if asExit(err, &ee) {
					return err
				}
				return remoteErr(err)
			}
			return nil
		}}
	r.register(cmd.Flags())
	return cmd
}

func asExit(err error, target **exitError) bool {
	e, ok := err.(*exitError)
	if ok {
		*target = e
	}
	return ok
}

func table(out io.Writer, head string, rows [][]string) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		for i := range r {
			r[i] = output.Cell(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens (admin)"}
	var req server.TokenRequest
	create := clientCmd("create", "Create a token; it is printed once", cobra.NoArgs, func(cmd *cobra.Command, c *server.Client, _ []string) error {
		if req.Name == "" {
			req.Name = req.Role
		}
		var out server.NewTokenReply
		if err := c.Do(cmd.Context(), "POST", "/tokens", req, &out); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), out.Token)
		fmt.Fprintf(cmd.ErrOrStderr(), "wfsh: token %s (%s%s) made; it is not shown again\n", out.Info.ID, out.Info.Role, poolSuffix(out.Info.Pool))
		return nil
	})
	fl := create.Flags()
	fl.StringVar(&req.Role, "role", "developer", "admin, developer, viewer or worker")
	fl.StringVar(&req.Pool, "pool", "", "a worker token's pool")
	fl.StringVar(&req.Name, "name", "", "what the token is for")
	fl.StringVar(&req.ExpiresIn, "expires-in", "", "a duration (e.g. 720h); default never")
	ls := clientCmd("ls", "List tokens (never their values)", cobra.NoArgs, func(cmd *cobra.Command, c *server.Client, _ []string) error {
		var ts []store.Token
		if err := c.Do(cmd.Context(), "GET", "/tokens", nil, &ts); err != nil {
			return err
		}
		var rows [][]string
		for _, t := range ts {
			rows = append(rows, []string{t.ID, t.Name, t.Role + poolSuffix(t.Pool), stamp(t.CreatedAt), stamp(t.ExpiresAt), stamp(t.RevokedAt)})
		}
		return table(cmd.OutOrStdout(), "ID\tNAME\tROLE\tCREATED\tEXPIRES\tREVOKED", rows)
	})
	revoke := clientCmd("revoke ID", "Revoke a token", cobra.ExactArgs(1), func(cmd *cobra.Command, c *server.Client, a []string) error {
		return c.Do(cmd.Context(), "DELETE", "/tokens/"+server.PathEscape(a[0]), nil, nil)
	})
	generate := &cobra.Command{Use: "generate", Short: "Print a new token, made here (for WFSH_ADMIN_TOKEN; no server is asked)",
		Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), auth.New().Plaintext)
			return nil
		}}
	cmd.AddCommand(create, ls, revoke, generate)
	return cmd
}

func poolSuffix(pool string) string {
	if pool == "" {
		return ""
	}
	return " of pool " + pool
}

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Set, list and remove the server's secrets (values never shown)"}
	set := clientCmd("set NAME", "Set a secret; its value is read from standard input", cobra.ExactArgs(1), func(cmd *cobra.Command, c *server.Client, a []string) error {
		v, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20+1))
		if err != nil {
			return err
		}
		if len(v) > 1<<20 {
			return badInput(fmt.Errorf("secret %s: the value is over 1 MiB", a[0]))
		}
		return c.Do(cmd.Context(), "PUT", "/secrets/"+server.PathEscape(a[0]), v, nil)
	})
	ls := clientCmd("ls", "List secrets: names and dates", cobra.NoArgs, func(cmd *cobra.Command, c *server.Client, _ []string) error {
		var ss []store.SecretInfo
		if err := c.Do(cmd.Context(), "GET", "/secrets", nil, &ss); err != nil {
			return err
		}
		var rows [][]string
		for _, s := range ss {
			rows = append(rows, []string{s.Name, stamp(s.CreatedAt), stamp(s.UpdatedAt)})
		}
		return table(cmd.OutOrStdout(), "NAME\tCREATED\tUPDATED", rows)
	})
	rm := clientCmd("rm NAME", "Remove a secret", cobra.ExactArgs(1), func(cmd *cobra.Command, c *server.Client, a []string) error {
		return c.Do(cmd.Context(), "DELETE", "/secrets/"+server.PathEscape(a[0]), nil, nil)
	})
	cmd.AddCommand(set, ls, rm)
	return cmd
}

func newPoolCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pool", Short: "Create, change, show, list, pause and resume work pools"}
	var pf poolFlags
	create := clientCmd("create NAME", "Create a work pool (or change its type and limit)", cobra.ExactArgs(1), func(cmd *cobra.Command, c *server.Client, a []string) error {
		sp := server.PoolSpec{Type: pf.typ, Concurrency: pf.limit}
		if err := pf.job(cmd, &sp); err != nil {
			return err
		}
		return c.Do(cmd.Context(), "PUT", "/pools/"+server.PathEscape(a[0]), sp, nil)
	})
	pf.register(create, true)
	var sf poolFlags
	set := clientCmd("set NAME", "Change a work pool: its limit, its Job template, the job variables its deployments may set", cobra.ExactArgs(1), func(cmd *cobra.Command, c *server.Client, a []string) error {
		var p store.Pool
		if err := c.Do(cmd.Context(), "GET", "/pools/"+server.PathEscape(a[0]), nil, &p); err != nil {
			return err
		}
		sp := server.PoolSpec{Type: p.Type, Concurrency: p.Concurrency}
		if cmd.Flags().Changed("type") {
			sp.Type = sf.typ
		}
		if cmd.Flags().Changed("concurrency") {
			sp.Concurrency = sf.limit
		}
		if err := sf.job(cmd, &sp); err != nil {
			return err
		}
		return c.Do(cmd.Context(), "PUT", "/pools/"+server.PathEscape(a[0]), sp, nil)
	})
	sf.register(set, false)
	show := clientCmd("show NAME", "Show a work pool as JSON, its Job template and job variables with it", cobra.ExactArgs(1), func(cmd *cobra.Command, c *server.Client, a []string) error {
		var p store.Pool
		if err := c.Do(cmd.Context(), "GET", "/pools/"+server.PathEscape(a[0]), nil, &p); err != nil {
			return err
		}
		b, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
		return err
	})
	ls := clientCmd("ls", "List pools and their workers", cobra.NoArgs, func(cmd *cobra.Command, c *server.Client, _ []string) error {
		var ps []store.Pool
		var ws []store.Worker
		if err := c.Do(cmd.Context(), "GET", "/pools", nil, &ps); err != nil {
			return err
		}
		if err := c.Do(cmd.Context(), "GET", "/workers", nil, &ws); err != nil {
			return err
		}
		var rows [][]string
		for _, p := range ps {
			paused, n, busy := "", 0, 0
			if p.Paused {
				paused = "paused"
			}
			for _, w := range ws {
				if w.Pool == p.Name {
					n, busy = n+1, busy+w.Running
				}
			}
			rows = append(rows, []string{p.Name, p.Type, fmt.Sprint(n), fmt.Sprint(busy), limitText(p.Concurrency), paused})
		}
		return table(cmd.OutOrStdout(), "POOL\tTYPE\tWORKERS\tRUNNING\tLIMIT\tPAUSED", rows)
	})
	cmd.AddCommand(create, set, show, ls, pauseCmd("pools", "pause", "Pause a pool: its workers claim nothing"),
		pauseCmd("pools", "resume", "Resume a paused pool"))
	return cmd
}

// poolFlags are the flags of `wfsh pool create` and `wfsh pool set`.
type poolFlags struct {
	typ, template string
	limit         int
	vars          []string
}

func (f *poolFlags) register(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.typ, "type", "process", "process or kubernetes")
	fl.IntVar(&f.limit, "concurrency", 0, "runs at once in the pool (0: no limit)")
	fl.StringVar(&f.template, "job-template", "", `a kubernetes pool: its base Job template, a batch/v1 Job manifest (YAML or JSON); "" with pool set: none (the workers' own)`)
	fl.StringSliceVar(&f.vars, "job-variables", nil, "a kubernetes pool: the job variables its deployments may set (wfsh deploy --job-var), e.g. image,resources,node_selector")
}

// job puts the Job template and job variables the flags give in sp.
func (f *poolFlags) job(cmd *cobra.Command, sp *server.PoolSpec) error {
	if fl := cmd.Flags().Lookup("job-template"); fl.Changed {
		sp.JobTemplate = json.RawMessage("{}")
		if f.template != "" {
			t, err := readYAMLObject("--job-template", f.template)
			if err != nil {
				return badInput(err)
			}
			sp.JobTemplate = t
		}
	}
	if cmd.Flags().Changed("job-variables") {
		vars := append([]string{}, f.vars...)
		sp.JobVariables = &vars
	}
	return nil
}

func limitText(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// pauseCmd is `wfsh pool|deployment pause|resume REF`.
func pauseCmd(kind, verb, short string) *cobra.Command {
	return clientCmd(verb+" REF", short, cobra.ExactArgs(1), func(cmd *cobra.Command, c *server.Client, a []string) error {
		path := "/" + kind + "/" + server.PathEscape(a[0])
		if kind == "deployments" {
			flow, name, ok := strings.Cut(a[0], "/")
			if !ok {
				return badInput(fmt.Errorf("%q: want FLOW/NAME", a[0]))
			}
			path = "/deployments/" + server.PathEscape(flow) + "/" + server.PathEscape(name)
		}
		return c.Do(cmd.Context(), "POST", path+"/"+verb, nil, nil)
	})
}

func newDeploymentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deployment", Short: "List, pause, resume and remove deployments"}
	ls := clientCmd("ls", "List deployments with their next run", cobra.NoArgs, func(cmd *cobra.Command, c *server.Client, _ []string) error {
		var ds []server.DeploymentInfo
		if err := c.Do(cmd.Context(), "GET", "/deployments", nil, &ds); err != nil {
			return err
		}
		var rows [][]string
		for _, d := range ds {
			next, paused := "-", ""
			if len(d.Next) > 0 && !d.Paused {
				next = stamp(d.Next[0])
			}
			if d.Paused {
				paused = "paused"
			}
			rows = append(rows, []string{d.Ref(), d.Pool, shortHash(d.Bundle), next, paused})
		}
		return table(cmd.OutOrStdout(), "DEPLOYMENT\tPOOL\tBUNDLE\tNEXT RUN\tPAUSED", rows)
	})
	rm := clientCmd("rm FLOW/NAME", "Remove a deployment and its runs not yet claimed", cobra.ExactArgs(1), func(cmd *cobra.Command, c *server.Client, a []string) error {
		flow, name, ok := strings.Cut(a[0], "/")
		if !ok {
			return badInput(fmt.Errorf("%q: want FLOW/NAME", a[0]))
		}
		return c.Do(cmd.Context(), "DELETE", "/deployments/"+server.PathEscape(flow)+"/"+server.PathEscape(name), nil, nil)
	})
	cmd.AddCommand(ls, rm, pauseCmd("deployments", "pause", "Pause a deployment: no runs are made or claimed"),
		pauseCmd("deployments", "resume", "Resume a paused deployment"))
	return cmd
}
