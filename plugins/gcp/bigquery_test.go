package gcp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// These tests check the jobs @gcp builds, and how it reports failures that
// the BigQuery emulator cannot produce (permission denied, quota, bad
// credentials, a job that runs until it is cancelled), using a server that
// answers with BigQuery's error documents. The jobs themselves run against
// the real emulator in the gcp_integration tests (make test-gcp).

// args fills in the defaults of fn's parameters, as the SDK does.
func args(t *testing.T, fn string, given map[string]any) *sdk.Call {
	t.Helper()
	f := findFn(t, fn)
	a := map[string]any{}
	for _, prm := range f.Params {
		if !prm.Required {
			v, _ := sdk.Encode(prm.Default)
			a[prm.Name], _ = sdk.Decode(v)
		}
	}
	for k, v := range given {
		a[k] = v
	}
	return &sdk.Call{Args: a, TaskRun: "denormalize", FlowRun: "3f2a9c1e-0b6d-4a57-9a51-2f3f6c9d8e70"}
}

// offlineClient is a BigQuery client for building jobs; it is never used
// to send one.
func offlineClient(t *testing.T) *bigquery.Client {
	t.Helper()
	cl, err := bigquery.NewClient(t.Context(), "test-project", option.WithEndpoint("http://127.0.0.1:1"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func TestQueryConfig(t *testing.T) {
	p := newPlugin()
	cl := offlineClient(t)
	q, dst, err := p.queryConfig(cl, args(t, "bigquery_query", map[string]any{
		"query":        "SELECT @day AS day, @ids AS ids",
		"dataset_dest": "bikeshare",
		"table_dest":   "denormalized_20201130",
		"location":     "US",
		"job_labels":   map[string]any{"team": "data", "flow": "etl"},
		"query_params": map[string]any{"day": "2020-11-30", "ids": []any{int64(1), int64(2)}},
	}), "test-project")
	if err != nil {
		t.Fatal(err)
	}
	if dst != "test-project.bikeshare.denormalized_20201130" {
		t.Errorf("dst = %q", dst)
	}
	if q.Dst == nil || q.Dst.ProjectID != "test-project" || q.Dst.DatasetID != "bikeshare" || q.Dst.TableID != "denormalized_20201130" {
		t.Errorf("Dst = %+v", q.Dst)
	}
	// Like Embulk's mode: replace in the tour: a rerun replaces the table.
	if q.WriteDisposition != bigquery.WriteTruncate || q.CreateDisposition != bigquery.CreateIfNeeded {
		t.Errorf("dispositions %q %q, want WRITE_TRUNCATE CREATE_IF_NEEDED", q.WriteDisposition, q.CreateDisposition)
	}
	if q.Location != "US" || q.DryRun || q.UseLegacySQL {
		t.Errorf("Location %q DryRun %v UseLegacySQL %v", q.Location, q.DryRun, q.UseLegacySQL)
	}
	wantLabels := map[string]string{"team": "data", "flow": "etl", "wfsh_flow_run": "3f2a9c1e-0b6d-4a57-9a51-2f3f6c9d8e70"}
	if fmt.Sprint(q.Labels) != fmt.Sprint(wantLabels) {
		t.Errorf("labels %v, want %v", q.Labels, wantLabels)
	}
	if !regexp.MustCompile(`^wfsh_denormalize_[0-9a-f]{16}$`).MatchString(q.JobID) {
		t.Errorf("job id %q", q.JobID)
	}
	if len(q.Parameters) != 2 || q.Parameters[0].Name != "day" || q.Parameters[0].Value != "2020-11-30" ||
		q.Parameters[1].Name != "ids" || fmt.Sprint(q.Parameters[1].Value) != "[1 2]" {
		t.Errorf("parameters %+v", q.Parameters)
	}
	if _, ok := q.Parameters[1].Value.([]int64); !ok {
		t.Errorf("ids parameter is a %T, want []int64 (an ARRAY<INT64>)", q.Parameters[1].Value)
	}

	// No destination: no dispositions either; dry run and append as asked.
	q, dst, err = p.queryConfig(cl, args(t, "bigquery_query", map[string]any{"query": "SELECT 1", "dry_run": true}), "p")
	if err != nil || dst != "" || q.Dst != nil || !q.DryRun || q.WriteDisposition != "" {
		t.Errorf("no destination: dst %q Dst %v DryRun %v WriteDisposition %q err %v", dst, q.Dst, q.DryRun, q.WriteDisposition, err)
	}
	q, _, err = p.queryConfig(cl, args(t, "bigquery_query", map[string]any{"query": "SELECT 1", "table_dest": "other.ds.t", "write_disposition": "write_append"}), "p")
	if err != nil || q.Dst.ProjectID != "other" || q.Dst.DatasetID != "ds" || q.WriteDisposition != bigquery.WriteAppend {
		t.Errorf("PROJECT.DATASET.TABLE with WRITE_APPEND: %+v %q %v", q.Dst, q.WriteDisposition, err)
	}
}

func TestQueryConfigErrors(t *testing.T) {
	p := newPlugin()
	cl := offlineClient(t)
	for _, tc := range []struct {
		given map[string]any
		want  string
	}{
		{map[string]any{"query": "  "}, "query is empty"},
		{map[string]any{"query": "SELECT 1", "dataset_dest": "ds"}, "dataset_dest is given but table_dest is not"},
		{map[string]any{"query": "SELECT 1", "table_dest": "t"}, `table_dest "t" has no dataset: pass dataset_dest= or write DATASET.TABLE`},
		{map[string]any{"query": "SELECT 1", "table_dest": "a.b.c.d"}, `table_dest "a.b.c.d": want TABLE, DATASET.TABLE or PROJECT.DATASET.TABLE`},
		{map[string]any{"query": "SELECT 1", "table_dest": "x.t", "dataset_dest": "y"}, `table_dest "x.t" names dataset x but dataset_dest is y`},
		{map[string]any{"query": "SELECT 1", "table_dest": "ds.t", "write_disposition": "replace"}, `write_disposition "replace": want one of WRITE_TRUNCATE, WRITE_APPEND, WRITE_EMPTY`},
		{map[string]any{"query": "SELECT 1", "job_labels": map[string]any{"Team": "x"}}, `job_labels: key "Team": keys are 1-63 lowercase letters`},
		{map[string]any{"query": "SELECT 1", "job_labels": map[string]any{"n": int64(1)}}, `job_labels["n"] must be a string, got int`},
		{map[string]any{"query": "SELECT 1", "query_params": map[string]any{"x": []any{int64(1), "a"}}}, `query_params["x"]: element 1 is a string, not a int like the first`},
		{map[string]any{"query": "SELECT 1", "location": int64(1)}, "location must be a string, got int"},
	} {
		_, _, err := p.queryConfig(cl, args(t, "bigquery_query", tc.given), "p")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.given, err, tc.want)
		}
	}
}

// The tour's Embulk column lists, as a flow writes them.
var tripsColumns = []any{
	map[string]any{"name": "trip_id", "type": "long"},
	map[string]any{"name": "subscriber_type", "type": "string"},
	map[string]any{"name": "start_time", "type": "timestamp", "format": "%Y-%m-%d %H:%M:%S %Z"},
	map[string]any{"name": "duration_minutes", "type": "long"},
	map[string]any{"name": "footprint_length", "type": "double", "mode": "required"},
}

func TestLoadConfig(t *testing.T) {
	p := newPlugin()
	cl := offlineClient(t)
	l, dst, err := p.loaderConfig(cl, args(t, "bigquery_load_gcs", map[string]any{
		"uri":               "gs://bikeshare/2020-11-30/trips*",
		"dataset_dest":      "bikeshare",
		"table_dest":        "bikeshare_trips_20201130",
		"schema":            tripsColumns,
		"skip_leading_rows": int64(1),
		"time_zone":         "America/Chicago",
	}), "test-project")
	if err != nil {
		t.Fatal(err)
	}
	if dst != "test-project.bikeshare.bikeshare_trips_20201130" || l.Dst.TableID != "bikeshare_trips_20201130" {
		t.Errorf("dst %q, Dst %+v", dst, l.Dst)
	}
	if l.WriteDisposition != bigquery.WriteTruncate {
		t.Errorf("write disposition %q, want WRITE_TRUNCATE", l.WriteDisposition)
	}
	ref := l.Src.(*bigquery.GCSReference)
	if fmt.Sprint(ref.URIs) != "[gs://bikeshare/2020-11-30/trips*]" || ref.SourceFormat != bigquery.CSV || ref.SkipLeadingRows != 1 || ref.AutoDetect {
		t.Errorf("source %v %q skip %d autodetect %v", ref.URIs, ref.SourceFormat, ref.SkipLeadingRows, ref.AutoDetect)
	}
	var got []string
	for _, f := range ref.Schema {
		got = append(got, fmt.Sprintf("%s:%s:%v", f.Name, f.Type, f.Required))
	}
	if want := "[trip_id:INTEGER:false subscriber_type:STRING:false start_time:TIMESTAMP:false duration_minutes:INTEGER:false footprint_length:FLOAT:true]"; fmt.Sprint(got) != want {
		t.Errorf("schema %v, want %s", got, want)
	}
	if ref.TimestampFormat != "%Y-%m-%d %H:%M:%S %Z" || ref.TimeZone != "America/Chicago" {
		t.Errorf("timestamp format %q zone %q", ref.TimestampFormat, ref.TimeZone)
	}

	// No schema: CSV and JSON autodetect; Parquet describes itself.
	for format, auto := range map[string]bool{"CSV": true, "ndjson": true, "PARQUET": false} {
		l, _, err := p.loaderConfig(cl, args(t, "bigquery_load_gcs", map[string]any{"uri": "gs://b/x", "table_dest": "ds.t", "source_format": format}), "p")
		if err != nil {
			t.Fatal(err)
		}
		if ref := l.Src.(*bigquery.GCSReference); ref.AutoDetect != auto {
			t.Errorf("%s without a schema: autodetect %v, want %v", format, ref.AutoDetect, auto)
		}
	}
}

func TestLoadConfigErrors(t *testing.T) {
	p := newPlugin()
	cl := offlineClient(t)
	for _, tc := range []struct {
		given map[string]any
		want  string
	}{
		{map[string]any{"uri": "s3://b/x"}, `uri "s3://b/x": want gs://BUCKET/PATH`},
		{map[string]any{"uri": []any{}}, "uri: the list is empty"},
		{map[string]any{"uri": "gs://b/x", "source_format": "XLS"}, `source_format "XLS": want CSV, NEWLINE_DELIMITED_JSON (or NDJSON), PARQUET, AVRO or ORC`},
		{map[string]any{"uri": "gs://b/x", "source_format": "PARQUET", "skip_leading_rows": int64(1)}, "skip_leading_rows applies to CSV only, not PARQUET"},
		{map[string]any{"uri": "gs://b/x", "schema": []any{map[string]any{"name": "a", "type": "long", "format": "%Y"}}}, "schema: column 0: a: format applies to timestamp columns, not INTEGER"},
		{map[string]any{"uri": "gs://b/x", "schema": []any{map[string]any{"name": "a", "type": "varchar"}}}, `schema: column 0: a: unknown type "varchar"`},
		{map[string]any{"uri": "gs://b/x", "schema": []any{map[string]any{"name": "a", "typ": "long"}}}, `schema: column 0: unknown key "typ"`},
		{map[string]any{"uri": "gs://b/x", "schema": []any{
			map[string]any{"name": "a", "type": "timestamp", "format": "%Y-%m-%d"},
			map[string]any{"name": "b", "type": "timestamp", "format": "%d/%m/%Y"},
		}}, `schema: column 1: b: format "%d/%m/%Y" differs from another column's "%Y-%m-%d": a load takes one`},
	} {
		tc.given["table_dest"] = "ds.t"
		_, _, err := p.loaderConfig(cl, args(t, "bigquery_load_gcs", tc.given), "p")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.given, err, tc.want)
		}
	}
}

func TestCompactSchema(t *testing.T) {
	cols, err := parseSchema("station_id:INTEGER, name ,modified_date:timestamp")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range cols.schema {
		got = append(got, f.Name+":"+string(f.Type))
	}
	if fmt.Sprint(got) != "[station_id:INTEGER name:STRING modified_date:TIMESTAMP]" {
		t.Errorf("schema %v", got)
	}
	cols, err = parseSchema(`[{"name": "a", "type": "RECORD", "mode": "REPEATED", "fields": [{"name": "b", "type": "INT64"}]}]`)
	if err != nil {
		t.Fatal(err)
	}
	if f := cols.schema[0]; !f.Repeated || f.Type != bigquery.RecordFieldType || len(f.Schema) != 1 || f.Schema[0].Type != bigquery.IntegerFieldType {
		t.Errorf("JSON schema with a RECORD: %+v", f)
	}
}

// faultServer answers BigQuery's REST API with what a test wants: an error
// for jobs.insert, or a job that never completes (until cancelled).
type faultServer struct {
	*httptest.Server
	insertStatus int
	insertBody   string

	mu        sync.Mutex
	cancelled []string // job ids of jobs.cancel requests
	inserted  []string // job ids of jobs.insert requests
}

func newFaultServer(t *testing.T, status int, body string) *faultServer {
	f := &faultServer{insertStatus: status, insertBody: body}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

var (
	insertPath  = regexp.MustCompile(`^(?:/bigquery/v2)?/projects/([^/]+)/jobs$`)
	cancelPath  = regexp.MustCompile(`^(?:/bigquery/v2)?/projects/([^/]+)/jobs/([^/]+)/cancel$`)
	resultsPath = regexp.MustCompile(`^(?:/bigquery/v2)?/projects/([^/]+)/queries/([^/]+)$`)
	jobPath     = regexp.MustCompile(`^(?:/bigquery/v2)?/projects/([^/]+)/jobs/([^/]+)$`)
)

func (f *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && insertPath.MatchString(r.URL.Path):
		var job struct {
			JobReference struct{ ProjectID, JobID, Location string }
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &job)
		f.mu.Lock()
		f.inserted = append(f.inserted, job.JobReference.JobID)
		f.mu.Unlock()
		if f.insertStatus != 0 {
			w.WriteHeader(f.insertStatus)
			_, _ = io.WriteString(w, f.insertBody)
			return
		}
		fmt.Fprintf(w, `{"jobReference": {"projectId": %q, "jobId": %q, "location": "US"}, "configuration": {"query": {"query": "SELECT 1"}}, "status": {"state": "RUNNING"}}`,
			job.JobReference.ProjectID, job.JobReference.JobID)
	case r.Method == http.MethodPost && cancelPath.MatchString(r.URL.Path):
		m := cancelPath.FindStringSubmatch(r.URL.Path)
		f.mu.Lock()
		f.cancelled = append(f.cancelled, m[2])
		f.mu.Unlock()
		fmt.Fprintf(w, `{"job": {"jobReference": {"projectId": %q, "jobId": %q}, "status": {"state": "DONE"}}}`, m[1], m[2])
	case r.Method == http.MethodGet && resultsPath.MatchString(r.URL.Path):
		// A long query: not done after the client's wait.
		select {
		case <-r.Context().Done():
		case <-time.After(200 * time.Millisecond):
		}
		m := resultsPath.FindStringSubmatch(r.URL.Path)
		fmt.Fprintf(w, `{"jobReference": {"projectId": %q, "jobId": %q}, "jobComplete": false}`, m[1], m[2])
	case r.Method == http.MethodGet && jobPath.MatchString(r.URL.Path):
		m := jobPath.FindStringSubmatch(r.URL.Path)
		fmt.Fprintf(w, `{"jobReference": {"projectId": %q, "jobId": %q, "location": "US"}, "configuration": {"query": {"query": "SELECT 1"}}, "status": {"state": "RUNNING"}}`, m[1], m[2])
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error": {"code": 404, "message": "no route %s %s", "errors": [{"reason": "notFound", "message": "no route"}]}}`, r.Method, r.URL.Path)
	}
}

func (f *faultServer) calls() (inserted, cancelled []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.inserted...), append([]string(nil), f.cancelled...)
}

// bqError is BigQuery's error document.
func bqError(code int, reason, msg string) string {
	return fmt.Sprintf(`{"error": {"code": %d, "message": %q, "errors": [{"reason": %q, "message": %q, "domain": "global"}], "status": "X"}}`, code, msg, reason, msg)
}

// TestInsertErrors: each failure BigQuery reports when a job is submitted
// becomes one line with its kind, BigQuery's message, the job and a hint.
func TestInsertErrors(t *testing.T) {
	for _, tc := range []struct {
		status       int
		reason, msg  string
		want, hintRe string
	}{
		{403, "accessDenied", "Access Denied: Project test-project: User does not have bigquery.jobs.create permission in project test-project.",
			"permission denied: Access Denied: Project test-project: User does not have bigquery.jobs.create permission in project test-project. (job test-project:US.wfsh_t_", "roles/bigquery.jobUser"},
		{403, "quotaExceeded", "Quota exceeded: Your project exceeded quota for free query bytes scanned.",
			"quota exceeded: Quota exceeded: Your project exceeded quota for free query bytes scanned. (job test-project:US.wfsh_t_", "retries="},
		{401, "authError", "Request is missing required authentication credential.",
			"bad credentials: Request is missing required authentication credential. (job test-project:US.wfsh_t_", "credentials="},
		{404, "notFound", "Not found: Dataset test-project:nosuch",
			"not found: Not found: Dataset test-project:nosuch (job test-project:US.wfsh_t_", "dataset and table names"},
	} {
		f := newFaultServer(t, tc.status, bqError(tc.status, tc.reason, tc.msg))
		_, err := callFn(t, ctxFor(t, time.Minute), "bigquery_query", map[string]any{
			"query": "SELECT 1", "project": "test-project", "location": "US", "endpoint": f.URL})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.hintRe) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%d %s: err = %v\nwant one line with %q and %q", tc.status, tc.reason, err, tc.want, tc.hintRe)
		}
	}
}

// TestCancelJob: when the call's context ends (the task timed out or the
// run was interrupted) while the job runs, the plugin cancels the job in
// BigQuery, through the real plugin protocol.
func TestCancelJob(t *testing.T) {
	f := newFaultServer(t, 0, "")
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, lines, err := callPlugin(t, ctx, "bigquery_query", map[string]any{
		"query": "SELECT COUNT(*) FROM big", "project": "test-project", "endpoint": f.URL})
	if err == nil || ctx.Err() == nil {
		t.Fatalf("call returned %v before its context ended", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the call took %v to return after the timeout", d)
	}
	// The plugin cancels after the host gave up: wait for it a little.
	deadline := time.Now().Add(10 * time.Second)
	var inserted, cancelled []string
	for time.Now().Before(deadline) {
		if inserted, cancelled = f.calls(); len(cancelled) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(inserted) != 1 || len(cancelled) != 1 || cancelled[0] != inserted[0] {
		t.Fatalf("jobs inserted %v, cancelled %v: want the one job cancelled", inserted, cancelled)
	}
	if !strings.HasPrefix(inserted[0], "wfsh_load_trips_") {
		t.Errorf("job id %q does not name the task run", inserted[0])
	}
	if len(lines) == 0 || lines[0].text != "BigQuery job test-project:US."+inserted[0]+" started" {
		t.Errorf("log lines %v", lines)
	}
}

// TestCancelInProcess: the same, with the error the function returns.
func TestCancelInProcess(t *testing.T) {
	f := newFaultServer(t, 0, "")
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := callFn(t, ctx, "bigquery_query", map[string]any{"query": "SELECT 1", "project": "test-project", "endpoint": f.URL})
	inserted, cancelled := f.calls()
	if len(inserted) != 1 || len(cancelled) != 1 {
		t.Fatalf("inserted %v cancelled %v", inserted, cancelled)
	}
	want := "cancelled job test-project:US." + inserted[0] + ": context deadline exceeded"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// serviceAccount makes a service-account key (a real RSA key) whose token
// endpoint is tokenURI.
func serviceAccount(t *testing.T, tokenURI string) map[string]any {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"type":           "service_account",
		"project_id":     "sa-project",
		"private_key_id": "0123456789abcdef",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "etl@sa-project.iam.gserviceaccount.com",
		"client_id":      "1234567890",
		"token_uri":      tokenURI,
	}
}

// TestBadCredentials: a service-account key the token endpoint refuses
// fails the call with "bad credentials" and the endpoint's reason, and the
// key appears in no message.
func TestBadCredentials(t *testing.T) {
	token := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}`)
	}))
	defer token.Close()
	f := newFaultServer(t, 0, "")
	sa := serviceAccount(t, token.URL)
	_, err := callFn(t, ctxFor(t, time.Minute), "bigquery_query", map[string]any{
		"query": "SELECT 1", "credentials": sa, "endpoint": f.URL})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "bad credentials: ") || !strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, "Invalid JWT Signature.") || strings.Contains(msg, "\n") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(msg, "PRIVATE KEY") || strings.Contains(msg, "0123456789abcdef") {
		t.Errorf("the key leaked into the error: %v", err)
	}
	// No job was submitted without a token.
	if inserted, _ := f.calls(); len(inserted) != 0 {
		t.Errorf("a job was inserted without a token: %v", inserted)
	}
}

func TestCredentialErrors(t *testing.T) {
	secret := `{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nhunter2hunter2"`
	for _, tc := range []struct {
		creds any
		want  string
	}{
		{secret, "credentials: not valid JSON; pass the service-account key file's content"},
		{map[string]any{"type": "service_account", "client_email": "x@y"}, "credentials: the service-account key lacks client_email or private_key"},
		{map[string]any{"project_id": "p"}, `credentials: the JSON has no "type"`},
		{map[string]any{"type": "external_account"}, `credentials: keys of type "external_account" are not accepted`},
		{int64(3), "credentials: want a service-account key as a dict or a JSON string, got int"},
	} {
		_, err := callFn(t, ctxFor(t, time.Minute), "bigquery_query", map[string]any{"query": "SELECT 1", "project": "p", "credentials": tc.creds})
		if err == nil || !strings.Contains(err.Error(), ""+tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.creds, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the key leaked into the error: %v", err)
		}
	}
}

// TestProject: project= wins, then the credentials' project_id, then
// $GOOGLE_CLOUD_PROJECT; with none, the error says what to do.
func TestProject(t *testing.T) {
	p := newPlugin()
	env := map[string]string{}
	p.getenv = func(k string) string { return env[k] }
	sa := serviceAccount(t, "http://127.0.0.1:1/token")
	for _, tc := range []struct {
		given map[string]any
		env   string
		want  string
	}{
		{map[string]any{"project": "given"}, "env", "given"},
		{map[string]any{"credentials": sa}, "env", "sa-project"},
		{map[string]any{}, "env", "env"},
		{map[string]any{}, "", ""},
	} {
		env[envProject] = tc.env
		cn, err := p.connFor(args(t, "bigquery_query", tc.given), envBigQueryEmulator)
		if err != nil || cn.project != tc.want {
			t.Errorf("%v with $%s=%q: project %q, %v; want %q", tc.given, envProject, tc.env, cn.project, err, tc.want)
		}
	}
	env[envProject] = ""
	_, err := callFnWith(t, p, "bigquery_query", map[string]any{"query": "SELECT 1"})
	if err == nil || err.Error() != "no project: pass project=, credentials with a project_id, or set $GOOGLE_CLOUD_PROJECT" {
		t.Errorf("no project: err = %v", err)
	}
}

// TestEndpoints: endpoint= and the emulator variables, and when no
// credentials are sent.
func TestEndpoints(t *testing.T) {
	p := newPlugin()
	env := map[string]string{}
	p.getenv = func(k string) string { return env[k] }
	sa := serviceAccount(t, "http://127.0.0.1:1/token")
	for _, tc := range []struct {
		given    map[string]any
		env      string
		endpoint string
		noAuth   bool
	}{
		{map[string]any{}, "", "", false},
		{map[string]any{}, "127.0.0.1:9050", "http://127.0.0.1:9050", true},
		{map[string]any{}, "http://localhost:9050/", "http://localhost:9050", true},
		{map[string]any{"endpoint": "http://127.0.0.1:9999"}, "127.0.0.1:9050", "http://127.0.0.1:9999", true},
		{map[string]any{"endpoint": "https://bigquery.example.com/bigquery/v2/"}, "", "https://bigquery.example.com/bigquery/v2", false},
		// endpoint= with credentials: both were asked for, both are used.
		{map[string]any{"endpoint": "http://127.0.0.1:9999", "credentials": sa}, "", "http://127.0.0.1:9999", false},
		// The emulator variable: never credentials (the key still gives
		// the project), as Google's clients do.
		{map[string]any{"credentials": sa}, "127.0.0.1:9050", "http://127.0.0.1:9050", true},
	} {
		env[envBigQueryEmulator] = tc.env
		tc.given["project"] = "p"
		cn, err := p.connFor(args(t, "bigquery_query", tc.given), envBigQueryEmulator)
		if err != nil || cn.endpoint != tc.endpoint || cn.noAuth != tc.noAuth {
			t.Errorf("%v with $%s=%q: endpoint %q noAuth %v (%v); want %q %v", tc.given, envBigQueryEmulator, tc.env, cn.endpoint, cn.noAuth, err, tc.endpoint, tc.noAuth)
		}
	}
}

func callFnWith(t *testing.T, p *plugin, fn string, given map[string]any) (any, error) {
	t.Helper()
	c := args(t, fn, given)
	switch fn {
	case "bigquery_query":
		return p.query(t.Context(), c)
	case "bigquery_load_gcs":
		return p.load(t.Context(), c)
	}
	t.Fatalf("callFnWith: %s", fn)
	return nil, nil
}

// TestEmulatorMessages: the BigQuery emulator's errors read as BigQuery's:
// ZetaSQL's binary error location becomes "at [LINE:COLUMN]", and the kind
// comes from the words when its reason is a generic one.
func TestEmulatorMessages(t *testing.T) {
	for _, tc := range []struct{ reason, msg, want string }{
		{"invalid", `failed to parse statements: failed to parse statement: INVALID_ARGUMENT: Syntax error: Expected end of input but got identifier "trips" [type.googleapis.com/zetasql.ErrorLocation='\x08\x01\x10\x15']`,
			`invalid query: failed to parse statements: failed to parse statement: INVALID_ARGUMENT: Syntax error: Expected end of input but got identifier "trips" at [1:21] (job p:wfsh_x)`},
		{"jobInternalError", "failed to analyze: INVALID_ARGUMENT: Table not found: `p.d.nosuch` [at 1:15]",
			"not found: failed to analyze: INVALID_ARGUMENT: Table not found: `p.d.nosuch` [at 1:15] (job p:wfsh_x); check the project, dataset and table names, and location="},
		{"invalidQuery", "Syntax error: Unexpected keyword FROM at [3:1]", "invalid query: Syntax error: Unexpected keyword FROM at [3:1] (job p:wfsh_x)"},
	} {
		got := describeErr(&bigquery.Error{Reason: tc.reason, Message: tc.msg}, jobRef{project: "p", id: "wfsh_x"})
		if got != tc.want {
			t.Errorf("%s\ngot  %s\nwant %s", tc.msg, got, tc.want)
		}
	}
}
