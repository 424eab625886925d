package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/teambition/rrule-go"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// nextTimes lists the n times after from, in UTC RFC 3339.
func nextTimes(s *Schedule, from time.Time, n int) []string {
	var out []string
	for t := from; len(out) < n; {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t.UTC().Format(time.RFC3339))
	}
	return out
}

type nextCase struct {
	name string
	kind Kind
	expr string
	zone string
	opt  string // cron: "and" for day_or=False; interval: start
	from string
	want []string
}

func build(t testing.TB, c nextCase) *Schedule {
	t.Helper()
	o := Options{Location: mustLoc(t, c.zone)}
	var s *Schedule
	var err error
	switch c.kind {
	case KindCron:
		s, err = Cron(c.expr, c.opt != "and", o)
	case KindInterval:
		s, err = Interval(c.expr, c.opt, o)
	case KindRRule:
		s, err = RRule(c.expr, o)
	}
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return s
}

// The expected times were worked out by hand from the zones' rules (2026:
// Berlin changes at 01:00Z on 29 March and 25 October; New York at 07:00Z
// on 8 March and 06:00Z on 1 November; Lord Howe moves 02:00→02:30 on 4
// October and 02:00→01:30 on 5 April; Tokyo never).
var nextCases = []nextCase{
	// cron, Europe/Berlin
	{"berlin spring gap daily", KindCron, "30 2 * * *", "Europe/Berlin", "", "2026-03-28T00:00:00Z",
		[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
	{"berlin autumn repeat daily", KindCron, "30 2 * * *", "Europe/Berlin", "", "2026-10-24T00:00:00Z",
		[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
	{"berlin spring gap half-hourly", KindCron, "*/30 * * * *", "Europe/Berlin", "", "2026-03-29T00:15:00Z",
		[]string{"2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:00:00Z"}},
	{"berlin autumn repeat half-hourly", KindCron, "*/30 * * * *", "Europe/Berlin", "", "2026-10-25T00:15:00Z",
		[]string{"2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:30:00Z"}},
	// from inside the second occurrence of the repeated hour
	{"berlin from second occurrence", KindCron, "30 2 * * *", "Europe/Berlin", "", "2026-10-25T01:10:00Z",
		[]string{"2026-10-26T01:30:00Z"}},
	// cron, America/New_York
	{"new york spring gap", KindCron, "0 2 * * *", "America/New_York", "", "2026-03-07T12:00:00Z",
		[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"}},
	{"new york autumn repeat", KindCron, "30 1 * * *", "America/New_York", "", "2026-10-31T12:00:00Z",
		[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
	// cron, Australia/Lord_Howe (30-minute shift)
	{"lord howe spring gap", KindCron, "15 2 * * *", "Australia/Lord_Howe", "", "2026-10-03T00:00:00Z",
		[]string{"2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"}},
	{"lord howe autumn repeat", KindCron, "45 1 * * *", "Australia/Lord_Howe", "", "2026-04-03T12:00:00Z",
		[]string{"2026-04-03T14:45:00Z", "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}},
	// cron, Asia/Tokyo: no DST, the same UTC time every day
	{"tokyo", KindCron, "0 2 * * *", "Asia/Tokyo", "", "2026-03-28T00:00:00Z",
		[]string{"2026-03-28T17:00:00Z", "2026-03-29T17:00:00Z", "2026-03-30T17:00:00Z"}},
	// calendar corners
	{"leap day", KindCron, "0 0 29 2 *", "UTC", "", "2025-01-01T00:00:00Z",
		[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
	{"leap day across 2100", KindCron, "0 0 29 2 *", "UTC", "", "2096-03-01T00:00:00Z",
		[]string{"2104-02-29T00:00:00Z"}},
	{"31 skips short months", KindCron, "0 0 31 * *", "UTC", "", "2026-01-31T12:00:00Z",
		[]string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"}},
	{"day_or: the 13th or a Friday", KindCron, "0 0 13 * 5", "UTC", "", "2026-02-01T00:00:00Z",
		[]string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z"}},
	{"day_or=False: Friday the 13th", KindCron, "0 0 13 * 5", "UTC", "and", "2026-02-01T00:00:00Z",
		[]string{"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z", "2026-11-13T00:00:00Z"}},
	{"day_or with a star day", KindCron, "0 0 * * 1", "UTC", "", "2026-02-01T00:00:00Z",
		[]string{"2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"}},
	{"@daily macro", KindCron, "@daily", "Asia/Tokyo", "", "2026-01-01T00:00:00Z",
		[]string{"2026-01-01T15:00:00Z", "2026-01-02T15:00:00Z"}},
	// intervals: shorter than a day are exact durations
	{"hourly across berlin spring", KindInterval, "1h", "Europe/Berlin", "2026-03-01T00:00:00", "2026-03-29T00:00:00Z",
		[]string{"2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z", "2026-03-29T03:00:00Z"}},
	{"hourly across berlin autumn", KindInterval, "1h", "Europe/Berlin", "2026-03-01T00:00:00", "2026-10-25T00:00:00Z",
		[]string{"2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
	{"90 minutes across lord howe", KindInterval, "90m", "Australia/Lord_Howe", "2026-10-03T00:00:00Z", "2026-10-03T14:00:00Z",
		[]string{"2026-10-03T15:00:00Z", "2026-10-03T16:30:00Z"}},
	// whole days keep the wall time
	{"daily across berlin spring", KindInterval, "1d", "Europe/Berlin", "2026-03-27T02:30:00", "2026-03-26T00:00:00Z",
		[]string{"2026-03-27T01:30:00Z", "2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
	{"daily across berlin autumn", KindInterval, "1d", "Europe/Berlin", "2026-10-24T02:30:00", "2026-10-24T00:00:00Z",
		[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
	{"daily across new york spring", KindInterval, "24h", "America/New_York", "2026-03-07T09:00:00", "2026-03-07T00:00:00Z",
		[]string{"2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"}},
	{"daily across lord howe autumn", KindInterval, "1d", "Australia/Lord_Howe", "2026-04-01T01:45:00", "2026-04-03T12:00:00Z",
		[]string{"2026-04-03T14:45:00Z", "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}},
	{"daily in tokyo", KindInterval, "1d", "Asia/Tokyo", "2026-03-01T09:00:00", "2026-03-27T12:00:00Z",
		[]string{"2026-03-28T00:00:00Z", "2026-03-29T00:00:00Z"}},
	// rrule
	{"rrule berlin spring", KindRRule, "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30", "Europe/Berlin", "", "2026-03-21T00:00:00Z",
		[]string{"2026-03-22T01:30:00Z", "2026-03-29T01:00:00Z", "2026-04-05T00:30:00Z"}},
	{"rrule berlin autumn", KindRRule, "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30", "Europe/Berlin", "", "2026-10-17T00:00:00Z",
		[]string{"2026-10-18T00:30:00Z", "2026-10-25T00:30:00Z", "2026-11-01T01:30:00Z"}},
	{"rrule new york spring", KindRRule, "FREQ=DAILY;BYHOUR=2", "America/New_York", "", "2026-03-07T12:00:00Z",
		[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"}},
	{"rrule lord howe spring", KindRRule, "FREQ=DAILY;BYHOUR=2;BYMINUTE=0,15,45", "Australia/Lord_Howe", "", "2026-10-03T15:00:00Z",
		[]string{"2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z", "2026-10-04T15:00:00Z"}},
	{"rrule tokyo weekdays", KindRRule, "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9", "Asia/Tokyo", "", "2026-03-27T00:00:00Z",
		[]string{"2026-03-30T00:00:00Z", "2026-04-01T00:00:00Z", "2026-04-03T00:00:00Z"}},
	{"rrule leap day", KindRRule, "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "UTC", "", "2025-01-01T00:00:00Z",
		[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
	{"rrule 31st", KindRRule, "FREQ=MONTHLY;BYMONTHDAY=31;BYHOUR=6", "UTC", "", "2026-01-31T12:00:00Z",
		[]string{"2026-03-31T06:00:00Z", "2026-05-31T06:00:00Z"}},
	{"rrule with DTSTART and INTERVAL", KindRRule, "DTSTART:20260102T100000\nRRULE:FREQ=DAILY;INTERVAL=3", "UTC", "", "2026-03-01T00:00:00Z",
		[]string{"2026-03-03T10:00:00Z", "2026-03-06T10:00:00Z"}}, // 2 January + 60 days
	{"rrule COUNT ends", KindRRule, "DTSTART:20260101T000000\nRRULE:FREQ=DAILY;COUNT=2", "UTC", "", "2025-12-01T00:00:00Z",
		[]string{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"}},
}

func TestNext(t *testing.T) {
	for _, c := range nextCases {
		t.Run(c.name, func(t *testing.T) {
			s := build(t, c)
			got := nextTimes(s, mustTime(t, c.from), len(c.want)+1)
			if c.name == "rrule COUNT ends" {
				if len(got) != 2 {
					t.Fatalf("after COUNT=2: %v", got)
				}
			} else if len(got) > len(c.want) {
				got = got[:len(c.want)]
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("%s %q in %s from %s:\n got  %v\n want %v", c.kind, c.expr, c.zone, c.from, got, c.want)
			}
		})
	}
}

// Every time is later than the one before and none comes twice, over a
// year of iterations, for schedules that cross DST changes.
func TestNextProperty(t *testing.T) {
	schedules := []nextCase{
		{kind: KindCron, expr: "*/15 * * * *", zone: "Europe/Berlin"},
		{kind: KindCron, expr: "30 1,2,3 * * *", zone: "Australia/Lord_Howe"},
		{kind: KindCron, expr: "0 * * * *", zone: "America/New_York"},
		{kind: KindCron, expr: "0 0 29 2 *", zone: "Asia/Tokyo"},
		{kind: KindInterval, expr: "7m", zone: "America/New_York"},
		{kind: KindInterval, expr: "1d", zone: "Australia/Lord_Howe", opt: "2026-01-01T02:15:00"},
		{kind: KindRRule, expr: "FREQ=HOURLY;BYMINUTE=0,30", zone: "Europe/Berlin"},
		{kind: KindRRule, expr: "FREQ=DAILY;BYHOUR=1,2;BYMINUTE=45", zone: "Australia/Lord_Howe"},
	}
	from := mustTime(t, "2026-01-01T00:00:00Z")
	end := from.AddDate(1, 0, 0)
	for _, c := range schedules {
		c.name = string(c.kind) + " " + c.expr
		t.Run(c.name, func(t *testing.T) {
			s := build(t, c)
			seen := map[time.Time]bool{}
			n := 0
			for prev := from; prev.Before(end); n++ {
				next := s.Next(prev)
				if !next.After(prev) {
					t.Fatalf("Next(%s) = %s, not after it", prev, next)
				}
				if seen[next.UTC()] {
					t.Fatalf("%s produced twice", next)
				}
				seen[next.UTC()] = true
				// Next from any instant between prev and next is next.
				if mid := prev.Add(next.Sub(prev) / 2); !s.Next(mid).Equal(next) && mid.Before(next) {
					t.Fatalf("Next(%s) = %s, want %s", mid, s.Next(mid), next)
				}
				prev = next
			}
			if n < 1 {
				t.Fatalf("no time in a year")
			}
		})
	}
}

func TestScheduleErrors(t *testing.T) {
	utc := Options{}
	for _, c := range []struct {
		err  func() error
		want string
	}{
		{func() error { _, err := Cron("61 * * * *", true, utc); return err }, `cron "61 * * * *": end of range (61) above maximum (59)`},
		{func() error { _, err := Cron("* * * *", true, utc); return err }, `4 fields, want 5`},
		{func() error { _, err := Cron("0 0 * * * *", true, utc); return err }, `6 fields, want 5`},
		{func() error { _, err := Cron("@fortnightly", true, utc); return err }, `unrecognized descriptor`},
		{func() error { _, err := Cron("@every 5m", true, utc); return err }, `use interval`},
		{func() error { _, err := Cron("TZ=UTC 0 0 * * *", true, utc); return err }, `timezone=`},
		{func() error { _, err := Cron("0 0 30 2 *", true, utc); return err }, `cron "0 0 30 2 *": matches no day`},
		{func() error { _, err := Cron("0 0 31 4,6 *", true, utc); return err }, `matches no day`},
		{func() error { _, err := Interval("100ms", "", utc); return err }, `shorter than a second`},
		{func() error { _, err := Interval("soon", "", utc); return err }, `interval "soon": want a duration`},
		{func() error { _, err := Interval("-5m", "", utc); return err }, `must be positive`},
		{func() error { _, err := Interval("0d", "", utc); return err }, `positive whole number of days`},
		{func() error { _, err := Interval("1h", "yesterday", utc); return err }, `start "yesterday"`},
		{func() error { _, err := RRule("FREQ=FORTNIGHTLY", utc); return err }, `rrule "FREQ=FORTNIGHTLY"`},
		{func() error { _, err := RRule("BYHOUR=9", utc); return err }, `FREQ is required`},
		{func() error { _, err := RRule("FREQ=DAILY;BYHOUR=25", utc); return err }, `byhour`},
		{func() error { _, err := RRule("FREQ=SECONDLY", utc); return err }, `interval("30s")`},
		{func() error { _, err := RRule("FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30", utc); return err }, `no month given has the BYMONTHDAY given`},
		{func() error { _, err := RRule("FREQ=DAILY;BYMONTH=4,6;BYMONTHDAY=-31", utc); return err }, `no month given has the BYMONTHDAY given`},
		{func() error {
			_, err := RRule("DTSTART:20260101T000000\nRRULE:FREQ=DAILY;UNTIL=20251231T000000", utc)
			return err
		}, `matches no time`},
		{func() error { _, err := LoadLocation("Mars/Olympus_Mons"); return err }, `unknown timezone "Mars/Olympus_Mons"`},
		{func() error { _, err := LoadLocation("Local"); return err }, `IANA zone name`},
	} {
		err := c.err()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}

func TestIDAndKey(t *testing.T) {
	berlin := Options{Location: mustLoc(t, "Europe/Berlin")}
	a, _ := Cron("0 2 * * *", true, berlin)
	b, _ := Cron("0 2 * * *", true, berlin)
	tokyo, _ := Cron("0 2 * * *", true, Options{Location: mustLoc(t, "Asia/Tokyo")})
	and, _ := Cron("0 2 * * *", false, berlin)
	full, _ := Cron("0 2 * * *", true, Options{Location: berlin.Location, Parameters: map[string]any{"full": true}})
	if a.ID() != b.ID() {
		t.Errorf("the same schedule has two ids: %s %s", a.ID(), b.ID())
	}
	ids := map[string]bool{}
	for _, s := range []*Schedule{a, tokyo, and, full} {
		if ids[s.ID()] {
			t.Errorf("id %s given to two different schedules", s.ID())
		}
		ids[s.ID()] = true
		if !strings.HasPrefix(s.ID(), "cron-") {
			t.Errorf("id %s", s.ID())
		}
	}
	at := mustTime(t, "2026-03-27T01:00:00Z")
	if got, want := Key("etl", a.ID(), at.In(berlin.Location)), "sched/etl/"+a.ID()+"/2026-03-27T01:00:00Z"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	if Key("a/b", "x", at) == Key("a", "b/x", at) {
		t.Errorf("keys of different flows and schedules collide")
	}
	if Key("etl", "x", at) == Key("etl", "x", at.Add(time.Millisecond)) {
		t.Errorf("keys of different times collide")
	}
}

// Expanding a rule from a DTSTART moved near t gives what expanding it from
// its real DTSTART gives.
func TestRRuleShiftKeepsTheRule(t *testing.T) {
	rules := []string{
		"DTSTART:20200105T083000\nRRULE:FREQ=WEEKLY;INTERVAL=3",
		"DTSTART:20200101T000000\nRRULE:FREQ=DAILY;INTERVAL=5;BYHOUR=7,19",
		"DTSTART:20200101T001700\nRRULE:FREQ=HOURLY;INTERVAL=7",
		"DTSTART:20200101T000000\nRRULE:FREQ=MINUTELY;INTERVAL=45",
		"DTSTART:20200115T120000\nRRULE:FREQ=MONTHLY;INTERVAL=5",
		"DTSTART:20200110T120000\nRRULE:FREQ=YEARLY;INTERVAL=2;BYWEEKNO=1;BYDAY=MO",
		"DTSTART:20200131T120000\nRRULE:FREQ=MONTHLY",
		"FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=18",
	}
	from := mustTime(t, "2026-01-01T00:00:00Z")
	for _, text := range rules {
		s, err := RRule(text, Options{})
		if err != nil {
			t.Fatal(err)
		}
		opt, err := rruleOptions(text)
		if err != nil {
			t.Fatal(err)
		}
		full, err := rrule.NewRRule(opt) // from the real DTSTART
		if err != nil {
			t.Fatal(err)
		}
		prev := from
		for i := 0; i < 12; i++ {
			want := full.After(prev, false)
			got := s.Next(prev)
			if !got.Equal(want) {
				t.Fatalf("%q after %s: got %s, want %s (unshifted)", text, prev, got, want)
			}
			prev = got
		}
	}
}

func TestWeekdayAndDaysIn(t *testing.T) {
	for d := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2101; d = d.AddDate(0, 0, 1) {
		y, m, day := d.Date()
		if got := weekday(y, int(m), day); got != int(d.Weekday()) {
			t.Fatalf("weekday(%s) = %d, want %d", d.Format("2006-01-02"), got, d.Weekday())
		}
		if last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day(); daysIn(y, int(m)) != last {
			t.Fatalf("daysIn(%d, %d) = %d, want %d", y, m, daysIn(y, int(m)), last)
		}
	}
}

// Day of week 7 is Sunday, as 0 is.
func TestCronSundaySeven(t *testing.T) {
	from := mustTime(t, "2026-03-01T12:00:00Z") // a Sunday
	for _, c := range []struct{ seven, plain string }{
		{"0 9 * * 7", "0 9 * * 0"},
		{"0 9 * * 5-7", "0 9 * * 5,6,0"},
		{"0 9 * * 1-7/2", "0 9 * * 1,3,5,0"},
		{"0 9 * * 2-7/2", "0 9 * * 2,4,6"},
		{"0 9 * * 7-7", "0 9 * * 0"},
		{"0 9 * * 1,7", "0 9 * * MON,SUN"},
	} {
		a, err := Cron(c.seven, true, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.seven, err)
		}
		b, err := Cron(c.plain, true, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.plain, err)
		}
		if got, want := nextTimes(a, from, 14), nextTimes(b, from, 14); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%q gives %v, want %v as %q", c.seven, got, want, c.plain)
		}
	}
	if _, err := Cron("0 9 * * 8", true, Options{}); err == nil {
		t.Errorf("day of week 8 accepted")
	}
}
