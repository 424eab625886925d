//go:build !wfshlight

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

type serverMigrateFlags struct {
	wait time.Duration
}

func newServerMigrateCmd(sf *serverFlags) *cobra.Command {
	var f serverMigrateFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the server's database schema up to date, then exit",
		Long: `Apply the database migrations this wfsh knows and the database has not
seen, then exit: what wfsh server does at its start, alone, so that a
deployment can migrate before it starts servers (the Helm chart's
migration Job and init container). Several at once are safe: each
migration runs once, under a lock. --wait retries a database that does
not answer yet (one starting beside it) for that long.`,
		Example: `  wfsh server migrate --db postgres://wfsh@db/wfsh --wait 5m`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return runServerMigrate(cmd, sf, &f) },
	}
	cmd.Flags().DurationVar(&f.wait, "wait", 0, "retry opening the database for this long (0: once)")
	return cmd
}

func runServerMigrate(cmd *cobra.Command, sf *serverFlags, f *serverMigrateFlags) error {
	path, err := sf.dbPath()
	if err != nil {
		return storeErr(err)
	}
	st, err := openRetrying(cmd, path, f.wait)
	if err != nil {
		return storeErr(err)
	}
	defer st.Close()
	v, err := st.Version(cmd.Context())
	if err != nil {
		return storeErr(err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "database %s: schema version %d (up to date)\n", st.Path(), v)
	return nil
}

// openRetrying opens the store, trying again every 2 s for wait while it
// fails; each new error is said once on stderr.
func openRetrying(cmd *cobra.Command, path string, wait time.Duration) (*store.Store, error) {
	deadline := time.Now().Add(wait)
	last := ""
	for {
		st, err := store.Open(path)
		if err == nil || !time.Now().Before(deadline) {
			return st, err
		}
		if err.Error() != last {
			last = err.Error()
			fmt.Fprintf(cmd.ErrOrStderr(), "wfsh server migrate: %v (trying again until %s)\n", err, deadline.UTC().Format(time.RFC3339))
		}
		select {
		case <-cmd.Context().Done():
			return nil, cmd.Context().Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// poolName is the form of a pool's name (the API's).
var poolName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// declarePools reads --kubernetes-pools DIR (a mounted Secret: a file a
// key, hidden entries its own) and has the server make the pools and
// accept their tokens.
func declarePools(ctx context.Context, srv *server.Server, dir string) error {
	if dir == "" {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return badInput(fmt.Errorf("--kubernetes-pools: %w", err))
	}
	var pts []server.PoolToken
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue // ..data and its timestamped directory, in a Secret's volume
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			continue
		}
		if !poolName.MatchString(name) {
			return badInput(fmt.Errorf("--kubernetes-pools: %s: %q is not a pool name (letters, digits, _ . -, at most 64)", p, name))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return badInput(fmt.Errorf("--kubernetes-pools: %w", err))
		}
		pts = append(pts, server.PoolToken{Pool: name, Type: "kubernetes", Token: strings.TrimSpace(string(b))})
	}
	err = srv.EnsurePools(ctx, pts)
	var bad *server.BadPoolToken
	if errors.As(err, &bad) {
		return badInput(fmt.Errorf("--kubernetes-pools %s: %w", dir, err))
	}
	if err != nil {
		return storeErr(err)
	}
	return nil
}
