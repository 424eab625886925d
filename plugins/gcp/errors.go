package gcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/bigquery"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
)

// describeErr turns an error of the Google clients into one line a user can
// act on: what went wrong, in BigQuery's or Cloud Storage's own words, the
// job it concerns (when ref names one), and what to check.
func describeErr(err error, ref jobRef) string {
	kind, msg, hint := classify(err)
	if ref.id != "" {
		msg += " (job " + ref.String() + ")"
	}
	return oneLine(joinKind(kind, msg, hint))
}

// joinKind writes "kind: msg; hint", leaving out what is empty.
func joinKind(kind, msg, hint string) string {
	s := msg
	if kind != "" {
		s = kind + ": " + msg
	}
	if hint != "" {
		s += "; " + hint
	}
	return s
}

// classify names the kind of failure, its message and a hint.
func classify(err error) (kind, msg, hint string) {
	var bqErr *bigquery.Error
	var apiErr *googleapi.Error
	var authErr *auth.Error
	var oauthErr *oauth2.RetrieveError
	var multi bigquery.MultiError
	switch {
	case errors.As(err, &authErr):
		return "bad credentials", authErr.Error(), credentialsHint
	case errors.As(err, &oauthErr):
		return "bad credentials", oauthErr.Error(), credentialsHint
	case errors.As(err, &bqErr):
		return byReason(bqErr.Reason, 0, bqErr.Message)
	case errors.As(err, &multi) && len(multi) > 0:
		kind, msg, hint = classify(multi[0])
		if len(multi) > 1 {
			msg += " (and " + strconv.Itoa(len(multi)-1) + " more errors)"
		}
		return kind, msg, hint
	case errors.As(err, &apiErr):
		reason := ""
		if len(apiErr.Errors) > 0 {
			reason = apiErr.Errors[0].Reason
		}
		m := apiErr.Message
		if m == "" {
			m = strings.TrimSpace(apiErr.Body)
		}
		if m == "" {
			m = err.Error()
		}
		return byReason(reason, apiErr.Code, m)
	case strings.Contains(err.Error(), "could not find default credentials"):
		return "no credentials", "no credentials= given and no Application Default Credentials found",
			"pass credentials=secret(\"GCP_SECRET\", cast=json.decode), set $GOOGLE_APPLICATION_CREDENTIALS to a key file, or run gcloud auth application-default login"
	}
	var urlErr *url.Error
	var opErr *net.OpError
	if errors.As(err, &opErr) && errors.As(err, &urlErr) {
		return "cannot reach " + hostOf(urlErr.URL), opErr.Err.Error(), "check endpoint= and $BIGQUERY_EMULATOR_HOST / $STORAGE_EMULATOR_HOST, or the network"
	}
	return "", err.Error(), ""
}

const credentialsHint = "check the service-account key given as credentials= (or Application Default Credentials when none is given): it may be revoked, expired or for another project"

// byReason classifies by BigQuery's or Cloud Storage's error reason, else by
// HTTP status. Messages of the BigQuery emulator, which reports most
// failures as invalid or internal errors, are recognised by their words.
func byReason(reason string, code int, msg string) (kind, _, hint string) {
	msg = zetaSQLPosition(msg)
	switch {
	case strings.Contains(msg, "Syntax error") || strings.Contains(msg, "failed to analyze") && !strings.Contains(msg, "not found"):
		return "invalid query", msg, ""
	case strings.Contains(msg, "object doesn't exist") || strings.Contains(msg, "Not found: URI") || strings.Contains(msg, "matched no files"):
		return "not found", msg, "check uri= (gcs_list shows the objects there are)"
	case strings.Contains(msg, "Table not found") || strings.Contains(msg, "Dataset not found") || strings.Contains(msg, "is not found"):
		return "not found", msg, "check the project, dataset and table names, and location="
	case reason == "notFound" || code == 404:
		return "not found", msg, "check the project, dataset and table names, and location="
	case reason == "invalidQuery":
		return "invalid query", msg, ""
	case reason == "accessDenied" || reason == "forbidden" || code == 403 && !strings.Contains(reason, "uota") && !strings.Contains(reason, "ateLimit"):
		return "permission denied", msg, "grant the account a BigQuery role on the project or dataset (roles/bigquery.jobUser to run jobs, roles/bigquery.dataEditor to write tables)"
	case strings.Contains(reason, "uota") || strings.Contains(reason, "ateLimit") || code == 429:
		return "quota exceeded", msg, "retry later (the task's retries= and retry_delay=) or ask for a higher quota"
	case reason == "authError" || code == 401:
		return "bad credentials", msg, credentialsHint
	case reason == "duplicate" || code == 409:
		return "already exists", msg, ""
	case reason == "invalid" || reason == "required" || code == 400:
		return "invalid request", msg, ""
	case reason == "backendError" || reason == "internalError" || code >= 500:
		return "server error", msg, "retry later (the task's retries=)"
	case reason == "stopped":
		return "job stopped", msg, ""
	}
	return "", msg, ""
}

// zetaLocation is how the BigQuery emulator (ZetaSQL) attaches an error's
// position: a protobuf ErrorLocation {line, column}, printed as escaped
// bytes.
var zetaLocation = regexp.MustCompile(`\s*\[type\.googleapis\.com/zetasql\.ErrorLocation='((?:\\x[0-9a-fA-F]{2}|[^'\\])*)'\]`)

// zetaSQLPosition writes a ZetaSQL error location as BigQuery does:
// "at [LINE:COLUMN]".
func zetaSQLPosition(msg string) string {
	return zetaLocation.ReplaceAllStringFunc(msg, func(m string) string {
		raw := zetaLocation.FindStringSubmatch(m)[1]
		var b []byte
		for i := 0; i < len(raw); i++ {
			if raw[i] == '\\' && i+3 < len(raw) && raw[i+1] == 'x' {
				v, err := strconv.ParseUint(raw[i+2:i+4], 16, 8)
				if err != nil {
					return m
				}
				b = append(b, byte(v))
				i += 3
				continue
			}
			b = append(b, raw[i])
		}
		line, col := protoVarintFields(b)
		if line == 0 {
			return m
		}
		return fmt.Sprintf(" at [%d:%d]", line, col)
	})
}

// protoVarintFields reads fields 1 and 2 (varints) of a protobuf message.
func protoVarintFields(b []byte) (f1, f2 uint64) {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 || key&7 != 0 {
			return f1, f2
		}
		b = b[n:]
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return f1, f2
		}
		b = b[n:]
		switch key >> 3 {
		case 1:
			f1 = v
		case 2:
			f2 = v
		}
	}
	return f1, f2
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return raw
}

// oneLine joins a multi-line message into one line.
func oneLine(s string) string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return strings.Join(f, " ")
}
