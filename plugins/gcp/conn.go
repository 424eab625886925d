package gcp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// The emulators' conventional environment variables: host:port (or a URL)
// of a local stand-in, which needs no credentials.
const (
	envBigQueryEmulator = "BIGQUERY_EMULATOR_HOST"
	envStorageEmulator  = "STORAGE_EMULATOR_HOST"
	envProject          = "GOOGLE_CLOUD_PROJECT"
)

// How the Cloud Storage client retries transient errors: about 8 s in
// all, at most.
var (
	storageAttempts = 6
	storageBackoff  = gax.Backoff{Initial: 250 * time.Millisecond, Max: 4 * time.Second, Multiplier: 2}
)

// plugin holds the clients of one plugin process, made on first use and
// shared by every call with the same connection settings (the clients are
// safe for concurrent use).
type plugin struct {
	mu       sync.Mutex
	bq       map[connKey]*bigquery.Client
	gcs      map[connKey]*storage.Client
	newBQ    func(ctx context.Context, project string, opts ...option.ClientOption) (*bigquery.Client, error)
	newGCS   func(ctx context.Context, opts ...option.ClientOption) (*storage.Client, error)
	getenv   func(string) string
	jobIDGen func(taskRun string) string
}

func newPlugin() *plugin {
	return &plugin{
		bq:       map[connKey]*bigquery.Client{},
		gcs:      map[connKey]*storage.Client{},
		newBQ:    bigquery.NewClient,
		newGCS:   storage.NewClient,
		getenv:   os.Getenv,
		jobIDGen: newJobID,
	}
}

// conn is where and as whom a call talks to Google Cloud.
type conn struct {
	project  string
	endpoint string // "" for Google's
	noAuth   bool   // an emulator: no credentials at all
	creds    *credentials
}

// connKey identifies a client: the same settings share one.
type connKey struct {
	project, endpoint string
	noAuth            bool
	credsHash         [sha256.Size]byte
}

func (c conn) key() connKey {
	k := connKey{project: c.project, endpoint: c.endpoint, noAuth: c.noAuth}
	if c.creds != nil {
		k.credsHash = sha256.Sum256(c.creds.json)
	}
	return k
}

func (c conn) options() []option.ClientOption {
	var opts []option.ClientOption
	if c.endpoint != "" {
		opts = append(opts, option.WithEndpoint(c.endpoint))
	}
	switch {
	case c.noAuth:
		opts = append(opts, option.WithoutAuthentication())
	case c.creds != nil:
		opts = append(opts, option.WithAuthCredentialsJSON(c.creds.kind, c.creds.json))
	}
	return opts
}

// credentials is a parsed credentials= argument. Its JSON never appears in
// an error or a log line.
type credentials struct {
	json      []byte
	kind      option.CredentialsType
	projectID string
	email     string
}

// parseCredentials reads credentials=: a dict (secret(..., cast=json.decode))
// or a JSON string; None means Application Default Credentials.
func parseCredentials(v any) (*credentials, error) {
	var raw []byte
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		raw = []byte(v)
	case []byte:
		raw = v
	case map[string]any:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("credentials: cannot encode the dict as JSON: %v", err)
		}
		raw = b
	default:
		return nil, fmt.Errorf("credentials: want a service-account key as a dict or a JSON string, got %s", typeName(v))
	}
	var key struct {
		Type        string `json:"type"`
		ProjectID   string `json:"project_id"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal(raw, &key); err != nil {
		// The decoder's message may quote the input: say only where.
		return nil, errors.New("credentials: not valid JSON; pass the service-account key file's content, e.g. secret(\"GCP_SECRET\", cast=json.decode)")
	}
	c := &credentials{json: raw, projectID: key.ProjectID, email: key.ClientEmail}
	switch key.Type {
	case "service_account":
		if key.ClientEmail == "" || key.PrivateKey == "" {
			return nil, errors.New("credentials: the service-account key lacks client_email or private_key; download a new JSON key for the service account")
		}
		c.kind = option.ServiceAccount
	case "authorized_user":
		c.kind = option.AuthorizedUser
	case "":
		return nil, errors.New("credentials: the JSON has no \"type\"; want a service-account key (\"type\": \"service_account\")")
	default:
		return nil, fmt.Errorf("credentials: keys of type %q are not accepted; use a service-account key, or None for Application Default Credentials", key.Type)
	}
	return c, nil
}

// connFor resolves a call's project, endpoint and credentials. emulatorEnv
// is the emulator variable of the service (BIGQUERY_EMULATOR_HOST or
// STORAGE_EMULATOR_HOST).
func (p *plugin) connFor(c *sdk.Call, emulatorEnv string) (conn, error) {
	creds, err := parseCredentials(c.Args["credentials"])
	if err != nil {
		return conn{}, err
	}
	cn := conn{creds: creds}
	if e := c.Args["endpoint"]; e != nil {
		s, ok := e.(string)
		if !ok || s == "" {
			return conn{}, fmt.Errorf("endpoint must be a URL string, got %s", typeName(e))
		}
		if cn.endpoint, err = normalEndpoint(s); err != nil {
			return conn{}, fmt.Errorf("endpoint: %w", err)
		}
		// An emulator speaks plain HTTP and wants no credentials; a
		// private Google endpoint is HTTPS and keeps them.
		cn.noAuth = creds == nil && strings.HasPrefix(cn.endpoint, "http://")
	} else if host := p.getenv(emulatorEnv); host != "" {
		if cn.endpoint, err = normalEndpoint(host); err != nil {
			return conn{}, fmt.Errorf("$%s: %w", emulatorEnv, err)
		}
		// As Google's clients do with STORAGE_EMULATOR_HOST: the emulator
		// gets no credentials, so a flow that passes the production
		// secret runs unchanged against it (the key still gives the
		// project).
		cn.noAuth = true
	}
	cn.project, err = p.project(c, creds)
	return cn, err
}

// project is project=, else the credentials' project, else
// $GOOGLE_CLOUD_PROJECT.
func (p *plugin) project(c *sdk.Call, creds *credentials) (string, error) {
	switch v := c.Args["project"].(type) {
	case string:
		if v != "" {
			return v, nil
		}
	case nil:
	default:
		return "", fmt.Errorf("project must be a string, got %s", typeName(v))
	}
	if creds != nil && creds.projectID != "" {
		return creds.projectID, nil
	}
	if v := p.getenv(envProject); v != "" {
		return v, nil
	}
	return "", nil
}

// normalEndpoint accepts host:port (as the emulator variables have it) or
// a URL, and returns a URL.
func normalEndpoint(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q is not a URL or host:port", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// bigQuery returns the BigQuery client for cn.
func (p *plugin) bigQuery(ctx context.Context, cn conn) (*bigquery.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cl := p.bq[cn.key()]; cl != nil {
		return cl, nil
	}
	// The client keeps the context for its token source: not the call's,
	// which ends with the call.
	cl, err := p.newBQ(context.WithoutCancel(ctx), cn.project, cn.options()...)
	if err != nil {
		return nil, err
	}
	p.bq[cn.key()] = cl
	return cl, nil
}

// storageClient returns the Cloud Storage client for cn.
func (p *plugin) storageClient(ctx context.Context, cn conn) (*storage.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := cn.key()
	k.project = "" // a storage client is not bound to a project
	if cl := p.gcs[k]; cl != nil {
		return cl, nil
	}
	opts := cn.options()
	if cn.endpoint != "" {
		// The JSON API lives under /storage/v1/ of the server.
		opts[0] = option.WithEndpoint(cn.endpoint + "/storage/v1/")
	}
	cl, err := p.newGCS(context.WithoutCancel(ctx), opts...)
	if err != nil {
		return nil, err
	}
	// Transient errors are retried a few times, not until the task's
	// timeout: an unreachable endpoint fails in seconds, and the task's
	// own retries= take it from there.
	cl.SetRetry(storage.WithMaxAttempts(storageAttempts), storage.WithBackoff(storageBackoff))
	p.gcs[k] = cl
	return cl, nil
}

// typeName names a value's Starlark type, for messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case string:
		return "string"
	case []byte:
		return "bytes"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case []any:
		return "list"
	case sdk.Tuple:
		return "tuple"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}
