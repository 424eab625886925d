package schedule

import (
	"slices"
	"testing"
	"time"
)

// TestRRuleFastMatchesRRuleGo expands rules both ways, day by day
// (fastRule) and by rrule-go, from many times, and wants the same
// occurrences.
func TestRRuleFastMatchesRRuleGo(t *testing.T) {
	rules := []string{
		"FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9",
		"FREQ=WEEKLY",
		"DTSTART:20240103T081500\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=SU",
		"DTSTART:20240103T081500\nRRULE:FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,SA",
		"FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=18",
		"FREQ=MONTHLY;BYDAY=2TU,-2MO;BYHOUR=7,19;BYMINUTE=0,45",
		"FREQ=MONTHLY;BYMONTHDAY=31",
		"FREQ=MONTHLY;BYMONTHDAY=-1,15;BYMONTH=2,6",
		"FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR",
		"DTSTART:20200131T120000\nRRULE:FREQ=MONTHLY;INTERVAL=5",
		"DTSTART:20200229T060000\nRRULE:FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=29;BYMONTH=2",
		"FREQ=MONTHLY;BYDAY=MO,TU",
		"FREQ=DAILY;BYHOUR=0,12;BYMINUTE=30",
		"DTSTART:20230605T101010\nRRULE:FREQ=DAILY;INTERVAL=3",
		"FREQ=DAILY;BYDAY=SA,SU;BYMONTH=12",
		"FREQ=DAILY;BYMONTHDAY=1,-1;BYSECOND=5,10",
		"DTSTART:20250101T000000\nRRULE:FREQ=DAILY;UNTIL=20250301T000000",
		"DTSTART:20250101T090000\nRRULE:FREQ=WEEKLY;BYDAY=TH;UNTIL=20270105T090000",
		"DTSTART:20300101T000000\nRRULE:FREQ=DAILY;BYHOUR=6",
		"DTSTART:20200101T000000\nRRULE:FREQ=HOURLY;BYMINUTE=0,30",
		"DTSTART:20260101T001500\nRRULE:FREQ=HOURLY;BYDAY=MO;BYHOUR=9,10,23",
		"FREQ=HOURLY;BYMONTHDAY=-1;BYSECOND=0,30",
	}
	from := []time.Time{
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 27, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 2, 30, 0, 0, time.UTC),
		time.Date(2028, 2, 28, 23, 59, 59, 0, time.UTC),
		time.Date(2029, 12, 31, 18, 0, 0, 0, time.UTC),
	}
	checked := 0
	for _, text := range rules {
		opt, err := rruleOptions(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		fast, ok := newFastRule(opt)
		if !ok {
			t.Fatalf("%q: not taken by the fast expansion", text)
		}
		slow := &rruleSpec{opt: opt, z: newZone(time.UTC)}
		for _, c := range from {
			for step := range 40 {
				c := c.Add(time.Duration(step) * 37 * time.Hour)
				want := slow.expandSlow(c, 12)
				got, ok := fast.expand(c, 12)
				if len(want.occ) < 12 && !want.done {
					t.Fatalf("%q from %s: rrule-go gave %d occurrences and more to come", text, c, len(want.occ))
				}
				// The fast expansion looks four years ahead: it may give
				// fewer occurrences (or none: then rrule-go is asked), the
				// same ones.
				switch {
				case !ok && len(want.occ) > 0 && want.occ[0].Before(c.AddDate(4, 0, 0)):
					t.Fatalf("%q from %s: the fast expansion found nothing, rrule-go %v", text, c, want.occ[0])
				case ok && (len(got.occ) > len(want.occ) || !slices.EqualFunc(got.occ, want.occ[:len(got.occ)], time.Time.Equal)),
					ok && got.done && (!want.done || len(got.occ) != len(want.occ)):
					t.Fatalf("%q from %s:\n got %v (done %v)\nwant %v (done %v)", text, c, got.occ, got.done, want.occ, want.done)
				}
				checked++
			}
		}
	}
	t.Logf("%d expansions compared", checked)
}

// TestRRuleFastNotTaken lists rules left to rrule-go.
func TestRRuleFastNotTaken(t *testing.T) {
	for _, text := range []string{
		"FREQ=HOURLY;INTERVAL=2", "FREQ=MINUTELY", "FREQ=YEARLY", "FREQ=DAILY;COUNT=3", "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-1",
		"FREQ=YEARLY;BYWEEKNO=20", "FREQ=YEARLY;BYYEARDAY=100",
	} {
		opt, err := rruleOptions(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if _, ok := newFastRule(opt); ok {
			t.Errorf("%q: taken by the fast expansion", text)
		}
	}
}
