package gcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// columns is a parsed schema=, with the timestamp format and zone its
// Embulk-style columns carry (BigQuery takes one of each per load).
type columns struct {
	schema          bigquery.Schema
	timestampFormat string
	timeZone        string
}

// fieldTypes maps BigQuery's type names and Embulk's column types to
// BigQuery field types.
var fieldTypes = map[string]bigquery.FieldType{
	"STRING": bigquery.StringFieldType, "BYTES": bigquery.BytesFieldType,
	"INTEGER": bigquery.IntegerFieldType, "INT64": bigquery.IntegerFieldType,
	"FLOAT": bigquery.FloatFieldType, "FLOAT64": bigquery.FloatFieldType,
	"NUMERIC": bigquery.NumericFieldType, "BIGNUMERIC": bigquery.BigNumericFieldType,
	"BOOLEAN": bigquery.BooleanFieldType, "BOOL": bigquery.BooleanFieldType,
	"TIMESTAMP": bigquery.TimestampFieldType, "DATE": bigquery.DateFieldType,
	"TIME": bigquery.TimeFieldType, "DATETIME": bigquery.DateTimeFieldType,
	"GEOGRAPHY": bigquery.GeographyFieldType, "JSON": bigquery.JSONFieldType,
	"RECORD": bigquery.RecordFieldType, "STRUCT": bigquery.RecordFieldType,
	// Embulk's names, as in the column lists of its configs.
	"LONG": bigquery.IntegerFieldType, "DOUBLE": bigquery.FloatFieldType,
}

// parseSchema reads schema=: None, a list of column dicts, a JSON string of
// such a list (e.g. read_file("schema.json")), or "name:TYPE,...".
func parseSchema(v any) (columns, error) {
	switch v := v.(type) {
	case nil:
		return columns{}, nil
	case string:
		if strings.HasPrefix(strings.TrimSpace(v), "[") {
			var list []any
			if err := json.Unmarshal([]byte(v), &list); err != nil {
				return columns{}, fmt.Errorf("schema: not a JSON list of columns: %v", err)
			}
			return columnList(list)
		}
		return compactSchema(v)
	case []any:
		return columnList(v)
	case sdk.Tuple:
		return columnList(v)
	}
	return columns{}, fmt.Errorf("schema must be a list of columns or a string \"name:TYPE,...\", got %s", typeName(v))
}

// compactSchema reads the bq command's form: "name:TYPE,name2:TYPE2"
// (a name alone is a STRING).
func compactSchema(s string) (columns, error) {
	var cols columns
	for _, part := range strings.Split(s, ",") {
		name, typ, found := strings.Cut(strings.TrimSpace(part), ":")
		if !found {
			typ = "STRING"
		}
		ft, ok := fieldTypes[strings.ToUpper(strings.TrimSpace(typ))]
		if name == "" || !ok {
			return columns{}, fmt.Errorf("schema %q: column %q: want name:TYPE with TYPE one of %s", s, part, typeNames())
		}
		cols.schema = append(cols.schema, &bigquery.FieldSchema{Name: strings.TrimSpace(name), Type: ft})
	}
	return cols, nil
}

func columnList(list []any) (columns, error) {
	if len(list) == 0 {
		return columns{}, errors.New("schema: the list of columns is empty")
	}
	var cols columns
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return columns{}, fmt.Errorf("schema: column %d must be a dict with name and type, got %s", i, typeName(item))
		}
		f, err := cols.column(m)
		if err != nil {
			return columns{}, fmt.Errorf("schema: column %d: %w", i, err)
		}
		cols.schema = append(cols.schema, f)
	}
	return cols, nil
}

var columnKeys = map[string]bool{"name": true, "type": true, "mode": true, "description": true, "fields": true, "format": true, "timezone": true}

// column reads one column dict: name, type, and optionally mode,
// description, fields (of a RECORD), and Embulk's format and timezone
// (timestamp columns).
func (cols *columns) column(m map[string]any) (*bigquery.FieldSchema, error) {
	for k := range m {
		if !columnKeys[k] {
			return nil, fmt.Errorf("unknown key %q (keys: name, type, mode, description, fields, format, timezone)", k)
		}
	}
	name, _ := m["name"].(string)
	typ, _ := m["type"].(string)
	if name == "" || typ == "" {
		return nil, errors.New("name and type are required strings")
	}
	ft, ok := fieldTypes[strings.ToUpper(typ)]
	if !ok {
		return nil, fmt.Errorf("%s: unknown type %q (want one of %s)", name, typ, typeNames())
	}
	f := &bigquery.FieldSchema{Name: name, Type: ft}
	f.Description, _ = m["description"].(string)
	if err := setMode(f, m["mode"]); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := cols.timestampOptions(f, m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if fields, ok := m["fields"]; ok && fields != nil {
		if ft != bigquery.RecordFieldType {
			return nil, fmt.Errorf("%s: fields are for RECORD columns, not %s", name, ft)
		}
		list, ok := fields.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: fields must be a list of columns", name)
		}
		sub, err := columnList(list)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		f.Schema = sub.schema
	}
	return f, nil
}

func setMode(f *bigquery.FieldSchema, v any) error {
	if v == nil {
		return nil
	}
	s, _ := v.(string)
	switch strings.ToUpper(s) {
	case "NULLABLE", "":
	case "REQUIRED":
		f.Required = true
	case "REPEATED":
		f.Repeated = true
	default:
		return fmt.Errorf("mode %v: want NULLABLE, REQUIRED or REPEATED", v)
	}
	return nil
}

// timestampOptions takes Embulk's format and timezone of a timestamp
// column. BigQuery applies one format and zone to every TIMESTAMP of a
// load, so columns that disagree are refused rather than misread.
func (cols *columns) timestampOptions(f *bigquery.FieldSchema, m map[string]any) error {
	for _, key := range []string{"format", "timezone"} {
		v, ok := m[key]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s must be a string", key)
		}
		if f.Type != bigquery.TimestampFieldType {
			return fmt.Errorf("%s applies to timestamp columns, not %s", key, f.Type)
		}
		into := &cols.timestampFormat
		if key == "timezone" {
			into = &cols.timeZone
		}
		if *into != "" && *into != s {
			return fmt.Errorf("%s %q differs from another column's %q: a load takes one; load as STRING and convert with PARSE_TIMESTAMP in a query", key, s, *into)
		}
		*into = s
	}
	return nil
}

func typeNames() string {
	names := make([]string, 0, len(fieldTypes))
	for k := range fieldTypes {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
