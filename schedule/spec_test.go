package schedule

import (
	"encoding/json"
	"testing"
	"time"
)

// TestSpecRoundTrip: a schedule kept as data (through JSON, as a server
// keeps it) builds again with the same id and the same times.
func TestSpecRoundTrip(t *testing.T) {
	tokyo, _ := LoadLocation("Asia/Tokyo")
	berlin, _ := LoadLocation("Europe/Berlin")
	mk := []func() (*Schedule, error){
		func() (*Schedule, error) { return Cron("0 2 * * *", true, Options{Location: tokyo}) },
		func() (*Schedule, error) {
			return Cron("0 9 1 * MON", false, Options{Parameters: map[string]any{"full": true, "n": int64(3)}})
		},
		func() (*Schedule, error) { return Interval("6h", "2020-11-30T00:00:00", Options{Location: berlin}) },
		func() (*Schedule, error) { return Interval("1d", "", Options{}) },
		func() (*Schedule, error) {
			return RRule("FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9", Options{Location: berlin})
		},
	}
	from := time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC)
	for _, f := range mk {
		s, err := f()
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(s.Spec())
		if err != nil {
			t.Fatal(err)
		}
		var sp Spec
		if err := json.Unmarshal(b, &sp); err != nil {
			t.Fatal(err)
		}
		s2, err := sp.Build()
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if s2.ID() != s.ID() {
			t.Errorf("%s: id %s, want %s", b, s2.ID(), s.ID())
		}
		a, c := from, from
		for range 10 {
			a, c = s.Next(a), s2.Next(c)
			if !a.Equal(c) {
				t.Fatalf("%s: next %v, want %v", b, c, a)
			}
		}
	}
	if _, err := (Spec{Kind: "weekly"}).Build(); err == nil {
		t.Error("an unknown kind built")
	}
}
