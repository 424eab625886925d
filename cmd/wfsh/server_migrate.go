//go:build !wfshlight

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

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

// declarePools reads --kubernetes-pools (a mounted Secret: a file a
// key, hidden entries its own), --kubernetes-pool-variables and
// --kubernetes-pool-templates (mounted ConfigMaps, read the same way),
// and has the server make the pools, accept their tokens and take their
// job variables and base Job templates.
func declarePools(ctx context.Context, srv *server.Server, f *serverFlags) error {
	dir := f.kubePools
	if dir == "" {
		for _, fl := range []struct{ name, dir string }{{"--kubernetes-pool-variables", f.kubePoolVars}, {"--kubernetes-pool-templates", f.kubePoolTmpls}} {
			if fl.dir != "" {
				return badInput(fmt.Errorf("%s needs --kubernetes-pools (the pools it names)", fl.name))
			}
		}
		return nil
	}
	tokens, err := volumeFiles("--kubernetes-pools", dir)
	if err != nil {
		return err
	}
	var pts []server.PoolToken
	for name, b := range tokens {
		pts = append(pts, server.PoolToken{Pool: name, Type: "kubernetes", Token: strings.TrimSpace(string(b))})
	}
	// declared finds pool name among --kubernetes-pools for the file of
	// another flag.
	declared := func(flag, fdir, name string) (*server.PoolToken, error) {
		i := slices.IndexFunc(pts, func(pt server.PoolToken) bool { return pt.Pool == name })
		if i < 0 {
			return nil, badInput(fmt.Errorf("%s: %s: pool %s is not one of --kubernetes-pools %s", flag, filepath.Join(fdir, name), name, dir))
		}
		return &pts[i], nil
	}
	if vars := f.kubePoolVars; vars != "" {
		lists, err := volumeFiles("--kubernetes-pool-variables", vars)
		if err != nil {
			return err
		}
		for name, b := range lists {
			pt, err := declared("--kubernetes-pool-variables", vars, name)
			if err != nil {
				return err
			}
			pt.JobVariables = strings.FieldsFunc(string(b), func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
			if pt.JobVariables == nil {
				pt.JobVariables = []string{} // none: the pool allows none
			}
		}
	}
	if tmpls := f.kubePoolTmpls; tmpls != "" {
		files, err := volumeFiles("--kubernetes-pool-templates", tmpls)
		if err != nil {
			return err
		}
		for name, b := range files {
			pt, err := declared("--kubernetes-pool-templates", tmpls, name)
			if err != nil {
				return err
			}
			if pt.JobTemplate, err = parseYAMLObject("--kubernetes-pool-templates", filepath.Join(tmpls, name), b); err != nil {
				return badInput(err)
			}
		}
	}
	slices.SortFunc(pts, func(a, b server.PoolToken) int { return strings.Compare(a.Pool, b.Pool) })
	err = srv.EnsurePools(ctx, pts)
	var bad *server.BadPoolToken
	var badVars *server.BadJobVariables
	var badTmpl *server.BadJobTemplate
	switch {
	case errors.As(err, &bad):
		return badInput(fmt.Errorf("--kubernetes-pools %s: %w", dir, err))
	case errors.As(err, &badVars):
		return badInput(fmt.Errorf("--kubernetes-pool-variables %s: %w", f.kubePoolVars, err))
	case errors.As(err, &badTmpl):
		return badInput(fmt.Errorf("--kubernetes-pool-templates %s: %w", filepath.Join(f.kubePoolTmpls, badTmpl.Pool), err))
	case err != nil:
		return storeErr(err)
	}
	return nil
}

// volumeFiles reads the files of a mounted Secret's or ConfigMap's
// directory, by pool name (the kubelet's own entries, hidden, skipped).
func volumeFiles(flag, dir string) (map[string][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, badInput(fmt.Errorf("%s: %w", flag, err))
	}
	out := map[string][]byte{}
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
			return nil, badInput(fmt.Errorf("%s: %s: %q is not a pool name (letters, digits, _ . -, at most 64)", flag, p, name))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, badInput(fmt.Errorf("%s: %w", flag, err))
		}
		out[name] = b
	}
	return out, nil
}
