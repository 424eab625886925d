//go:build k8s_integration

package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// bigQueryEmulator is the BigQuery emulator that make test-k8s starts beside
// the control plane (scripts/gcp/with-emulators.sh), for the BigQuery step
// of flows/k8s_etl.star.
func bigQueryEmulator(t *testing.T) (*bigquery.Client, string) {
	t.Helper()
	project, host := os.Getenv("WFSH_BQ_PROJECT"), os.Getenv("BIGQUERY_EMULATOR_HOST")
	if project == "" || host == "" {
		t.Fatal("TestK8sETLFlow needs the BigQuery emulator too: run it with make test-k8s (scripts/gcp/with-emulators.sh around scripts/k8s/controlplane.sh)")
	}
	bq, err := bigquery.NewClient(t.Context(), project, option.WithEndpoint("http://"+host), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bq.Close() })
	return bq, project
}

// The day's tables as the Embulk Jobs would have loaded them (their pods
// "run" on kwok, which starts no container): three stations, four trips,
// one of them to a station the export lacks.
type k8sStation struct {
	StationID       int64  `bigquery:"station_id"`
	Name            string `bigquery:"name"`
	Address         string `bigquery:"address"`
	CouncilDistrict int64  `bigquery:"council_district"`
}

type k8sTrip struct {
	TripID          int64     `bigquery:"trip_id"`
	SubscriberType  string    `bigquery:"subscriber_type"`
	BikeID          string    `bigquery:"bike_id"`
	BikeType        string    `bigquery:"bike_type"`
	StartTime       time.Time `bigquery:"start_time"`
	StartStationID  int64     `bigquery:"start_station_id"`
	EndStationID    int64     `bigquery:"end_station_id"`
	DurationMinutes int64     `bigquery:"duration_minutes"`
}

func loadedDay(t *testing.T, ctx context.Context, ds *bigquery.Dataset) {
	t.Helper()
	stations := []k8sStation{{2494, "2nd & Congress", "111 Congress Ave", 9}, {2495, "4th & Congress", "301 Congress Ave", 9}, {2496, "8th & Congress", "111 E 8th St", 1}}
	start := time.Date(2020, 11, 30, 8, 0, 0, 0, time.UTC)
	trips := []k8sTrip{
		{1, "Local365", "b1", "classic", start, 2494, 2495, 12},
		{2, "Walk Up", "b2", "electric", start.Add(time.Hour), 2495, 2496, 7},
		{3, "Local365", "b3", "classic", start.Add(2 * time.Hour), 2496, 2494, 30},
		{4, "Walk Up", "b4", "classic", start.Add(3 * time.Hour), 2494, 9999, 45}, // to a station the export lacks
	}
	for name, rows := range map[string]any{"bikeshare_stations_20201130": stations, "bikeshare_trips_20201130": trips} {
		var schema bigquery.Schema
		var err error
		switch rows.(type) {
		case []k8sStation:
			schema, err = bigquery.InferSchema(k8sStation{})
		default:
			schema, err = bigquery.InferSchema(k8sTrip{})
		}
		if err != nil {
			t.Fatal(err)
		}
		table := ds.Table(name)
		if err := table.Create(ctx, &bigquery.TableMetadata{Schema: schema}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if err := table.Inserter().Put(ctx, rows); err != nil {
			t.Fatalf("insert into %s: %v", name, err)
		}
	}
}

// TestK8sETLFlow runs flows/k8s_etl.star, the seed's Kubernetes flow, with
// wfsh against the local control plane and the BigQuery emulator: the two
// Embulk Jobs are created with the day's environment and the key from the
// Secret, their pods' logs reach the tasks, and the join of the tour writes
// denormalized_20201130 from the tables the loads made.
func TestK8sETLFlow(t *testing.T) {
	t.Parallel()
	bq, project := bigQueryEmulator(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dataset := fmt.Sprintf("k8s_etl_%08x", rand.Uint32())
	ds := bq.Dataset(dataset)
	if err := ds.Create(ctx, &bigquery.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatal(err)
	}
	loadedDay(t, ctx, ds)

	// every Job the flow creates, as created
	w, err := cluster.admin.BatchV1().Jobs(nsTest).Watch(ctx, metav1.ListOptions{LabelSelector: "app=bikeshare-etl"})
	if err != nil {
		t.Fatal(err)
	}
	created := make(chan *batchv1.Job, 10)
	go func() {
		for ev := range w.ResultChan() {
			if j, ok := ev.Object.(*batchv1.Job); ok && ev.Type == watch.Added {
				created <- j
			}
		}
	}()
	flows, err := filepath.Abs("../../flows")
	if err != nil {
		t.Fatal(err)
	}
	// The key gives the project; the emulator takes no credentials.
	key, err := json.Marshal(map[string]string{"type": "service_account", "project_id": project,
		"client_email": "etl@" + project + ".iam.gserviceaccount.com", "private_key": "-----BEGIN PRIVATE KEY-----\nnot used by the emulator\n-----END PRIVATE KEY-----\n"})
	if err != nil {
		t.Fatal(err)
	}
	run := startWfshEnv(t, flows, []string{"GCP_SECRET=" + string(key)}, "run", "k8s_etl.star", "--context", "today=2020-11-30",
		"-p", "namespace="+nsTest, "-p", "dataset="+dataset, "-p", "bucket=exports")
	if code := run.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, run.stdout.String(), run.stderr.String())
	}
	out := run.stdout.String()
	m := regexp.MustCompile(`wfsh\.report \| joined the loads of jobs (load-stations-[a-z0-9]{5}) and (load-trips-[a-z0-9]{5}) into \S+\.` + dataset + `\.denormalized_20201130\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stdout:\n%s", out)
	}
	for _, want := range []string{"wfsh.load_stations | wfsh-test pod log line 1", "wfsh.load_trips | wfsh-test pod log line 3", "wfsh.denormalize | wrote "} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in stdout:\n%s", want, out)
		}
	}

	// The Jobs: the image, the day and the destination in the Embulk
	// config's variables, the key from the Secret.
	wantEnv := map[string]string{"DATE": "20201130", "DAY": "2020-11-30", "GCP_PROJECT": project, "DATASET": dataset, "GCS_BUCKET": "exports", "LOCATION": "US"}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case j := <-created:
			seen[j.Name] = true
			c := j.Spec.Template.Spec.Containers[0]
			got := map[string]string{}
			for _, e := range c.Env {
				got[e.Name] = e.Value
				if e.Name == "GCP_SECRET" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "gcp-key" || e.Value != "") {
					t.Errorf("job %s: the key is not taken from the Secret gcp-key: %+v", j.Name, e)
				}
			}
			if _, ok := got["GCP_SECRET"]; !ok {
				t.Errorf("job %s: no GCP_SECRET", j.Name)
			}
			for k, v := range wantEnv {
				if got[k] != v {
					t.Errorf("job %s: %s=%q, want %q", j.Name, k, got[k], v)
				}
			}
			if c.Image != "embulk-bikeshare:latest" {
				t.Errorf("job %s: image %q", j.Name, c.Image)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("saw jobs %v, want %s and %s", seen, m[1], m[2])
		}
	}
	if !seen[m[1]] || !seen[m[2]] {
		t.Errorf("saw jobs %v, want %s and %s", seen, m[1], m[2])
	}

	// The join: one row per trip, NULL for the station the export lacks.
	it, err := bq.Query("SELECT trip_id, start_station_name, end_station_name, end_council_district FROM `" + project + "." + dataset + ".denormalized_20201130` ORDER BY trip_id").Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for {
		var r []bigquery.Value
		err := it.Next(&r)
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, fmt.Sprint(r))
	}
	want := []string{
		"[1 2nd & Congress 4th & Congress 9]",
		"[2 4th & Congress 8th & Congress 1]",
		"[3 8th & Congress 2nd & Congress 9]",
		"[4 2nd & Congress <nil> <nil>]",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("denormalized_20201130:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}
