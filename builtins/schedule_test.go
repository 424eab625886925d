package builtins

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/wfsh/wfsh/schedule"
)

// What a scheduler reads from a flow: its schedules in order, the policy,
// and the parameters each schedule's runs get.
func TestFlowSchedules(t *testing.T) {
	dir := t.TempDir()
	src := `REGION = "eu"

@task
def t(x):
    return x

@flow(schedule=[
    cron("0 2 * * *", timezone="Asia/Tokyo", parameters={"region": REGION}),
    interval("6h", parameters={"full": True, "region": "us"}),
], catchup="all", overlap="queue", late_after=90)
def etl(region, full=False):
    return t(full)

@flow
def plain():
    return t(1)
`
	path := filepath.Join(dir, "f.star")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	etl, err := m.FindFlow("etl")
	if err != nil {
		t.Fatal(err)
	}
	scheds := etl.Schedules()
	if len(scheds) != 2 || scheds[0].Kind() != schedule.KindCron || scheds[1].Kind() != schedule.KindInterval {
		t.Fatalf("schedules %v", scheds)
	}
	if scheds[0].Location().String() != "Asia/Tokyo" || scheds[0].Pos.Line != 8 || scheds[0].Pos.Col != 9 {
		t.Errorf("cron: zone %s at %s", scheds[0].Location(), scheds[0].Pos)
	}
	p := etl.SchedulePolicy()
	if p.Catchup != schedule.CatchupAll || p.Overlap != schedule.OverlapQueue || p.LateAfter != 90*time.Second {
		t.Errorf("policy %+v", p)
	}
	for i, want := range []string{`{"region": "eu", "full": False}`, `{"region": "us", "full": True}`} {
		d, err := etl.ScheduleParams(scheds[i])
		if err != nil {
			t.Fatal(err)
		}
		if d.String() != want {
			t.Errorf("schedule %d: parameters %s, want %s", i+1, d, want)
		}
	}
	plain, _ := m.FindFlow("plain")
	if len(plain.Schedules()) != 0 {
		t.Errorf("plain has schedules")
	}
	if p := plain.SchedulePolicy(); p.Catchup != schedule.CatchupLatest || p.Overlap != schedule.OverlapAllow || p.LateAfter != schedule.DefaultLateAfter {
		t.Errorf("default policy %+v", p)
	}
	var _ starlark.HasAttrs = scheds[0] // a Starlark value too
}
