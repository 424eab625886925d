package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/schedule"
)

type scheduleFlags struct {
	flow string
	n    int
	from string
	json bool
}

func newScheduleCmd() *cobra.Command {
	var f scheduleFlags
	cmd := &cobra.Command{
		Use:   "schedule FILE",
		Short: "Print a flow's next scheduled times, in each schedule's zone and in UTC, running nothing",
		Long: `Print the next times of a flow's schedules (the schedule= of its @flow),
all schedules merged in time order: each time in the schedule's zone and in
UTC, which schedule gives it, and the parameters that run gets (the flow's
defaults and the schedule's parameters). --json prints one object per line,
with the key that makes each scheduled run unique.
Exit status: 0 printed, 2 bad input (also a flow without a schedule).`,
		Example: `  wfsh schedule etl.star
  wfsh schedule etl.star -n 10 --from 2026-03-27T00:00:00Z
  wfsh schedule etl.star --flow report --json`,
		Args:              oneFile,
		ValidArgsFunction: starFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return printSchedule(cmd, args[0], &f, time.Now())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.flow, "flow", "", "the flow, when FILE defines several")
	fl.IntVarP(&f.n, "number", "n", 10, "how many times to print")
	fl.StringVar(&f.from, "from", "", "print the times after this one (RFC 3339, e.g. 2026-03-27T00:00:00Z; default now)")
	fl.BoolVar(&f.json, "json", false, "print one JSON object per line")
	return cmd
}

// scheduledRun is one line of wfsh schedule: a time a schedule gives.
type scheduledRun struct {
	Flow       string          `json:"flow"`
	Schedule   int             `json:"schedule"` // 1-based, in the order of schedule=
	ScheduleID string          `json:"schedule_id"`
	Local      string          `json:"local"`
	Timezone   string          `json:"timezone"`
	UTC        string          `json:"utc"`
	Parameters json.RawMessage `json:"parameters"`
	Key        string          `json:"key"`

	at time.Time
}

func printSchedule(cmd *cobra.Command, path string, f *scheduleFlags, now time.Time) error {
	if err := handOffFlow(path); err != nil {
		return err
	}
	if f.n < 1 || f.n > 10000 {
		return badInput(fmt.Errorf("-n %d: want 1 to 10000", f.n))
	}
	from := now
	if f.from != "" {
		t, err := time.Parse(time.RFC3339Nano, f.from)
		if err != nil {
			return badInput(fmt.Errorf("--from %s: want an RFC 3339 time such as 2026-03-27T00:00:00Z", f.from))
		}
		from = t
	}
	r := newRunner(cmd.ErrOrStderr(), runtime.Info, nil, 0)
	defer r.Close()
	fl, err := r.Load(path, f.flow, nil)
	if err != nil {
		return err
	}
	flow := fl.Flow
	scheds := flow.Schedules()
	if len(scheds) == 0 {
		return badInput(&runtime.PosError{Pos: flow.Pos(), Msg: fmt.Sprintf(
			"flow %s has no schedule; give its @flow a schedule=cron(...), interval(...) or rrule(...)", flow.Name())})
	}
	runs, err := nextRuns(flow, scheds, from, f.n)
	if err != nil {
		return err
	}
	if f.json {
		return jsonLines(cmd.OutOrStdout(), runs)
	}
	return scheduleTable(cmd.OutOrStdout(), flow, scheds, runs)
}

// nextRuns merges the schedules' next times after from, n in all.
func nextRuns(flow *builtins.Flow, scheds []*builtins.ScheduleValue, from time.Time, n int) ([]scheduledRun, error) {
	params := make([]json.RawMessage, len(scheds))
	for i, s := range scheds {
		d, err := flow.ScheduleParams(s)
		if err != nil {
			return nil, badInput(err)
		}
		b, err := builtins.EncodeJSON(d)
		if err != nil {
			return nil, badInput(fmt.Errorf("schedule %s: parameters: %v", s, err))
		}
		params[i] = b
	}
	next := make([]time.Time, len(scheds))
	for i, s := range scheds {
		next[i] = s.Next(from)
	}
	var runs []scheduledRun
	for len(runs) < n {
		i := -1 // the schedule with the earliest next time; the first on a tie
		for j, t := range next {
			if !t.IsZero() && (i < 0 || t.Before(next[i])) {
				i = j
			}
		}
		if i < 0 {
			break // every schedule has ended
		}
		s, t := scheds[i], next[i]
		runs = append(runs, scheduledRun{
			Flow: flow.Name(), Schedule: i + 1, ScheduleID: s.ID(),
			Local: t.In(s.Location()).Format(time.RFC3339Nano), Timezone: s.Location().String(),
			UTC: t.UTC().Format(time.RFC3339Nano), Parameters: params[i],
			Key: schedule.Key(flow.Name(), s.ID(), t), at: t,
		})
		next[i] = s.Next(t)
	}
	return runs, nil
}

func scheduleTable(out io.Writer, flow *builtins.Flow, scheds []*builtins.ScheduleValue, runs []scheduledRun) error {
	p := flow.SchedulePolicy()
	fmt.Fprintf(out, "flow %s (%s): catchup=%s overlap=%s late_after=%s\n", flow.Name(), flow.Pos(), p.Catchup, p.Overlap, p.LateAfter)
	for i, s := range scheds {
		fmt.Fprintf(out, "  %d  %s\n", i+1, s)
	}
	fmt.Fprintln(out)
	if len(runs) == 0 {
		_, err := fmt.Fprintln(out, "no more times: every schedule has ended")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UTC\tLOCAL\tZONE\tSCHEDULE\tPARAMETERS")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.UTC, r.at.In(scheds[r.Schedule-1].Location()).Format("Mon 2006-01-02 15:04:05 MST"),
			r.Timezone, r.Schedule, compactParams(r.Parameters))
	}
	return tw.Flush()
}

// compactParams shows {"a":1,"b":true} as a=1 b=true, as -p takes them.
func compactParams(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + string(m[k])
	}
	return strings.Join(parts, " ")
}
