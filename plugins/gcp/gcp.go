// Package gcp is the @gcp plugin: BigQuery queries and loads from Cloud
// Storage, and Cloud Storage uploads, downloads and listings, as task
// constructors (Prefect's BigQueryTask, GCSUpload, ...) and as functions
// for task bodies. It runs as an executable of its own (wfsh-plugin-gcp):
// the Google client libraries it links cost tens of milliseconds of
// start-up that wfsh itself should not pay.
//
// Every function takes credentials= (a service-account JSON, as a dict or
// a string; Application Default Credentials when None) and endpoint= (for
// emulators; STORAGE_EMULATOR_HOST and BIGQUERY_EMULATOR_HOST are honoured
// too). See docs/gcp.md.
package gcp

import (
	"github.com/wfsh/wfsh/plugins/sdk"
)

// Version of the plugin.
const Version = "0.1.0"

// Plugin returns the @gcp plugin. Its clients are made on first use and
// shared by the calls of a run.
func Plugin() *sdk.Plugin {
	p := newPlugin()
	return &sdk.Plugin{
		Name:    "gcp",
		Version: Version,
		Functions: []sdk.Function{
			{Name: "bigquery_query", Doc: "Run a BigQuery query job; return the destination table id, the rows (fetch=True), the bytes it would process (dry_run=True) or the job id.", Params: queryParams(), Run: p.query},
			{Name: "bigquery_load_gcs", Doc: "Load CSV (gzip or not), NDJSON, Parquet, Avro or ORC files from gs:// URIs into a BigQuery table; return the table id.", Params: loadParams(), Run: p.load},
			{Name: "gcs_upload", Doc: "Upload data (a string or bytes) or a local file to gs://bucket/blob; return the gs:// URI.", Params: uploadParams(), Run: p.upload},
			{Name: "gcs_download", Doc: "Download gs://bucket/blob as text, as bytes (as_bytes=True) or into a local file (path=).", Params: downloadParams(), Run: p.download},
			{Name: "gcs_list", Doc: "List the blob names (or, with details=True, their attributes) of a bucket under a prefix.", Params: listParams(), Run: p.list},
		},
		Tasks: []sdk.TaskConstructor{
			{Name: "bigquery_task", Doc: "A task that runs a BigQuery query (Prefect's BigQueryTask).", Function: "bigquery_query"},
			{Name: "bigquery_load_gcs_task", Doc: "A task that loads files from Cloud Storage into a BigQuery table (Prefect's BigQueryLoadGoogleCloudStorage).", Function: "bigquery_load_gcs"},
			{Name: "gcs_upload_task", Doc: "A task that uploads to Cloud Storage (Prefect's GCSUpload).", Function: "gcs_upload"},
			{Name: "gcs_download_task", Doc: "A task that downloads from Cloud Storage (Prefect's GCSDownload).", Function: "gcs_download"},
			{Name: "gcs_list_task", Doc: "A task that lists blobs in Cloud Storage.", Function: "gcs_list"},
		},
	}
}

// connParams are the parameters every function takes: where, as whom.
func connParams() []sdk.Param {
	return []sdk.Param{
		{Name: "project", Doc: "the Google Cloud project (default: the credentials' project_id, else $GOOGLE_CLOUD_PROJECT)"},
		{Name: "credentials", Doc: "a service-account key as a dict or JSON string, e.g. secret(\"GCP_SECRET\", cast=json.decode); None: Application Default Credentials"},
		{Name: "endpoint", Doc: "the API's base URL, for emulators (default: $BIGQUERY_EMULATOR_HOST or $STORAGE_EMULATOR_HOST, else Google's)"},
	}
}

func queryParams() []sdk.Param {
	return append([]sdk.Param{
		{Name: "query", Required: true, Doc: "the SQL (standard SQL unless use_legacy_sql=True)"},
		{Name: "query_params", Doc: "named query parameters, a dict: @name in the SQL"},
		{Name: "dataset_dest", Doc: "the destination table's dataset"},
		{Name: "table_dest", Doc: "the destination table: TABLE, DATASET.TABLE or PROJECT.DATASET.TABLE"},
		{Name: "location", Doc: "where the job runs (US, EU, asia-northeast1, ...)"},
		{Name: "write_disposition", Default: "WRITE_TRUNCATE", Doc: "WRITE_TRUNCATE (replace), WRITE_APPEND or WRITE_EMPTY"},
		{Name: "create_disposition", Default: "CREATE_IF_NEEDED", Doc: "CREATE_IF_NEEDED or CREATE_NEVER"},
		{Name: "fetch", Default: false, Doc: "with no destination table: return the rows, a list of dicts"},
		{Name: "max_rows", Default: defaultMaxRows, Doc: "the most rows fetch=True returns (a warning says when there were more)"},
		{Name: "dry_run", Default: false, Doc: "only validate the query; return the bytes it would process"},
		{Name: "job_labels", Doc: "labels of the job, a dict of strings"},
		{Name: "use_legacy_sql", Default: false, Doc: "legacy SQL instead of standard SQL"},
	}, connParams()...)
}

func loadParams() []sdk.Param {
	return append([]sdk.Param{
		{Name: "uri", Required: true, Doc: "gs://bucket/path, one * wildcard allowed; or a list of them"},
		{Name: "table_dest", Required: true, Doc: "the table: TABLE, DATASET.TABLE or PROJECT.DATASET.TABLE"},
		{Name: "dataset_dest", Doc: "the table's dataset"},
		{Name: "location", Doc: "where the job runs"},
		{Name: "source_format", Default: "CSV", Doc: "CSV, NEWLINE_DELIMITED_JSON (or NDJSON), PARQUET, AVRO or ORC"},
		{Name: "schema", Doc: "a list of columns ({\"name\", \"type\"[, \"mode\", \"format\", \"timezone\"]}; Embulk's long, double, timestamp... work) or \"name:TYPE,...\""},
		{Name: "autodetect", Doc: "infer the schema (default: when no schema is given, for CSV and JSON)"},
		{Name: "skip_leading_rows", Default: 0, Doc: "CSV: header rows to skip"},
		{Name: "field_delimiter", Doc: "CSV: the field delimiter (BigQuery's default: ,)"},
		{Name: "quote", Doc: "CSV: the quote character (BigQuery's default: \")"},
		{Name: "null_marker", Doc: "CSV: the string that stands for NULL"},
		{Name: "allow_quoted_newlines", Default: false, Doc: "CSV: quoted fields may hold newlines"},
		{Name: "allow_jagged_rows", Default: false, Doc: "CSV: missing trailing columns are NULL"},
		{Name: "ignore_unknown_values", Default: false, Doc: "ignore values that match no column"},
		{Name: "max_bad_records", Default: 0, Doc: "how many bad rows to tolerate"},
		{Name: "timestamp_format", Doc: "how TIMESTAMP values are written, e.g. %Y-%m-%d %H:%M:%S %Z"},
		{Name: "time_zone", Doc: "the zone of TIMESTAMP values written without one, e.g. America/Chicago"},
		{Name: "write_disposition", Default: "WRITE_TRUNCATE", Doc: "WRITE_TRUNCATE (replace), WRITE_APPEND or WRITE_EMPTY"},
		{Name: "create_disposition", Default: "CREATE_IF_NEEDED", Doc: "CREATE_IF_NEEDED or CREATE_NEVER"},
		{Name: "job_labels", Doc: "labels of the job, a dict of strings"},
	}, connParams()...)
}

func uploadParams() []sdk.Param {
	return append([]sdk.Param{
		{Name: "bucket", Required: true, Doc: "the bucket"},
		{Name: "blob", Required: true, Doc: "the object's name"},
		{Name: "data", Doc: "what to upload: a string or bytes (or give path)"},
		{Name: "path", Doc: "a local file to upload, streamed (or give data)"},
		{Name: "content_type", Doc: "the object's Content-Type"},
		{Name: "gzip", Default: false, Doc: "compress while uploading and store with Content-Encoding: gzip"},
		{Name: "create_bucket", Default: false, Doc: "create the bucket if it does not exist"},
	}, connParams()...)
}

func downloadParams() []sdk.Param {
	return append([]sdk.Param{
		{Name: "bucket", Required: true, Doc: "the bucket"},
		{Name: "blob", Required: true, Doc: "the object's name"},
		{Name: "as_bytes", Default: false, Doc: "return bytes instead of text"},
		{Name: "path", Doc: "write the object to this local file (streamed) and return the path"},
		{Name: "decompress", Default: true, Doc: "gunzip objects stored with Content-Encoding: gzip"},
	}, connParams()...)
}

func listParams() []sdk.Param {
	return append([]sdk.Param{
		{Name: "bucket", Required: true, Doc: "the bucket"},
		{Name: "prefix", Doc: "only names that start with this"},
		{Name: "delimiter", Doc: "e.g. /: list one level, with sub-prefixes ending in the delimiter"},
		{Name: "match_glob", Doc: "only names matching this glob, e.g. **.csv.gz"},
		{Name: "max_results", Doc: "at most this many entries"},
		{Name: "details", Default: false, Doc: "dicts of name, size, updated, content_type, content_encoding, md5, generation instead of names"},
	}, connParams()...)
}
