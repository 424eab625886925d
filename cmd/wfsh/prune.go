package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type pruneFlags struct {
	store     storeFlag
	olderThan string
	vacuum    bool
}

func newPruneCmd() *cobra.Command {
	var f pruneFlags
	cmd := &cobra.Command{
		Use:   "prune --older-than AGE",
		Short: "Delete the runs that started more than AGE ago, and the expired cache entries",
		Long: `Deletes from the run store the runs that started more than AGE ago and are
over (a run still going on is kept), with their task runs and logs, and the
cached results that have expired. AGE is a duration: 90m, 36h, 30d.
SQLite keeps the space freed for later runs; --vacuum gives it back to the
file system (it rewrites the database, and needs as much free space again).`,
		Example: `  wfsh prune --older-than 30d
  wfsh prune --older-than 12h --vacuum`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.olderThan == "" {
				return badInput(errors.New("prune: --older-than is required (a duration such as 30d or 12h)"))
			}
			age, err := parseAge(f.olderThan)
			if err != nil {
				return badInput(fmt.Errorf("prune: --older-than %q: %v", f.olderThan, err))
			}
			st, err := f.store.open()
			if err != nil {
				return err
			}
			defer st.Close()
			now := time.Now()
			p, err := st.Prune(cmd.Context(), now.Add(-age), now)
			if err != nil {
				return storeErr(fmt.Errorf("run store %s: %w", st.Path(), err))
			}
			entries := "entries"
			if p.Cache == 1 {
				entries = "entry"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s that started before %s, and %d expired cache %s.\n",
				plural(int(p.Runs), "run"), now.Add(-age).Format("2006-01-02 15:04:05-0700"), p.Cache, entries)
			if f.vacuum {
				if err := st.Vacuum(cmd.Context()); err != nil {
					return storeErr(fmt.Errorf("run store %s: vacuum: %w", st.Path(), err))
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	f.store.register(fl)
	fl.StringVar(&f.olderThan, "older-than", "", "delete the runs that started more than this long ago (90m, 36h, 30d)")
	fl.BoolVar(&f.vacuum, "vacuum", false, "then shrink the database file")
	return cmd
}

// parseAge reads a duration as Go writes them (90m, 36h, 1h30m) or a
// number of days (30d); it may be 0 (every run that is over), not
// negative.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n != n || n > 1e5 {
			return 0, errors.New("not a duration (write 90m, 36h or 30d)")
		}
		d = time.Duration(n * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("not a duration (write 90m, 36h or 30d)")
		}
	}
	if d < 0 {
		return 0, errors.New("a negative age")
	}
	return d, nil
}
