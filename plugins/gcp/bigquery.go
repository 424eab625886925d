package gcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// defaultMaxRows bounds what fetch=True returns unless max_rows says
// otherwise.
const defaultMaxRows = 10000

// cancelTimeout bounds the jobs.cancel request sent after the call was
// cancelled.
const cancelTimeout = 10 * time.Second

// jobRef is a job's full name as BigQuery prints it: PROJECT:LOCATION.ID.
type jobRef struct{ project, location, id string }

func (j jobRef) String() string {
	if j.location == "" {
		return j.project + ":" + j.id
	}
	return j.project + ":" + j.location + "." + j.id
}

// query is bigquery_query.
func (p *plugin) query(ctx context.Context, c *sdk.Call) (any, error) {
	cl, cn, err := p.bigQueryFor(ctx, c)
	if err != nil {
		return nil, err
	}
	q, dst, err := p.queryConfig(cl, c, cn.project)
	if err != nil {
		return nil, err
	}
	ref := jobRef{project: cn.project, location: q.Location, id: q.JobID}
	if q.DryRun {
		return dryRun(ctx, c, q, ref)
	}
	job, ref, err := runJob(ctx, c, cl, ref, q.Run)
	if err != nil {
		return nil, err
	}
	switch {
	case dst != "":
		c.Logf("wrote %s", dst)
		return dst, nil
	case c.Bool("fetch"):
		rows, err := fetchRows(ctx, c, job, ref)
		if err != nil {
			return nil, err
		}
		return rows, nil
	}
	return ref.String(), nil
}

// dryRun validates a query without running it: BigQuery answers at once
// with the bytes the query would process, and keeps no job to wait for.
func dryRun(ctx context.Context, c *sdk.Call, q *bigquery.Query, ref jobRef) (any, error) {
	job, err := q.Run(ctx)
	if err != nil {
		return nil, errors.New(describeErr(err, ref))
	}
	st := job.LastStatus()
	if st == nil || st.Statistics == nil {
		return nil, fmt.Errorf("the dry run of job %s reported no statistics", ref)
	}
	if err := st.Err(); err != nil {
		return nil, errors.New(describeErr(err, ref))
	}
	bytes := st.Statistics.TotalBytesProcessed
	c.Logf("dry run: the query would process %d bytes", bytes)
	return bytes, nil
}

// bigQueryFor resolves a call's connection and returns its client.
func (p *plugin) bigQueryFor(ctx context.Context, c *sdk.Call) (*bigquery.Client, conn, error) {
	cn, err := p.connFor(c, envBigQueryEmulator)
	if err != nil {
		return nil, conn{}, err
	}
	if cn.project == "" {
		return nil, conn{}, fmt.Errorf("no project: pass project=, credentials with a project_id, or set $%s", envProject)
	}
	cl, err := p.bigQuery(ctx, cn)
	if err != nil {
		return nil, conn{}, errors.New(describeErr(err, jobRef{}))
	}
	return cl, cn, nil
}

// queryConfig builds the query job from the call's arguments; dst is the
// destination table's id, or "" when there is none.
func (p *plugin) queryConfig(cl *bigquery.Client, c *sdk.Call, project string) (q *bigquery.Query, dst string, err error) {
	sql := c.String("query")
	if strings.TrimSpace(sql) == "" {
		return nil, "", errors.New("query is empty")
	}
	q = cl.Query(sql)
	q.JobID = p.jobIDGen(c.TaskRun)
	if q.Location, err = optString(c, "location"); err != nil {
		return nil, "", err
	}
	q.UseLegacySQL = c.Bool("use_legacy_sql")
	q.DryRun = c.Bool("dry_run")
	if q.Labels, err = labels(c); err != nil {
		return nil, "", err
	}
	if q.Parameters, err = queryParameters(c.Args["query_params"]); err != nil {
		return nil, "", err
	}
	table, err := destination(c, project)
	if err != nil {
		return nil, "", err
	}
	if table != nil {
		q.Dst = cl.DatasetInProject(table.ProjectID, table.DatasetID).Table(table.TableID)
		if q.WriteDisposition, q.CreateDisposition, err = dispositions(c); err != nil {
			return nil, "", err
		}
		dst = table.ProjectID + "." + table.DatasetID + "." + table.TableID
	}
	return q, dst, nil
}

// tableID is a table's project, dataset and name.
type tableID struct{ ProjectID, DatasetID, TableID string }

// destination reads dataset_dest and table_dest. table_dest may name the
// dataset (DATASET.TABLE) and the project (PROJECT.DATASET.TABLE) itself.
func destination(c *sdk.Call, project string) (*tableID, error) {
	dataset, err := optString(c, "dataset_dest")
	if err != nil {
		return nil, err
	}
	table, err := optString(c, "table_dest")
	if err != nil {
		return nil, err
	}
	if table == "" {
		if dataset != "" {
			return nil, errors.New("dataset_dest is given but table_dest is not: name the destination table too")
		}
		return nil, nil
	}
	t := &tableID{ProjectID: project, DatasetID: dataset}
	parts := strings.Split(strings.ReplaceAll(table, ":", "."), ".")
	switch len(parts) {
	case 1:
		t.TableID = parts[0]
	case 2:
		t.DatasetID, t.TableID = parts[0], parts[1]
	case 3:
		t.ProjectID, t.DatasetID, t.TableID = parts[0], parts[1], parts[2]
	default:
		return nil, fmt.Errorf("table_dest %q: want TABLE, DATASET.TABLE or PROJECT.DATASET.TABLE", table)
	}
	if t.DatasetID == "" {
		return nil, fmt.Errorf("table_dest %q has no dataset: pass dataset_dest= or write DATASET.TABLE", table)
	}
	if dataset != "" && dataset != t.DatasetID {
		return nil, fmt.Errorf("table_dest %q names dataset %s but dataset_dest is %s", table, t.DatasetID, dataset)
	}
	for _, s := range []string{t.ProjectID, t.DatasetID, t.TableID} {
		if s == "" {
			return nil, fmt.Errorf("table_dest %q has an empty part", table)
		}
	}
	return t, nil
}

// dispositions reads write_disposition and create_disposition.
func dispositions(c *sdk.Call) (bigquery.TableWriteDisposition, bigquery.TableCreateDisposition, error) {
	w, err := oneOf(c, "write_disposition", "WRITE_TRUNCATE", "WRITE_APPEND", "WRITE_EMPTY")
	if err != nil {
		return "", "", err
	}
	cr, err := oneOf(c, "create_disposition", "CREATE_IF_NEEDED", "CREATE_NEVER")
	if err != nil {
		return "", "", err
	}
	return bigquery.TableWriteDisposition(w), bigquery.TableCreateDisposition(cr), nil
}

// oneOf reads a string argument that must be one of choices (any case);
// None gives the first.
func oneOf(c *sdk.Call, name string, choices ...string) (string, error) {
	v, err := optString(c, name)
	if err != nil || v == "" {
		return choices[0], err
	}
	for _, ch := range choices {
		if strings.EqualFold(v, ch) {
			return ch, nil
		}
	}
	return "", fmt.Errorf("%s %q: want one of %s", name, v, strings.Join(choices, ", "))
}

// optString reads an optional string argument ("" for None).
func optString(c *sdk.Call, name string) (string, error) {
	switch v := c.Args[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("%s must be a string, got %s", name, typeName(v))
	}
}

// labelRE is what BigQuery accepts as a label key. Compiled on first use:
// its Unicode classes cost 20 ms and 4 MB, which every start of the plugin
// would pay.
var labelRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$`)
})

// labels reads job_labels and adds wfsh_flow_run, so that the jobs of one
// run can be found in BigQuery's job history.
func labels(c *sdk.Call) (map[string]string, error) {
	out := map[string]string{}
	if id := labelValue(c.FlowRun); id != "" {
		out["wfsh_flow_run"] = id
	}
	v := c.Args["job_labels"]
	if v == nil {
		return out, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("job_labels must be a dict of strings, got %s", typeName(v))
	}
	for k, val := range m {
		s, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("job_labels[%q] must be a string, got %s", k, typeName(val))
		}
		if !labelRE().MatchString(k) {
			return nil, fmt.Errorf("job_labels: key %q: keys are 1-63 lowercase letters, digits, _ or -, starting with a letter", k)
		}
		out[k] = s
	}
	return out, nil
}

// labelValue makes s a valid label value (lowercase, at most 63 of
// [a-z0-9_-]).
func labelValue(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() == 63 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// queryParameters turns query_params={"day": "2020-11-30"} into named
// parameters (@day in the SQL).
func queryParameters(v any) ([]bigquery.QueryParameter, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("query_params must be a dict, got %s", typeName(v))
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]bigquery.QueryParameter, 0, len(m))
	for _, k := range names {
		val, err := paramValue(m[k])
		if err != nil {
			return nil, fmt.Errorf("query_params[%q]: %w", k, err)
		}
		out = append(out, bigquery.QueryParameter{Name: k, Value: val})
	}
	return out, nil
}

func paramValue(v any) (any, error) {
	switch v := v.(type) {
	case string, int64, float64, bool, []byte:
		return v, nil
	case []any:
		// BigQuery arrays are of one type; the client infers it from the
		// Go slice's element type.
		return homogeneous(v)
	case sdk.Tuple:
		return homogeneous(v)
	}
	return nil, fmt.Errorf("a query parameter is a string, int, float, bool, bytes or a list of one of them, got %s", typeName(v))
}

func homogeneous(items []any) (any, error) {
	if len(items) == 0 {
		return []string{}, nil
	}
	switch items[0].(type) {
	case string:
		return sameType[string](items)
	case int64:
		return sameType[int64](items)
	case float64:
		return sameType[float64](items)
	case bool:
		return sameType[bool](items)
	}
	return nil, fmt.Errorf("a list parameter holds strings, ints, floats or bools, got %s", typeName(items[0]))
}

func sameType[T any](items []any) ([]T, error) {
	out := make([]T, len(items))
	for i, it := range items {
		v, ok := it.(T)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s, not a %s like the first", i, typeName(it), typeName(items[0]))
		}
		out[i] = v
	}
	return out, nil
}

// newJobID makes a job id that says which task ran it, unique enough to
// never collide: wfsh_TASKRUN_RANDOM.
func newJobID(taskRun string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, taskRun)
	if len(name) > 200 {
		name = name[:200]
	}
	if name == "" {
		return "wfsh_" + hex.EncodeToString(b[:])
	}
	return "wfsh_" + name + "_" + hex.EncodeToString(b[:])
}

// runJob starts a job, logs its id and waits for it. When ctx ends first
// (the task was cancelled or timed out), it cancels the job in BigQuery
// before returning, so that nothing keeps running (or billing) behind the
// user's back. It returns the job's full reference, location included.
func runJob(ctx context.Context, c *sdk.Call, cl *bigquery.Client, ref jobRef, start func(context.Context) (*bigquery.Job, error)) (*bigquery.Job, jobRef, error) {
	job, err := start(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// The insert may have reached BigQuery: cancel by id anyway.
			return nil, ref, cancelled(ctx, c, ref, func(ctx context.Context) error {
				j, err := cl.JobFromIDLocation(ctx, ref.id, ref.location)
				if err != nil {
					return err
				}
				return j.Cancel(ctx)
			})
		}
		return nil, ref, errors.New(describeErr(err, ref))
	}
	if loc := job.Location(); loc != "" {
		ref.location = loc
	}
	c.Logf("BigQuery job %s started", ref)
	st, err := job.Wait(ctx)
	if err == nil {
		err = st.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ref, cancelled(ctx, c, ref, job.Cancel)
		}
		return nil, ref, errors.New(describeErr(err, ref))
	}
	c.Logf("BigQuery job %s done", ref)
	return job, ref, nil
}

// cancelled cancels the job after ctx ended and says so.
func cancelled(ctx context.Context, c *sdk.Call, ref jobRef, cancel func(context.Context) error) error {
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer stop()
	if err := cancel(cctx); err != nil {
		if kind, _, _ := classify(err); kind == "not found" {
			// The insert never reached BigQuery: nothing runs.
			return fmt.Errorf("stopped before job %s was created: %v", ref, context.Cause(ctx))
		}
		c.Log(sdk.Warning, fmt.Sprintf("could not cancel BigQuery job %s: %s", ref, describeErr(err, jobRef{})))
		return fmt.Errorf("stopped waiting for job %s (%v); cancelling it failed: %s", ref, context.Cause(ctx), describeErr(err, jobRef{}))
	}
	c.Log(sdk.Warning, fmt.Sprintf("cancelled BigQuery job %s", ref))
	return fmt.Errorf("cancelled job %s: %v", ref, context.Cause(ctx))
}

// fetchRows reads at most max_rows rows of a finished query job, as dicts.
func fetchRows(ctx context.Context, c *sdk.Call, job *bigquery.Job, ref jobRef) ([]any, error) {
	limit := c.Int("max_rows")
	if limit < 0 {
		return nil, fmt.Errorf("max_rows must be 0 or more, got %d", limit)
	}
	it, err := job.Read(ctx)
	if err != nil {
		return nil, errors.New(describeErr(err, ref))
	}
	rows := []any{}
	for int64(len(rows)) < limit {
		var vals []bigquery.Value
		err := it.Next(&vals)
		if err == iterator.Done {
			return rows, nil
		}
		if err != nil {
			return nil, errors.New(describeErr(err, ref))
		}
		row, err := rowValue(it.Schema, vals)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if it.TotalRows > uint64(limit) {
		c.Log(sdk.Warning, fmt.Sprintf("the query returned %d rows; kept the first %d (raise max_rows, or write to a table with table_dest=)", it.TotalRows, limit))
	}
	return rows, nil
}
