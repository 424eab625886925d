package gcp

import (
	"fmt"
	"math/big"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
)

// rowValue turns one result row into a dict keyed by column name, with
// values wfsh can carry: INT64 → int, FLOAT64 → float, BOOL, STRING and
// JSON → string, BYTES → bytes, TIMESTAMP → RFC 3339 string in UTC, DATE,
// TIME and DATETIME → their ISO strings, NUMERIC and BIGNUMERIC → exact
// decimal strings, ARRAY → list, STRUCT → dict, NULL → None.
func rowValue(schema bigquery.Schema, vals []bigquery.Value) (map[string]any, error) {
	row := make(map[string]any, len(vals))
	for i, v := range vals {
		if i >= len(schema) {
			return nil, fmt.Errorf("row has %d values for %d columns", len(vals), len(schema))
		}
		f := schema[i]
		out, err := fieldValue(f, v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		row[f.Name] = out
	}
	return row, nil
}

func fieldValue(f *bigquery.FieldSchema, v bigquery.Value) (any, error) {
	if f.Repeated {
		items, ok := v.([]bigquery.Value)
		if !ok {
			if v == nil {
				return []any{}, nil
			}
			return nil, fmt.Errorf("repeated value of Go type %T", v)
		}
		out := make([]any, len(items))
		elem := *f
		elem.Repeated = false
		for i, it := range items {
			x, err := fieldValue(&elem, it)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	}
	if rec, ok := v.([]bigquery.Value); ok && f.Type == bigquery.RecordFieldType {
		return rowValue(f.Schema, rec)
	}
	return scalar(f.Type, v)
}

func scalar(t bigquery.FieldType, v bigquery.Value) (any, error) {
	switch v := v.(type) {
	case nil, int64, float64, bool, string, []byte:
		return v, nil
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), nil
	case civil.Date:
		return v.String(), nil
	case civil.Time:
		return v.String(), nil
	case civil.DateTime:
		return v.String(), nil
	case *big.Rat:
		if t == bigquery.BigNumericFieldType {
			return bigquery.BigNumericString(v), nil
		}
		return bigquery.NumericString(v), nil
	case *bigquery.IntervalValue:
		return v.String(), nil
	case *bigquery.RangeValue:
		start, err := scalar("", v.Start)
		if err != nil {
			return nil, err
		}
		end, err := scalar("", v.End)
		if err != nil {
			return nil, err
		}
		return map[string]any{"start": start, "end": end}, nil
	}
	return nil, fmt.Errorf("a %s value of Go type %T has no wfsh equivalent", t, v)
}
