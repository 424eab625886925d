//go:build gcp_integration

package gcp

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// A bikeshare-like day, generated (never downloaded): the Austin exports'
// columns, a few hundred trips, a few trips from or to stations that are
// not in the stations export (their joined columns are NULL), and fields
// that need CSV quoting.

type station struct {
	id       int64
	name     string
	address  string
	docks    int64
	length   float64
	district int64
	modified time.Time
}

type trip struct {
	id              int64
	subscriber      string
	bike            string
	bikeType        string
	start           time.Time
	startID, endID  int64
	startName       string
	endName         string
	durationMinutes int64
}

type bikeshareDay struct {
	stations []station
	trips    []trip
	byID     map[int64]station
}

// unknownStation is a station id that the stations export lacks.
const unknownStation = 9999

func newBikeshareDay(day time.Time, nStations, nTrips int) *bikeshareDay {
	r := rand.New(rand.NewPCG(20201130, uint64(nTrips)))
	d := &bikeshareDay{byID: map[int64]station{}}
	for i := range nStations {
		s := station{
			id:       int64(2500 + 7*i),
			name:     fmt.Sprintf("Station %d, %s", i, []string{"Congress", "Lamar", "Guadalupe", "Cesar Chavez"}[i%4]),
			address:  fmt.Sprintf("%d %s St", 100+i, []string{"E 6th", "W 5th", "Red River"}[i%3]),
			docks:    int64(9 + r.IntN(12)),
			length:   float64(20+r.IntN(40)) + 0.5,
			district: int64(1 + i%10),
			modified: day.Add(-time.Duration(24+i) * time.Hour).UTC(),
		}
		d.stations = append(d.stations, s)
		d.byID[s.id] = s
	}
	for i := range nTrips {
		from, to := d.stations[r.IntN(nStations)], d.stations[r.IntN(nStations)]
		t := trip{
			id:              int64(20000000 + i),
			subscriber:      []string{"Local365", "Walk Up", "24 Hour Walk Up Pass", "Student Membership"}[r.IntN(4)],
			bike:            strconv.Itoa(100 + r.IntN(900)),
			bikeType:        []string{"classic", "electric"}[r.IntN(2)],
			start:           day.Add(time.Duration(r.IntN(24*3600)) * time.Second).UTC(),
			startID:         from.id,
			endID:           to.id,
			startName:       from.name,
			endName:         to.name,
			durationMinutes: int64(1 + r.IntN(90)),
		}
		if i%25 == 3 {
			t.startID, t.startName = unknownStation, "Pop-up station"
		}
		if i%40 == 7 {
			t.endID, t.endName = unknownStation, "Pop-up station"
		}
		d.trips = append(d.trips, t)
	}
	return d
}

// tsFormat is how the exports write timestamps: %Y-%m-%d %H:%M:%S %Z.
const tsFormat = "2006-01-02 15:04:05 MST"

// stationsCSV is the stations export, with its header line.
func (d *bikeshareDay) stationsCSV() []byte {
	rows := [][]string{{"station_id", "name", "status", "address", "alternate_name", "city_asset_number", "property_type",
		"number_of_docks", "power_type", "footprint_length", "footprint_width", "notes", "council_district", "modified_date"}}
	for i, s := range d.stations {
		rows = append(rows, []string{fmt.Sprint(s.id), s.name, "active", s.address, "", fmt.Sprint(16000 + i), "undetermined_parking",
			fmt.Sprint(s.docks), "solar", strconv.FormatFloat(s.length, 'f', -1, 64), "5", `near the "park", east side`,
			fmt.Sprint(s.district), s.modified.Format(tsFormat)})
	}
	return csvBytes(rows)
}

// tripsCSV is the trips export, split into parts files, each with its
// header line (as a large export is).
func (d *bikeshareDay) tripsCSV(parts int) [][]byte {
	header := []string{"trip_id", "subscriber_type", "bike_id", "bike_type", "start_time", "start_station_id",
		"start_station_name", "end_station_id", "end_station_name", "duration_minutes"}
	out := make([][]byte, parts)
	per := (len(d.trips) + parts - 1) / parts
	for p := range parts {
		rows := [][]string{header}
		for _, t := range d.trips[min(p*per, len(d.trips)):min((p+1)*per, len(d.trips))] {
			rows = append(rows, []string{fmt.Sprint(t.id), t.subscriber, t.bike, t.bikeType, t.start.Format(tsFormat),
				fmt.Sprint(t.startID), t.startName, fmt.Sprint(t.endID), t.endName, fmt.Sprint(t.durationMinutes)})
		}
		out[p] = csvBytes(rows)
	}
	return out
}

func csvBytes(rows [][]string) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.WriteAll(rows)
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// joined is one row of the tour's denormalized table, as the fixture says
// it must be.
type joined struct {
	tripID                 int64
	startName, endName     any // string, or nil for an unknown station
	startDistrict, endDist any // int64, or nil
	duration               int64
}

func (d *bikeshareDay) wantJoin() map[int64]joined {
	out := map[int64]joined{}
	for _, t := range d.trips {
		j := joined{tripID: t.id, duration: t.durationMinutes}
		if s, ok := d.byID[t.startID]; ok {
			j.startName, j.startDistrict = s.name, s.district
		}
		if s, ok := d.byID[t.endID]; ok {
			j.endName, j.endDist = s.name, s.district
		}
		out[t.id] = j
	}
	return out
}
