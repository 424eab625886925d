//go:build !wfshlight

package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// wfsh limit set|ls|rm: concurrency limits on tags, on the server when one
// is named (--server, WFSH_SERVER, the profile), else on the local store
// (--store): task runs tagged TAG of every run sharing it (docs/cli.md).

// limits is where the limits are kept: a server or the local store.
type limits interface {
	put(ctx context.Context, tag string, n int) error
	list(ctx context.Context) ([]store.Limit, error)
	remove(ctx context.Context, tag string) error
}

type serverLimits struct{ c *server.Client }

func (l serverLimits) put(ctx context.Context, tag string, n int) error {
	return l.c.Do(ctx, "PUT", "/limits/"+server.PathEscape(tag), map[string]int{"slots": n}, nil)
}

func (l serverLimits) list(ctx context.Context) ([]store.Limit, error) {
	var ls []store.Limit
	err := l.c.Do(ctx, "GET", "/limits", nil, &ls)
	return ls, err
}

func (l serverLimits) remove(ctx context.Context, tag string) error {
	return l.c.Do(ctx, "DELETE", "/limits/"+server.PathEscape(tag), nil, nil)
}

type storeLimits struct{ st *store.Store }

func (l storeLimits) put(ctx context.Context, tag string, n int) error {
	return l.st.PutLimit(ctx, tag, n)
}

func (l storeLimits) list(ctx context.Context) ([]store.Limit, error) {
	return l.st.ListLimits(ctx)
}

func (l storeLimits) remove(ctx context.Context, tag string) error {
	err := l.st.DeleteLimit(ctx, tag)
	if errors.Is(err, store.ErrNoSuch) {
		return badInput(err)
	}
	return err
}

// limitCmd is a limit command that works on the server if one is named,
// else on the local store.
func limitCmd(use, short string, args cobra.PositionalArgs, run func(cmd *cobra.Command, l limits, a []string) error) *cobra.Command {
	var r remoteFlags
	var sf storeFlag
	cmd := &cobra.Command{Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			if r.active() {
				c, err := r.client()
				if err != nil {
					return err
				}
				return remoteOrExit(run(cmd, serverLimits{c}, a))
			}
			st, err := sf.open()
			if err != nil {
				return err
			}
			defer st.Close()
			err = run(cmd, storeLimits{st}, a)
			var ee *exitError
			if err != nil && !asExit(err, &ee) {
				return storeErr(err)
			}
			return err
		}}
	r.register(cmd.Flags())
	sf.register(cmd.Flags())
	return cmd
}

// remoteOrExit is err as a client command reports it.
func remoteOrExit(err error) error {
	var ee *exitError
	if err == nil || asExit(err, &ee) {
		return err
	}
	return remoteErr(err)
}

func newLimitCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "limit", Short: fullOnly["limit"],
		Long: `A limit on TAG caps the task runs tagged TAG (@task(tags=["TAG"])) running at
once, across every process sharing the store, or the server; on a server it
also caps the runs of deployments tagged TAG. Without --server (nor
WFSH_SERVER, nor a profile) the limits are the local store's (--store).`}
	set := limitCmd("set TAG N", "Set the limit of a tag (0: none runs)", cobra.ExactArgs(2), func(cmd *cobra.Command, l limits, a []string) error {
		n, err := strconv.Atoi(a[1])
		if err != nil || n < 0 {
			return badInput(fmt.Errorf("%q: want a number of runs at once (0 or more)", a[1]))
		}
		return l.put(cmd.Context(), a[0], n)
	})
	ls := limitCmd("ls", "List the limits and the slots in use", cobra.NoArgs, func(cmd *cobra.Command, l limits, _ []string) error {
		list, err := l.list(cmd.Context())
		if err != nil {
			return err
		}
		var rows [][]string
		for _, l := range list {
			rows = append(rows, []string{l.Name, fmt.Sprint(l.Slots), fmt.Sprint(l.Used)})
		}
		return table(cmd.OutOrStdout(), "TAG\tLIMIT\tRUNNING", rows)
	})
	rm := limitCmd("rm TAG", "Remove a tag's limit", cobra.ExactArgs(1), func(cmd *cobra.Command, l limits, a []string) error {
		return l.remove(cmd.Context(), a[0])
	})
	cmd.AddCommand(set, ls, rm)
	return cmd
}
