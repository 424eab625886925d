package schedule

import (
	"testing"
	"time"
)

// benchNext measures Next over successive times, as a scheduler calls it.
func benchNext(b *testing.B, s *Schedule) {
	start := time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC)
	t := start
	b.ReportAllocs()
	for b.Loop() {
		t = s.Next(t)
		if t.IsZero() || t.Year() > 2036 {
			t = start
		}
	}
}

func BenchmarkCronNext(b *testing.B) {
	for _, c := range []struct{ name, expr, zone string }{
		{"daily-Berlin", "0 2 * * *", "Europe/Berlin"},
		{"every15m-NewYork", "*/15 * * * *", "America/New_York"},
		{"weekdays-UTC", "30 9 * * 1-5", "UTC"},
	} {
		s, err := Cron(c.expr, true, Options{Location: mustLoc(b, c.zone)})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) { benchNext(b, s) })
	}
}

func BenchmarkRRuleNext(b *testing.B) {
	for _, c := range []struct{ name, text, zone string }{
		{"weekly-Berlin", "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9", "Europe/Berlin"},
		{"hourly-since-2020", "DTSTART:20200101T000000\nRRULE:FREQ=HOURLY;BYMINUTE=0,30", "America/New_York"},
		{"monthly-last-friday", "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=18", "Asia/Tokyo"},
	} {
		s, err := RRule(c.text, Options{Location: mustLoc(b, c.zone)})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) { benchNext(b, s) })
	}
}

func BenchmarkIntervalNext(b *testing.B) {
	for _, c := range []struct{ name, every string }{{"6h", "6h"}, {"1d", "1d"}} {
		s, err := Interval(c.every, "", Options{Location: mustLoc(b, "Europe/Berlin")})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) { benchNext(b, s) })
	}
}

// BenchmarkRRuleNextCold asks for times far apart, so that every call
// expands the rule anew (no batch reuse): the cost of a first call.
func BenchmarkRRuleNextCold(b *testing.B) {
	for _, c := range []struct{ name, text, zone string }{
		{"weekly-Berlin", "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9", "Europe/Berlin"},
		{"hourly-since-2020", "DTSTART:20200101T000000\nRRULE:FREQ=HOURLY;BYMINUTE=0,30", "America/New_York"},
		{"monthly-last-friday", "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=18", "Asia/Tokyo"},
	} {
		s, err := RRule(c.text, Options{Location: mustLoc(b, c.zone)})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			at := [2]time.Time{time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC), time.Date(2036, 3, 27, 0, 0, 0, 0, time.UTC)}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if s.Next(at[i&1]).IsZero() {
					b.Fatal("no next time")
				}
				i++
			}
		})
	}
}
