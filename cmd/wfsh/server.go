//go:build !wfshlight

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/seal"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
	"github.com/wfsh/wfsh/web"
)

type serverFlags struct {
	db, listen       string
	tlsCert, tlsKey  string
	lease, leaderTTL time.Duration
	kubePools        string
	kubePoolVars     string
	kubePoolTmpls    string
	cpuProfile       string
}

func newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: fullOnly["server"],
		Long: `Serve the API under /api/v1 (its OpenAPI document at /api/v1/openapi.json),
make the runs of deployments' schedules, and end the runs whose worker
stopped renewing its lease. SQLite under $WFSH_HOME by default. The first
start prints an admin token once (or takes WFSH_ADMIN_TOKEN). Secrets are
sealed with WFSH_SECRET_KEY, else a key file made beside the database.
See docs/server.md.`,
		Example: `  wfsh server
  wfsh server --listen 127.0.0.1:4200 --db /var/lib/wfsh/server.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runServer(cmd, &f) },
	}
	cmd.AddCommand(newServerMigrateCmd(&f))
	fl := cmd.Flags()
	cmd.PersistentFlags().StringVar(&f.db, "db", "", "the database: a SQLite file (default $WFSH_HOME/server.db) or a postgres:// URL")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:4200", "the address to serve on")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the certificate's key (PEM)")
	fl.DurationVar(&f.lease, "lease", 30*time.Second, "how long a worker holds a run without a heartbeat")
	fl.DurationVar(&f.leaderTTL, "leader-ttl", 10*time.Second, "the leader lease of the scheduler and reaper")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the server to this file until it stops (for benchmarks)")
	fl.MarkHidden("cpuprofile")
	fl.StringVar(&f.kubePoolVars, "kubernetes-pool-variables", "", "a directory whose file NAME lists the job variables the deployments of pool NAME (one of --kubernetes-pools) may set, comma or space separated: they replace the pool's at each start (a mounted ConfigMap)")
	fl.StringVar(&f.kubePoolTmpls, "kubernetes-pool-templates", "", "a directory whose file NAME is the base Job template of pool NAME (one of --kubernetes-pools), a batch/v1 Job in YAML or JSON: it replaces the pool's at each start (a mounted ConfigMap)")
	fl.StringVar(&f.kubePools, "kubernetes-pools", "", "a directory whose file NAME holds the worker token of pool NAME: each pool made of type kubernetes, each token accepted (a mounted Secret: docs/kubernetes.md)")
	return cmd
}

func (f *serverFlags) dbPath() (string, error) {
	if f.db != "" {
		return f.db, nil
	}
	p, err := store.DefaultPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), "server.db"), nil
}

func runServer(cmd *cobra.Command, f *serverFlags) error {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return badInput(fmt.Errorf("--tls-cert and --tls-key go together"))
	}
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return badInput(fmt.Errorf("--cpuprofile: %v", err))
		}
		defer stop()
	}
	path, err := f.dbPath()
	if err != nil {
		return storeErr(err)
	}
	st, err := store.Open(path)
	if err != nil {
		return storeErr(err)
	}
	defer st.Close()
	keyDir := filepath.Dir(path)
	if store.IsPostgres(path) {
		// The key file, when WFSH_SECRET_KEY is not set, is this
		// machine's: several servers on one database need the variable.
		def, err := store.DefaultPath()
		if err != nil {
			return storeErr(err)
		}
		keyDir = filepath.Dir(def)
	}
	box, err := seal.Load(os.Getenv(seal.EnvKey), keyDir)
	if err != nil {
		return badInput(err)
	}
	srv := server.New(server.Options{Store: st, Sealer: box, Lease: f.lease, LeaderTTL: f.leaderTTL, Log: cmd.ErrOrStderr()})
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tok, err := srv.Bootstrap(ctx, os.Getenv("WFSH_ADMIN_TOKEN"))
	var bad *server.BadAdminToken
	if errors.As(err, &bad) {
		return badInput(err)
	}
	if err != nil {
		return storeErr(err)
	}
	if err := declarePools(ctx, srv, f); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return badInput(fmt.Errorf("--listen %s: %v", f.listen, err))
	}
	scheme := "http"
	if f.tlsCert != "" {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String()
	out := cmd.OutOrStdout()
	where := path
	if store.IsPostgres(path) {
		where = "PostgreSQL"
	}
	fmt.Fprintf(out, "wfsh server on %s (database %s)\n", url, where)
	if tok != "" {
		fmt.Fprintf(out, "admin token (shown once, keep it):\n  export WFSH_SERVER=%s WFSH_TOKEN=%s\n", url, tok)
	}
	ui := web.New(web.Options{API: srv.Handler(), Secure: f.tlsCert != ""}) // the web UI at /, the API under /api/v1
	hs := &http.Server{Handler: ui.Handler(), ReadHeaderTimeout: 10 * time.Second}
	// Shutting down ends the long polls and streams at once; it waits
	// only for calls doing work (5 s at most, below).
	hs.RegisterOnShutdown(func() { srv.Stop(); ui.Stop() })
	errc := make(chan error, 2)
	go func() {
		if f.tlsCert != "" {
			errc <- hs.ServeTLS(ln, f.tlsCert, f.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	go func() { errc <- srv.Run(ctx) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(shut)
	fmt.Fprintln(cmd.ErrOrStderr(), "wfsh server: stopped")
	return nil
}

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
