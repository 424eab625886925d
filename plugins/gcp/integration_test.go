//go:build gcp_integration

package gcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"go.starlark.net/starlark"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// These tests run against fake-gcs-server and the BigQuery emulator as
// processes on 127.0.0.1, started by scripts/gcp/with-emulators.sh
// (make test-gcp), which sets STORAGE_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST
// and WFSH_BQ_PROJECT. The emulator's loads read gs:// URIs from
// fake-gcs-server.
//
// Where the emulator is known to differ from BigQuery, the tests check the
// job configuration @gcp sent (read back with jobs.get) instead of the
// effect: the emulator ignores WRITE_TRUNCATE on a query with a
// destination table (rows double on a rerun), and its loads ignore
// write_disposition and skip_leading_rows (the first row of each file is
// always dropped, so our fixtures have exactly one header line).

type emulators struct {
	project  string
	bq       *bigquery.Client
	gcs      *storage.Client
	bqHost   string
	gcsHost  string
	testName string
}

func needEmulators(t testing.TB) *emulators {
	t.Helper()
	e := &emulators{
		project: os.Getenv("WFSH_BQ_PROJECT"),
		bqHost:  os.Getenv("BIGQUERY_EMULATOR_HOST"),
		gcsHost: os.Getenv("STORAGE_EMULATOR_HOST"),
	}
	if e.project == "" || e.bqHost == "" || e.gcsHost == "" {
		t.Fatal("the gcp_integration tests need the emulators: run them with make test-gcp (scripts/gcp/with-emulators.sh)")
	}
	ctx := t.Context()
	var err error
	if e.bq, err = bigquery.NewClient(ctx, e.project, option.WithEndpoint("http://"+e.bqHost), option.WithoutAuthentication()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.bq.Close() })
	// The storage client reads STORAGE_EMULATOR_HOST itself.
	if e.gcs, err = storage.NewClient(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.gcs.Close() })
	return e
}

// unique makes a name no other test (or earlier run on the same emulator)
// uses.
func unique(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// dataset creates a dataset of the test's own.
func (e *emulators) dataset(t *testing.T) string {
	t.Helper()
	name := unique("it")
	if err := e.bq.Dataset(name).Create(t.Context(), &bigquery.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatalf("creating dataset %s: %v", name, err)
	}
	return name
}

// bucket creates a bucket of the test's own.
func (e *emulators) bucket(t testing.TB) string {
	t.Helper()
	name := strings.ReplaceAll(unique("bikeshare"), "_", "-")
	if err := e.gcs.Bucket(name).Create(t.Context(), e.project, nil); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// put stores an object; gzipped content is stored as the exports are, with
// Content-Encoding: gzip (without it, the emulator loads 0 rows).
func (e *emulators) put(t *testing.T, bucket, name string, content []byte, gzipped bool) {
	t.Helper()
	w := e.gcs.Bucket(bucket).Object(name).NewWriter(t.Context())
	w.ContentType = "text/csv"
	if gzipped {
		w.ContentEncoding = "gzip"
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("storing gs://%s/%s: %v", bucket, name, err)
	}
}

// putDay stores a generated day under gs://BUCKET/bikeshare/DAY/, as the
// flows expect it.
func (e *emulators) putDay(t *testing.T, bucket string, day time.Time, d *bikeshareDay) {
	t.Helper()
	prefix := "bikeshare/" + day.Format("2006-01-02") + "/"
	e.put(t, bucket, prefix+"bikeshare_stations.csv.gz", gzipBytes(t, d.stationsCSV()), true)
	for i, part := range d.tripsCSV(2) {
		e.put(t, bucket, fmt.Sprintf("%sbikeshare_trips-%03d.csv.gz", prefix, i), gzipBytes(t, part), true)
	}
}

// rows reads a query's rows with the client, not with @gcp.
func (e *emulators) rows(t *testing.T, sql string) []map[string]bigquery.Value {
	t.Helper()
	it, err := e.bq.Query(sql).Read(t.Context())
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out []map[string]bigquery.Value
	for {
		row := map[string]bigquery.Value{}
		err := it.Next(&row)
		if err == iterator.Done {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		out = append(out, row)
	}
}

func (e *emulators) count(t *testing.T, table string) int64 {
	t.Helper()
	rows := e.rows(t, "SELECT COUNT(*) AS n FROM `"+table+"`")
	return rows[0]["n"].(int64)
}

// jobConfig reads back the configuration of a job @gcp ran, by the id it
// logged or returned.
func (e *emulators) jobConfig(t *testing.T, id string) bigquery.JobConfig {
	t.Helper()
	// PROJECT:LOCATION.ID or PROJECT:ID
	_, rest, _ := strings.Cut(id, ":")
	if _, after, ok := strings.Cut(rest, "."); ok {
		rest = after
	}
	job, err := e.bq.JobFromID(t.Context(), rest)
	if err != nil {
		t.Fatalf("jobs.get %s: %v", rest, err)
	}
	cfg, err := job.Config()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// loggedJob finds the job id in "BigQuery job ID started".
func loggedJob(t *testing.T, lines []logLine) string {
	t.Helper()
	for _, l := range lines {
		if id, ok := strings.CutPrefix(l.text, "BigQuery job "); ok && strings.HasSuffix(id, " started") {
			return strings.TrimSuffix(id, " started")
		}
	}
	t.Fatalf("no job id in the log: %v", lines)
	return ""
}

func TestIntegrationQueryToTable(t *testing.T) {
	e := needEmulators(t)
	ds := e.dataset(t)
	ctx := ctxFor(t, 2*time.Minute)
	res, lines, err := callPlugin(t, ctx, "bigquery_query", map[string]any{
		"query":        "SELECT 1 AS n, 'one' AS s UNION ALL SELECT 2, 'two' UNION ALL SELECT 3, 'three'",
		"dataset_dest": ds,
		"table_dest":   "numbers",
		"job_labels":   map[string]any{"team": "data"},
	})
	if err != nil {
		t.Fatal(err)
	}
	table := e.project + "." + ds + ".numbers"
	if res != table {
		t.Errorf("returned %v, want the table id %s", res, table)
	}
	got := e.rows(t, "SELECT n, s FROM `"+table+"` ORDER BY n")
	if fmt.Sprint(got) != "[map[n:1 s:one] map[n:2 s:two] map[n:3 s:three]]" {
		t.Errorf("table holds %v", got)
	}
	// The emulator does not honour WRITE_TRUNCATE on a query's destination
	// (BigQuery does): check that we asked for it.
	cfg, ok := e.jobConfig(t, loggedJob(t, lines)).(*bigquery.QueryConfig)
	if !ok {
		t.Fatalf("job config %T", cfg)
	}
	if cfg.WriteDisposition != bigquery.WriteTruncate || cfg.Dst == nil || cfg.Dst.TableID != "numbers" || cfg.Dst.DatasetID != ds {
		t.Errorf("job sent WriteDisposition %q to %+v, want WRITE_TRUNCATE to %s.numbers", cfg.WriteDisposition, cfg.Dst, ds)
	}
	if cfg.Labels["team"] != "data" || cfg.Labels["wfsh_flow_run"] != "test-run" {
		t.Errorf("job labels %v", cfg.Labels)
	}

	// fetch=True returns the rows, as dicts, bounded by max_rows.
	rows, lines, err := callPlugin(t, ctx, "bigquery_query", map[string]any{
		"query": "SELECT n, s, n * 1.5 AS f, n > 1 AS big, TIMESTAMP '2020-11-30 08:00:00+00' AS ts, DATE '2020-11-30' AS d, [n, n] AS arr, STRUCT(n AS a, s AS b) AS rec, CAST(NULL AS STRING) AS nothing FROM `" + table + "` ORDER BY n",
		"fetch": true, "max_rows": int64(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "[map[arr:[1 1] big:false d:2020-11-30 f:1.5 n:1 nothing:<nil> rec:map[a:1 b:one] s:one ts:2020-11-30T08:00:00Z] " +
		"map[arr:[2 2] big:true d:2020-11-30 f:3 n:2 nothing:<nil> rec:map[a:2 b:two] s:two ts:2020-11-30T08:00:00Z]]"
	if fmt.Sprint(rows) != want {
		t.Errorf("fetched\n%v\nwant\n%s", rows, want)
	}
	if !hasLine(lines, "the query returned 3 rows; kept the first 2 (raise max_rows, or write to a table with table_dest=)") {
		t.Errorf("no warning about max_rows in %v", lines)
	}
}

// hasLine tells whether a line is text, or starts with it when text ends
// with "(".
func hasLine(lines []logLine, text string) bool {
	for _, l := range lines {
		if l.text == text || strings.HasSuffix(text, "(") && strings.HasPrefix(l.text, text) {
			return true
		}
	}
	return false
}

// TestIntegrationJoin: the tour's join (flows/lib/bikeshare.star) of a
// day's trips with the stations, loaded by @gcp from gzip CSV in GCS.
func TestIntegrationJoin(t *testing.T) {
	e := needEmulators(t)
	ds, bucket := e.dataset(t), e.bucket(t)
	day := time.Date(2020, 11, 30, 0, 0, 0, 0, time.UTC)
	fx := newBikeshareDay(day, 30, 240)
	e.putDay(t, bucket, day, fx)
	ctx := ctxFor(t, 3*time.Minute)
	stations, trips := loadDay(t, ctx, e, ds, bucket, day)
	res, err := callFn(t, ctx, "bigquery_query", map[string]any{
		"query":        joinQuery(t, stations, trips),
		"dataset_dest": ds,
		"table_dest":   "denormalized_20201130",
	})
	if err != nil {
		t.Fatal(err)
	}
	checkJoin(t, e, res.(string), fx)
}

// loadDay loads a stored day with @gcp, as flows/gcs_to_bq.star does.
func loadDay(t *testing.T, ctx context.Context, e *emulators, ds, bucket string, day time.Time) (stations, trips string) {
	t.Helper()
	cols := starlarkGlobals(t)
	prefix := "gs://" + bucket + "/bikeshare/" + day.Format("2006-01-02") + "/"
	for _, l := range []struct {
		export string
		into   *string
	}{{"bikeshare_stations", &stations}, {"bikeshare_trips", &trips}} {
		schema := cols["STATIONS"]
		if l.export == "bikeshare_trips" {
			schema = cols["TRIPS"]
		}
		res, err := callFn(t, ctx, "bigquery_load_gcs", map[string]any{
			"uri":               prefix + l.export + "*",
			"dataset_dest":      ds,
			"table_dest":        l.export + "_" + day.Format("20060102"),
			"schema":            schema,
			"skip_leading_rows": int64(1),
		})
		if err != nil {
			t.Fatalf("loading %s: %v", l.export, err)
		}
		*l.into = res.(string)
	}
	return stations, trips
}

// starlarkGlobals runs flows/lib/bikeshare.star and returns its STATIONS
// and TRIPS as Go values, and keeps it for joinQuery.
func starlarkGlobals(t *testing.T) map[string]any {
	t.Helper()
	g := bikeshareLib(t)
	out := map[string]any{}
	for _, name := range []string{"STATIONS", "TRIPS"} {
		out[name] = toGo(t, g[name])
	}
	return out
}

func bikeshareLib(t *testing.T) starlark.StringDict {
	t.Helper()
	g, err := starlark.ExecFile(&starlark.Thread{Name: "lib"}, "../../flows/lib/bikeshare.star", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// joinQuery is the tour's join, from flows/lib/bikeshare.star.
func joinQuery(t *testing.T, stations, trips string) string {
	t.Helper()
	v, err := starlark.Call(&starlark.Thread{}, bikeshareLib(t)["denormalize_query"], starlark.Tuple{starlark.String(stations), starlark.String(trips)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(v.(starlark.String))
}

func toGo(t *testing.T, v starlark.Value) any {
	t.Helper()
	switch v := v.(type) {
	case starlark.String:
		return string(v)
	case *starlark.List:
		var out []any
		for i := range v.Len() {
			out = append(out, toGo(t, v.Index(i)))
		}
		return out
	case *starlark.Dict:
		out := map[string]any{}
		for _, kv := range v.Items() {
			out[string(kv[0].(starlark.String))] = toGo(t, kv[1])
		}
		return out
	}
	t.Fatalf("toGo: %s", v.Type())
	return nil
}

// checkJoin compares the denormalized table with what the fixture says it
// must hold: one row per trip, the station columns of known stations, NULL
// for unknown ones.
func checkJoin(t *testing.T, e *emulators, table string, fx *bikeshareDay) {
	t.Helper()
	rows := e.rows(t, "SELECT trip_id, start_station_name, end_station_name, start_council_district, end_council_district, duration_minutes FROM `"+table+"` ORDER BY trip_id")
	want := fx.wantJoin()
	if len(rows) != len(want) {
		t.Fatalf("%s holds %d rows, want one per trip: %d", table, len(rows), len(want))
	}
	nulls := 0
	for _, r := range rows {
		id := r["trip_id"].(int64)
		w, ok := want[id]
		got := joined{tripID: id, startName: r["start_station_name"], endName: r["end_station_name"],
			startDistrict: r["start_council_district"], endDist: r["end_council_district"], duration: r["duration_minutes"].(int64)}
		if !ok || fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("trip %d: got %+v, want %+v", id, got, w)
		}
		if r["start_station_name"] == nil || r["end_station_name"] == nil {
			nulls++
		}
	}
	if nulls == 0 {
		t.Error("no trip with an unknown station: the fixture should have some")
	}
}

// TestIntegrationLoadGzipCSV: loads of gzip CSV stored with
// Content-Encoding: gzip, one file and a * wildcard over two; the job we
// send asks for the header to be skipped and the table replaced.
func TestIntegrationLoadGzipCSV(t *testing.T) {
	e := needEmulators(t)
	ds, bucket := e.dataset(t), e.bucket(t)
	day := time.Date(2020, 11, 30, 0, 0, 0, 0, time.UTC)
	fx := newBikeshareDay(day, 25, 300)
	e.putDay(t, bucket, day, fx)
	ctx := ctxFor(t, 3*time.Minute)
	res, lines, err := callPlugin(t, ctx, "bigquery_load_gcs", map[string]any{
		"uri":               "gs://" + bucket + "/bikeshare/2020-11-30/bikeshare_trips*",
		"table_dest":        ds + ".trips",
		"schema":            starlarkGlobals(t)["TRIPS"],
		"skip_leading_rows": int64(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	table := e.project + "." + ds + ".trips"
	if res != table {
		t.Errorf("returned %v", res)
	}
	if n := e.count(t, table); n != int64(len(fx.trips)) {
		t.Errorf("%s holds %d rows, want %d", table, n, len(fx.trips))
	}
	// BigQuery reports the rows loaded; the emulator reports no statistics.
	if !hasLine(lines, fmt.Sprintf("loaded %d rows (", len(fx.trips))) && !hasLine(lines, "loaded into "+table) {
		t.Errorf("log lines %v", lines)
	}
	first := fx.trips[0]
	got := e.rows(t, fmt.Sprintf("SELECT subscriber_type, bike_id, start_time, start_station_id, start_station_name, duration_minutes FROM `%s` WHERE trip_id = %d", table, first.id))
	want := fmt.Sprint([]map[string]bigquery.Value{{"subscriber_type": first.subscriber, "bike_id": first.bike, "start_time": first.start,
		"start_station_id": first.startID, "start_station_name": first.startName, "duration_minutes": first.durationMinutes}})
	if fmt.Sprint(got) != want {
		t.Errorf("trip %d: got %v, want %s", first.id, got, want)
	}
	// The emulator ignores skip_leading_rows and write_disposition on
	// loads (it always drops one row per file); BigQuery honours them.
	cfg, ok := e.jobConfig(t, loggedJob(t, lines)).(*bigquery.LoadConfig)
	if !ok {
		t.Fatalf("job config %T", cfg)
	}
	ref, ok := cfg.Src.(*bigquery.GCSReference)
	if !ok {
		t.Fatalf("load source %T", cfg.Src)
	}
	if ref.SkipLeadingRows != 1 || cfg.WriteDisposition != bigquery.WriteTruncate || ref.SourceFormat != bigquery.CSV ||
		fmt.Sprint(ref.URIs) != "[gs://"+bucket+"/bikeshare/2020-11-30/bikeshare_trips*]" || len(ref.Schema) != 10 {
		t.Errorf("job sent skip %d, disposition %q, format %q, URIs %v, %d columns", ref.SkipLeadingRows, cfg.WriteDisposition, ref.SourceFormat, ref.URIs, len(ref.Schema))
	}
}

// TestIntegrationLoadNDJSON: newline-delimited JSON, schema detected.
func TestIntegrationLoadNDJSON(t *testing.T) {
	e := needEmulators(t)
	ds, bucket := e.dataset(t), e.bucket(t)
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf(`{"id": %d, "name": "s%d", "docks": %d}`, i, i, i%7))
	}
	e.put(t, bucket, "stations.json", []byte(strings.Join(lines, "\n")+"\n"), false)
	ctx := ctxFor(t, 2*time.Minute)
	_, err := callFn(t, ctx, "bigquery_load_gcs", map[string]any{
		"uri": "gs://" + bucket + "/stations.json", "table_dest": ds + ".stations", "source_format": "NDJSON",
		"schema": "id:INTEGER,name:STRING,docks:INTEGER",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := e.rows(t, "SELECT COUNT(*) AS n, SUM(docks) AS docks FROM `"+e.project+"."+ds+".stations`")
	wantDocks := int64(0)
	for i := range 50 {
		wantDocks += int64(i % 7)
	}
	if got[0]["n"] != int64(50) || got[0]["docks"] != wantDocks {
		t.Errorf("got %v, want 50 rows with %d docks", got, wantDocks)
	}
}

func TestIntegrationBadSQL(t *testing.T) {
	e := needEmulators(t)
	ctx := ctxFor(t, time.Minute)
	_, err := callFn(t, ctx, "bigquery_query", map[string]any{"query": "SELECT trip_id FORM trips"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	t.Logf("bad SQL: %s", msg)
	if !strings.HasPrefix(msg, "invalid query: ") || !strings.Contains(msg, "(job "+e.project+":") || strings.Contains(msg, "\n") {
		t.Errorf("err = %v, want one line: bigquery_query: invalid query: MESSAGE (job ...)", err)
	}
	if !strings.Contains(msg, "[1:") {
		t.Errorf("err = %v, want the position [line:col] BigQuery gives", err)
	}
}

func TestIntegrationMissingTable(t *testing.T) {
	e := needEmulators(t)
	ds, bucket := e.dataset(t), e.bucket(t)
	ctx := ctxFor(t, time.Minute)
	for _, tc := range []struct {
		fn   string
		args map[string]any
	}{
		{"bigquery_query", map[string]any{"query": "SELECT * FROM `" + e.project + "." + ds + ".nosuch`"}},
		{"bigquery_load_gcs", map[string]any{"uri": "gs://" + bucket + "/nosuch.csv", "table_dest": ds + ".t", "schema": "a:STRING"}},
	} {
		_, err := callFn(t, ctx, tc.fn, tc.args)
		if err == nil {
			t.Errorf("%s %v: no error", tc.fn, tc.args)
			continue
		}
		t.Logf("%v", err)
		msg := err.Error()
		if !strings.HasPrefix(msg, "not found: ") || !strings.Contains(msg, "nosuch") || !strings.Contains(msg, "(job "+e.project+":") || strings.Contains(msg, "\n") {
			t.Errorf("%s: err = %v, want one line: not found: ... nosuch ... (job ...)", tc.fn, err)
		}
	}
	// A load into a missing dataset is left out: the emulator panics on it
	// (HTTP 500, which the client retries until the deadline); BigQuery
	// answers 404 notFound, which TestInsertErrors covers.
}

func TestIntegrationDryRun(t *testing.T) {
	e := needEmulators(t)
	ds := e.dataset(t)
	ctx := ctxFor(t, time.Minute)
	if _, err := callFn(t, ctx, "bigquery_query", map[string]any{"query": "SELECT 1 AS n", "table_dest": ds + ".one"}); err != nil {
		t.Fatal(err)
	}
	res, lines, err := callPlugin(t, ctx, "bigquery_query", map[string]any{"query": "SELECT n FROM `" + e.project + "." + ds + ".one`", "dry_run": true})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := res.(int64)
	if !ok || n < 0 {
		t.Errorf("dry run returned %#v, want the bytes it would process (an int)", res)
	}
	if !hasLine(lines, fmt.Sprintf("dry run: the query would process %d bytes", n)) {
		t.Errorf("log lines %v", lines)
	}
	// As in BigQuery, a dry run leaves no job behind to read back; a bad
	// query fails it.
	_, err = callFn(t, ctx, "bigquery_query", map[string]any{"query": "SELECT nosuch FROM `" + e.project + "." + ds + ".one`", "dry_run": true})
	if err == nil || !strings.HasPrefix(err.Error(), "invalid query: ") {
		t.Errorf("dry run of a bad query: err = %v", err)
	}
}
