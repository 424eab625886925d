// Command embulkstandin stands in for Embulk (a Java tool) in the tests of
// flows/local_etl.star, which put it first on PATH as `embulk`. It takes
// `embulk run CONFIG`, renders the config's Liquid `{{ env.NAME }}`
// expressions, checks that it is the gcs → bigquery load the flow means
// (embulk-input-gcs, embulk-output-bigquery, mode: replace, a
// service-account key), and does what Embulk would: it loads the files
// under the GCS path prefix into the BigQuery table, with the columns and
// header lines of the config's CSV parser, against the emulators named by
// BIGQUERY_EMULATOR_HOST. It prints a few lines as Embulk does, and appends
// "embulk run CONFIG in DIR" to $EMBULK_CALLS when that is set.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"gopkg.in/yaml.v3"
)

// config is the part of an Embulk config the stand-in reads.
type config struct {
	In struct {
		Type        string            `yaml:"type"`
		Bucket      string            `yaml:"bucket"`
		PathPrefix  string            `yaml:"path_prefix"`
		AuthMethod  string            `yaml:"auth_method"`
		JSONKeyfile map[string]string `yaml:"json_keyfile"`
		Decoders    []map[string]any  `yaml:"decoders"`
		Parser      struct {
			Type            string `yaml:"type"`
			SkipHeaderLines int64  `yaml:"skip_header_lines"`
			Columns         []struct {
				Name     string `yaml:"name"`
				Type     string `yaml:"type"`
				Format   string `yaml:"format"`
				Timezone string `yaml:"timezone"`
			} `yaml:"columns"`
		} `yaml:"parser"`
	} `yaml:"in"`
	Out struct {
		Type              string            `yaml:"type"`
		Mode              string            `yaml:"mode"`
		AuthMethod        string            `yaml:"auth_method"`
		JSONKeyfile       map[string]string `yaml:"json_keyfile"`
		Project           string            `yaml:"project"`
		Dataset           string            `yaml:"dataset"`
		AutoCreateDataset bool              `yaml:"auto_create_dataset"`
		Table             string            `yaml:"table"`
		Location          string            `yaml:"location"`
	} `yaml:"out"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "embulk stand-in: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 || args[0] != "run" {
		return fmt.Errorf("want 'embulk run CONFIG', got: embulk %s", strings.Join(args, " "))
	}
	cfg, err := readConfig(args[1])
	if err != nil {
		return err
	}
	if err := check(cfg); err != nil {
		return fmt.Errorf("%s: %v", args[1], err)
	}
	if f := os.Getenv("EMBULK_CALLS"); f != "" {
		wd, _ := os.Getwd()
		if err := appendLine(f, fmt.Sprintf("embulk run %s in %s", args[1], filepath.Base(wd))); err != nil {
			return err
		}
	}
	fmt.Println("[INFO] (main): Started Embulk v0.11.5")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return load(ctx, cfg)
}

var liquidExpr = regexp.MustCompile(`\{\{\s*env\.(\w+)(?:\s*\|\s*default:\s*'([^']*)')?\s*\}\}`)

// readConfig renders {{ env.NAME }} and {{ env.NAME | default: 'x' }}, the
// Liquid the configs use, and parses the YAML. An unset variable without a
// default is an error, where Embulk would render an empty string and fail
// later.
func readConfig(path string) (*config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var missing []string
	text := liquidExpr.ReplaceAllStringFunc(string(b), func(m string) string {
		sub := liquidExpr.FindStringSubmatch(m)
		if v, ok := os.LookupEnv(sub[1]); ok {
			return v
		}
		if strings.Contains(m, "default:") {
			return sub[2]
		}
		missing = append(missing, sub[1])
		return ""
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: environment variables not set: %s", path, strings.Join(missing, ", "))
	}
	var cfg config
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &cfg, nil
}

func check(cfg *config) error {
	switch {
	case cfg.In.Type != "gcs" || cfg.Out.Type != "bigquery":
		return fmt.Errorf("want in: gcs, out: bigquery, got in: %q, out: %q", cfg.In.Type, cfg.Out.Type)
	case cfg.Out.Mode != "replace":
		return fmt.Errorf("out.mode is %q, want replace (as the tour)", cfg.Out.Mode)
	case len(cfg.In.Decoders) != 1 || cfg.In.Decoders[0]["type"] != "gzip":
		return errors.New("want one gzip decoder")
	case cfg.In.Parser.Type != "csv" || len(cfg.In.Parser.Columns) == 0:
		return errors.New("want a csv parser with columns")
	case cfg.In.Bucket == "" || cfg.In.PathPrefix == "" || cfg.Out.Project == "" || cfg.Out.Dataset == "" || cfg.Out.Table == "" || cfg.Out.Location == "":
		return fmt.Errorf("empty bucket, path_prefix, project, dataset, table or location: %+v %+v", cfg.In, cfg.Out)
	}
	for _, side := range []struct {
		method string
		key    map[string]string
	}{{cfg.In.AuthMethod, cfg.In.JSONKeyfile}, {cfg.Out.AuthMethod, cfg.Out.JSONKeyfile}} {
		var key struct {
			Type        string `json:"type"`
			ClientEmail string `json:"client_email"`
		}
		if side.method != "json_key" || json.Unmarshal([]byte(side.key["content"]), &key) != nil || key.Type != "service_account" || key.ClientEmail == "" {
			return errors.New("want auth_method: json_key with a service-account key as json_keyfile.content")
		}
	}
	return nil
}

// embulkTypes are Embulk's column types in BigQuery's terms.
var embulkTypes = map[string]bigquery.FieldType{
	"long": bigquery.IntegerFieldType, "double": bigquery.FloatFieldType, "string": bigquery.StringFieldType,
	"boolean": bigquery.BooleanFieldType, "timestamp": bigquery.TimestampFieldType, "json": bigquery.JSONFieldType,
}

func load(ctx context.Context, cfg *config) error {
	host := os.Getenv("BIGQUERY_EMULATOR_HOST")
	if host == "" {
		return errors.New("BIGQUERY_EMULATOR_HOST is not set: the stand-in talks to the BigQuery emulator only")
	}
	cl, err := bigquery.NewClient(ctx, cfg.Out.Project, option.WithEndpoint("http://"+host), option.WithoutAuthentication())
	if err != nil {
		return err
	}
	defer cl.Close()
	ds := cl.Dataset(cfg.Out.Dataset)
	if cfg.Out.AutoCreateDataset {
		// Both loads of a flow may create it at once: one wins, and the
		// other finds it there (BigQuery answers 409, the emulator 500).
		err := ds.Create(ctx, &bigquery.DatasetMetadata{Location: cfg.Out.Location})
		var apiErr *googleapi.Error
		if err != nil && !(errors.As(err, &apiErr) && apiErr.Code == 409) {
			if _, merr := ds.Metadata(ctx); merr != nil {
				return fmt.Errorf("creating dataset %s: %v", cfg.Out.Dataset, err)
			}
		}
	}
	uri := "gs://" + cfg.In.Bucket + "/" + cfg.In.PathPrefix + "*"
	ref := bigquery.NewGCSReference(uri)
	ref.SourceFormat = bigquery.CSV
	ref.SkipLeadingRows = cfg.In.Parser.SkipHeaderLines
	for _, c := range cfg.In.Parser.Columns {
		t, ok := embulkTypes[c.Type]
		if !ok {
			return fmt.Errorf("column %s: type %q", c.Name, c.Type)
		}
		ref.Schema = append(ref.Schema, &bigquery.FieldSchema{Name: c.Name, Type: t})
	}
	fmt.Printf("[INFO] (0001:transaction): Loading files [%s]\n", uri)
	l := ds.Table(cfg.Out.Table).LoaderFrom(ref)
	l.WriteDisposition = bigquery.WriteTruncate
	l.Location = cfg.Out.Location
	job, err := l.Run(ctx)
	if err != nil {
		return err
	}
	st, err := job.Wait(ctx)
	if err == nil {
		err = st.Err()
	}
	if err != nil {
		return fmt.Errorf("load job %s: %v", job.ID(), err)
	}
	fmt.Println("[INFO] (0001:transaction): {done:  1 / 1, running: 0}")
	fmt.Println("[INFO] (main): Committed.")
	return nil
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
