//go:build gcp_integration

package gcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/wfsh/wfsh/internal/proctest"
)

// The seed's ETL flows end to end: the real wfsh binary, with
// wfsh-plugin-gcp next to it, runs flows/gcs_to_bq.star and
// flows/local_etl.star (with a stand-in embulk first on PATH) against the
// emulators, for the day of the tour (--context today=2020-11-30), with the
// credentials from $GCP_SECRET as in the tour.

// flowBinaries are built once per test binary.
type flowBinaries struct {
	wfsh      string // with wfsh-plugin-gcp beside it
	embulkDir string // holds `embulk`, the stand-in
}

var (
	flowBuildOnce sync.Once
	flowBuilt     flowBinaries
	flowBuildErr  error
)

func buildFlowBinaries(t *testing.T) flowBinaries {
	t.Helper()
	flowBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wfsh-gcp-flows-")
		if err != nil {
			flowBuildErr = err
			return
		}
		atExit = append(atExit, func() { os.RemoveAll(dir) })
		flowBuilt = flowBinaries{wfsh: filepath.Join(dir, "bin", "wfsh"), embulkDir: filepath.Join(dir, "embulk")}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		flowBuildErr = proctest.Build(ctx, map[string]string{
			flowBuilt.wfsh: "./cmd/wfsh",
			filepath.Join(dir, "bin", "wfsh-plugin-gcp"): "./cmd/wfsh-plugin-gcp",
			filepath.Join(flowBuilt.embulkDir, "embulk"): "./plugins/gcp/internal/embulkstandin",
		})
	})
	if flowBuildErr != nil {
		t.Fatal(flowBuildErr)
	}
	return flowBuilt
}

// secretJSON is a service-account key for the emulators' project, as
// $GCP_SECRET holds it (the emulators get no credentials, as with Google's
// clients under STORAGE_EMULATOR_HOST; the key gives the project).
func secretJSON(t *testing.T, project string) (text, privateKeyLine string) {
	t.Helper()
	sa := serviceAccount(t, "http://127.0.0.1:1/token")
	sa["project_id"] = project
	b, err := json.MarshalIndent(sa, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// A line of the key's body, to look for in the output.
	lines := strings.Split(sa["private_key"].(string), "\n")
	return string(b), lines[3]
}

type wfshRun struct {
	code           int
	stdout, stderr string
	maxRSS         int64 // bytes: the peak of wfsh and of the plugins it waited for (runWfshTimed)
}

// runWfsh runs wfsh from the repository root and checks that no process of
// its group is left behind.
func runWfsh(t *testing.T, env []string, args ...string) wfshRun {
	t.Helper()
	return runWfshUnder(t, nil, env, args...)
}

// runWfshTimed runs wfsh as runWfsh does, under /usr/bin/time, and sets
// maxRSS from what it reports. The rusage of a child of the test itself
// cannot say: Go starts a child sharing the test's memory until it execs,
// and Linux counts that memory's high-water mark (the test's, with its
// 100 MB of data and, under -race, the detector's) in the child's
// ru_maxrss. /usr/bin/time is small, so its child's figure is wfsh's own
// and its plugins'.
func runWfshTimed(t *testing.T, env []string, args ...string) wfshRun {
	t.Helper()
	timing := filepath.Join(t.TempDir(), "maxrss")
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		t.Fatal("no /usr/bin/time to measure wfsh's peak memory: make setup installs Debian's package time")
	}
	r := runWfshUnder(t, []string{"/usr/bin/time", "-f", "%M", "-o", timing}, env, args...)
	b, err := os.ReadFile(timing)
	kb, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || perr != nil {
		t.Fatalf("/usr/bin/time's report %q: %v %v", b, err, perr)
	}
	r.maxRSS = kb << 10
	return r
}

func runWfshUnder(t *testing.T, prefix, env []string, args ...string) wfshRun {
	t.Helper()
	b := buildFlowBinaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	argv := append(append(append([]string{}, prefix...), b.wfsh), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "../.."
	cmd.Env = append(append(os.Environ(), "WFSH_HOME="+t.TempDir()), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := wfshRun{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("wfsh %v: %v", args, err)
	}
	if cmd.Process != nil {
		proctest.CheckGone(t, []int{cmd.Process.Pid}, 5*time.Second, "wfsh exited")
	}
	t.Logf("wfsh %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// maskedProject matches the project in wfsh's output: the key in
// $GCP_SECRET holds it as project_id, and wfsh masks every string of six
// characters or more of a secret.
func maskedProject(project string) string {
	return `(?:` + regexp.QuoteMeta(project) + `|\*{8})`
}

// wantLines checks that each pattern matches a line of out.
func wantLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(out) {
			t.Errorf("no line matches %s", p)
		}
	}
}

func TestIntegrationFlowGCSToBQ(t *testing.T) {
	e := needEmulators(t)
	ds, bucket := e.dataset(t), e.bucket(t)
	day := time.Date(2020, 11, 30, 0, 0, 0, 0, time.UTC)
	fx := newBikeshareDay(day, 40, 300)
	e.putDay(t, bucket, day, fx)
	secret, keyLine := secretJSON(t, e.project)
	env := []string{"GCP_SECRET=" + secret}

	r := runWfsh(t, env, "check", "flows/gcs_to_bq.star")
	if r.code != 0 || !regexp.MustCompile(`^flows/gcs_to_bq.star:\d+:1: flow gcs-to-bq: 10 task calls, ok\n$`).MatchString(r.stdout) {
		t.Errorf("wfsh check: exit %d, stdout %q", r.code, r.stdout)
	}

	r = runWfsh(t, env, "run", "flows/gcs_to_bq.star", "--context", "today=2020-11-30", "-p", "dataset="+ds, "-p", "bucket="+bucket)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	tables := map[string]string{}
	for _, name := range []string{"bikeshare_stations", "bikeshare_trips", "denormalized"} {
		tables[name] = e.project + "." + ds + "." + name + "_20201130"
	}
	proj := maskedProject(e.project)
	inDS := proj + `\.` + ds + `\.`
	wantLines(t, r.stdout,
		`INFO - wfsh.load_stations \| BigQuery job `+proj+`:US\.wfsh_load_stations_[0-9a-f]{16} started$`,
		`INFO - wfsh.load_trips \| loaded (?:\d+ rows \(.*\) )?into `+inDS+`bikeshare_trips_20201130$`,
		`INFO - wfsh.denormalize \| wrote `+inDS+`denormalized_20201130$`,
		`Task 'denormalize': Finished task run for task with final state: 'Success'$`,
		`Flow run SUCCESS: all reference tasks succeeded$`)
	if n := e.count(t, tables["bikeshare_stations"]); n != int64(len(fx.stations)) {
		t.Errorf("%s holds %d rows, want %d", tables["bikeshare_stations"], n, len(fx.stations))
	}
	if n := e.count(t, tables["bikeshare_trips"]); n != int64(len(fx.trips)) {
		t.Errorf("%s holds %d rows, want %d", tables["bikeshare_trips"], n, len(fx.trips))
	}
	checkJoin(t, e, tables["denormalized"], fx)
	if strings.Contains(r.stdout+r.stderr, keyLine) {
		t.Error("the service-account key shows in wfsh's output")
	}

	// A day with no export fails the run, with one line naming the job.
	// BigQuery fails the loads (no file matches the URI); the emulator
	// loads nothing without a word, and the join then finds no table.
	r = runWfsh(t, env, "run", "flows/gcs_to_bq.star", "--context", "today=2020-12-01", "-p", "dataset="+ds, "-p", "bucket="+bucket)
	if r.code != 1 {
		t.Errorf("a day without data: exit %d, want 1", r.code)
	}
	wantLines(t, r.stdout,
		`ERROR - wfsh.TaskRunner \| Task '(load_trips|load_stations|denormalize)': \S+\.star:\d+:\d+: gcp\.bigquery_\w+: not found: .*20201201.* \(job `+proj+`:US\.wfsh_\w+_[0-9a-f]{16}\); check `,
		`Flow run FAILED`)
}

func TestIntegrationFlowLocalETL(t *testing.T) {
	e := needEmulators(t)
	bucket := e.bucket(t)
	ds := unique("etl") // the Embulk config creates it (auto_create_dataset)
	day := time.Date(2020, 11, 30, 0, 0, 0, 0, time.UTC)
	fx := newBikeshareDay(day, 35, 280)
	e.putDay(t, bucket, day, fx)
	secret, keyLine := secretJSON(t, e.project)
	b := buildFlowBinaries(t)
	calls := filepath.Join(t.TempDir(), "embulk.calls")
	env := []string{"GCP_SECRET=" + secret, "PATH=" + b.embulkDir + string(os.PathListSeparator) + os.Getenv("PATH"), "EMBULK_CALLS=" + calls}

	r := runWfsh(t, env, "check", "flows/local_etl.star")
	if r.code != 0 || !regexp.MustCompile(`^flows/local_etl.star:\d+:1: flow local-etl: 8 task calls, ok\n$`).MatchString(r.stdout) {
		t.Errorf("wfsh check: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runWfsh(t, env, "run", "flows/local_etl.star", "--context", "today=2020-11-30", "-p", "dataset="+ds, "-p", "bucket="+bucket)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	denorm := e.project + "." + ds + ".denormalized_20201130"
	proj := maskedProject(e.project)
	wantLines(t, r.stdout,
		`INFO - wfsh.load_stations \| \[INFO\] \(main\): Started Embulk v0.11.5$`,
		`INFO - wfsh.load_trips \| \[INFO\] \(0001:transaction\): Loading files \[gs://`+bucket+`/bikeshare/2020-11-30/bikeshare_trips\*\]$`,
		`INFO - wfsh.load_stations \| bikeshare_stations_20201130$`,
		`INFO - wfsh.load_trips \| bikeshare_trips_20201130$`,
		`INFO - wfsh.denormalize \| BigQuery job `+proj+`:US\.wfsh_denormalize_[0-9a-f]{16} started$`,
		`INFO - wfsh.denormalize \| wrote `+proj+`\.`+ds+`\.denormalized_20201130$`,
		`Flow run SUCCESS: all reference tasks succeeded$`)
	got, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	sort.Strings(lines)
	if want := "[embulk run bikeshare_stations.yml.liquid in embulk embulk run bikeshare_trips.yml.liquid in embulk]"; fmt.Sprint(lines) != want {
		t.Errorf("embulk calls %v, want %s", lines, want)
	}
	if n := e.count(t, e.project+"."+ds+".bikeshare_trips_20201130"); n != int64(len(fx.trips)) {
		t.Errorf("trips table holds %d rows, want %d", n, len(fx.trips))
	}
	checkJoin(t, e, denorm, fx)
	if strings.Contains(r.stdout+r.stderr, keyLine) {
		t.Error("the service-account key shows in wfsh's output")
	}
	// The join's job carried the flow's label and asked to replace the
	// table (which the emulator does not honour, BigQuery does).
	m := regexp.MustCompile(`wfsh.denormalize \| BigQuery job \S+\.(wfsh_denormalize_[0-9a-f]{16}) started`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatal("no job id logged by denormalize")
	}
	qc, ok := e.jobConfig(t, e.project+":"+m[1]).(*bigquery.QueryConfig)
	if !ok || qc.WriteDisposition != bigquery.WriteTruncate || qc.Labels["flow"] != "local-etl" || qc.Labels["wfsh_flow_run"] == "" {
		t.Errorf("the join's job config: %+v", qc)
	}
}

// A 100 MB object downloaded into a value and returned by a task, run
// store on: the object crosses from the plugin in chunks, and the store
// refuses to keep the result by its length (docs/performance.md, @gcp).
// wfsh and the plugin each peak under 150 MB.
func TestIntegrationFlowLargeResult(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 100_000_000)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	obj := filepath.Join(dir, "object.bin")
	if err := os.WriteFile(obj, data, 0o644); err != nil {
		t.Fatal(err)
	}
	flow := filepath.Join(dir, "large.star")
	src := `load("@gcp", "gcs_download", "gcs_upload")

@task
def up(path):
    return gcs_upload(bucket="large-result", blob="object.bin", path=path, create_bucket=True)

@task
def down(uri):
    return gcs_download(bucket="large-result", blob="object.bin", as_bytes=True)

@task
def size(data):
    print("got %d bytes" % len(data))
    return len(data)

@flow(name="large")
def large(path=""):
    return size(down(up(path)))
`
	if err := os.WriteFile(flow, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runWfshTimed(t, nil, "run", flow, "-p", "path="+obj)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	wantLines(t, r.stdout, `got 100000000 bytes$`, `Task 'down': Finished task run for task with final state: 'Success'`)
	if r.maxRSS == 0 || r.maxRSS > 150<<20 {
		t.Errorf("peak RSS of wfsh and the plugin %d MB, want under 150 MB", r.maxRSS/1e6)
	}
	t.Logf("peak RSS %d MB", r.maxRSS/1e6)
}
