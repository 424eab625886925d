package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// load is bigquery_load_gcs.
func (p *plugin) load(ctx context.Context, c *sdk.Call) (any, error) {
	cl, cn, err := p.bigQueryFor(ctx, c)
	if err != nil {
		return nil, err
	}
	l, dst, err := p.loaderConfig(cl, c, cn.project)
	if err != nil {
		return nil, err
	}
	job, _, err := runJob(ctx, c, cl, jobRef{project: cn.project, location: l.Location, id: l.JobID}, l.Run)
	if err != nil {
		return nil, err
	}
	if st, ok := loadStats(job); ok {
		c.Logf("loaded %d rows (%d bytes from %d files) into %s", st.OutputRows, st.InputFileBytes, st.InputFiles, dst)
	} else {
		c.Logf("loaded into %s", dst)
	}
	return dst, nil
}

// loadStats returns a finished load job's statistics, if it reported any.
func loadStats(job *bigquery.Job) (*bigquery.LoadStatistics, bool) {
	st := job.LastStatus()
	if st == nil || st.Statistics == nil {
		return nil, false
	}
	ls, ok := st.Statistics.Details.(*bigquery.LoadStatistics)
	return ls, ok
}

// loaderConfig builds the load job from the call's arguments; dst is the
// table's id.
func (p *plugin) loaderConfig(cl *bigquery.Client, c *sdk.Call, project string) (*bigquery.Loader, string, error) {
	ref, err := gcsReference(c)
	if err != nil {
		return nil, "", err
	}
	t, err := destination(c, project)
	if err != nil {
		return nil, "", err
	}
	l := cl.DatasetInProject(t.ProjectID, t.DatasetID).Table(t.TableID).LoaderFrom(ref)
	l.JobID = p.jobIDGen(c.TaskRun)
	if l.Location, err = optString(c, "location"); err != nil {
		return nil, "", err
	}
	if l.WriteDisposition, l.CreateDisposition, err = dispositions(c); err != nil {
		return nil, "", err
	}
	if l.Labels, err = labels(c); err != nil {
		return nil, "", err
	}
	return l, t.ProjectID + "." + t.DatasetID + "." + t.TableID, nil
}

// gcsReference reads the source: URIs, format, schema and CSV options.
func gcsReference(c *sdk.Call) (*bigquery.GCSReference, error) {
	uris, err := sourceURIs(c.Args["uri"])
	if err != nil {
		return nil, err
	}
	ref := bigquery.NewGCSReference(uris...)
	if ref.SourceFormat, err = sourceFormat(c); err != nil {
		return nil, err
	}
	cols, err := parseSchema(c.Args["schema"])
	if err != nil {
		return nil, err
	}
	ref.Schema = cols.schema
	switch v := c.Args["autodetect"].(type) {
	case nil:
		ref.AutoDetect = cols.schema == nil && (ref.SourceFormat == bigquery.CSV || ref.SourceFormat == bigquery.JSON)
	case bool:
		ref.AutoDetect = v
	default:
		return nil, fmt.Errorf("autodetect must be a bool, got %s", typeName(v))
	}
	if err := csvOptions(c, ref, cols); err != nil {
		return nil, err
	}
	ref.IgnoreUnknownValues = c.Bool("ignore_unknown_values")
	ref.MaxBadRecords = c.Int("max_bad_records")
	return ref, nil
}

func sourceURIs(v any) ([]string, error) {
	var uris []string
	switch v := v.(type) {
	case string:
		uris = []string{v}
	case []any, sdk.Tuple:
		items := c2list(v)
		for i, it := range items {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("uri: element %d must be a string, got %s", i, typeName(it))
			}
			uris = append(uris, s)
		}
	default:
		return nil, fmt.Errorf("uri must be a gs:// string or a list of them, got %s", typeName(v))
	}
	if len(uris) == 0 {
		return nil, errors.New("uri: the list is empty")
	}
	for _, u := range uris {
		if !strings.HasPrefix(u, "gs://") || len(u) <= len("gs://") {
			return nil, fmt.Errorf("uri %q: want gs://BUCKET/PATH (one * wildcard allowed)", u)
		}
	}
	return uris, nil
}

func c2list(v any) []any {
	if t, ok := v.(sdk.Tuple); ok {
		return t
	}
	return v.([]any)
}

var sourceFormats = map[string]bigquery.DataFormat{
	"CSV":                    bigquery.CSV,
	"NEWLINE_DELIMITED_JSON": bigquery.JSON,
	"NDJSON":                 bigquery.JSON,
	"JSON":                   bigquery.JSON,
	"PARQUET":                bigquery.Parquet,
	"AVRO":                   bigquery.Avro,
	"ORC":                    bigquery.ORC,
}

func sourceFormat(c *sdk.Call) (bigquery.DataFormat, error) {
	s, err := optString(c, "source_format")
	if err != nil || s == "" {
		return bigquery.CSV, err
	}
	f, ok := sourceFormats[strings.ToUpper(s)]
	if !ok {
		return "", fmt.Errorf("source_format %q: want CSV, NEWLINE_DELIMITED_JSON (or NDJSON), PARQUET, AVRO or ORC", s)
	}
	return f, nil
}

// csvOptions applies the CSV options, and the timestamp format and zone
// (given, or taken from the schema's Embulk-style columns).
func csvOptions(c *sdk.Call, ref *bigquery.GCSReference, cols columns) error {
	isCSV := ref.SourceFormat == bigquery.CSV
	ref.SkipLeadingRows = c.Int("skip_leading_rows")
	if ref.SkipLeadingRows < 0 {
		return fmt.Errorf("skip_leading_rows must be 0 or more, got %d", ref.SkipLeadingRows)
	}
	for name, set := range map[string]func(string){
		"field_delimiter": func(s string) { ref.FieldDelimiter = s },
		"quote":           func(s string) { ref.Quote = s; ref.ForceZeroQuote = s == "" },
		"null_marker":     func(s string) { ref.NullMarker = s },
	} {
		v, ok := c.Args[name]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s must be a string, got %s", name, typeName(v))
		}
		if !isCSV {
			return fmt.Errorf("%s applies to CSV only, not %s", name, ref.SourceFormat)
		}
		set(s)
	}
	if !isCSV && ref.SkipLeadingRows > 0 {
		return fmt.Errorf("skip_leading_rows applies to CSV only, not %s", ref.SourceFormat)
	}
	ref.AllowQuotedNewlines = c.Bool("allow_quoted_newlines")
	ref.AllowJaggedRows = c.Bool("allow_jagged_rows")
	var err error
	if ref.TimestampFormat, err = optString(c, "timestamp_format"); err != nil {
		return err
	}
	if ref.TimeZone, err = optString(c, "time_zone"); err != nil {
		return err
	}
	if ref.TimestampFormat == "" {
		ref.TimestampFormat = cols.timestampFormat
	}
	if ref.TimeZone == "" {
		ref.TimeZone = cols.timeZone
	}
	return nil
}
