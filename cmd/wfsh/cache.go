package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/output"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/store"
)

type cacheFlags struct {
	store   storeFlag
	task    string
	json    bool
	expired bool
}

func newCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List or clear the results kept by @task(cache_for=...)",
		Long: `A task with cache_for keeps its results in the run store; a later run with
the same cache key takes the result instead of running the task (state Cached).
The key is made of the task's source and what it calls and loads, its inputs and
the context keys it reads, or what its cache_key function returns.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCacheLsCmd(), newCacheClearCmd())
	return cmd
}

func newCacheLsCmd() *cobra.Command {
	var f cacheFlags
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the cached results, newest first",
		Example: `  wfsh cache ls
  wfsh cache ls --task extract --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := f.store.open()
			if err != nil {
				return err
			}
			defer st.Close()
			entries, err := st.CacheList(cmd.Context(), store.CacheFilter{Task: f.task})
			if err != nil {
				return err
			}
			if f.json {
				return jsonLines(cmd.OutOrStdout(), entries)
			}
			return cacheTable(cmd.OutOrStdout(), entries, time.Now())
		},
	}
	fl := cmd.Flags()
	f.store.register(fl)
	fl.StringVar(&f.task, "task", "", "only the results of this task")
	fl.BoolVar(&f.json, "json", false, "print the entries as JSON, one object per line")
	return cmd
}

func cacheTable(out io.Writer, entries []store.CacheEntry, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tFLOW\tTASK\tRUN\tCREATED\tEXPIRES")
	for _, e := range entries {
		exp := "never"
		switch {
		case e.Expired(now):
			exp = "expired"
		case !e.Expires.IsZero():
			exp = e.Expires.Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Key[:min(12, len(e.Key))], output.Cell(e.Flow), output.Cell(e.TaskRun), runner.ShortID(e.RunID),
			e.Created.Format("2006-01-02 15:04:05"), exp)
	}
	return tw.Flush()
}

func newCacheClearCmd() *cobra.Command {
	var f cacheFlags
	cmd := &cobra.Command{
		Use:   "clear",
		Short: "Delete cached results (all of them, unless --task or --expired)",
		Example: `  wfsh cache clear --expired
  wfsh cache clear --task extract`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := f.store.open()
			if err != nil {
				return err
			}
			defer st.Close()
			filter := store.CacheFilter{Task: f.task}
			if f.expired {
				filter.Expired = time.Now()
			}
			n, err := st.CacheClear(cmd.Context(), filter)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d cached %s deleted\n", n, results(n))
			return nil
		},
	}
	fl := cmd.Flags()
	f.store.register(fl)
	fl.StringVar(&f.task, "task", "", "only the results of this task")
	fl.BoolVar(&f.expired, "expired", false, "only the results that have expired")
	return cmd
}

func results(n int64) string {
	if n == 1 {
		return "result"
	}
	return "results"
}
