package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wfsh/wfsh/auth"
)

// Client speaks the API for the CLI and the worker.
type Client struct {
	Base  string // http://127.0.0.1:4200
	Token string
	// Session, when Token is empty, is a web UI session's secret: the
	// client sends it as the browser does, in the session cookie, with
	// the session's CSRF token on requests other than GET (the web UI
	// calls the API so for its pages).
	Session string
	HTTP    *http.Client
}

// APIError is an error answer of the API (application/problem+json).
type APIError struct {
	Status int
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

func (e *APIError) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	sep := "\n  " // one line a detail; one detail on the same line
	if len(e.Errors) == 1 {
		sep = ": "
	}
	for _, d := range e.Errors {
		msg += sep + strings.TrimPrefix(d.Location, "body.") + ": " + d.Message
	}
	return fmt.Sprintf("server: %s (%d)", msg, e.Status)
}

// Do sends a request with an optional JSON (or raw []byte) body and
// decodes a JSON answer into out, if not nil.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	switch b := in.(type) {
	case nil:
	case []byte:
		body, ctype = bytes.NewReader(b), "application/octet-stream"
	default:
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(j), "application/json"
	}
	resp, err := c.send(ctx, method, path, body, ctype, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	if raw, ok := out.(*[]byte); ok {
		*raw, err = io.ReadAll(resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Copy sends a GET of path and copies the answer's body to w as it
// comes (a log as text, of any size).
func (c *Client) Copy(ctx context.Context, path string, w io.Writer) error {
	resp, err := c.send(ctx, "GET", path, nil, "", "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// Query is path with the non-empty values of kv as its query.
func Query(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// PathEscape escapes one path segment.
func PathEscape(s string) string { return url.PathEscape(s) }

// Backoff is how long to wait before the n-th retry of a failed call to
// the server: 100 ms doubling to 5 s.
func Backoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n, 6)
	return min(d, 5*time.Second)
}

// Stream reads a server-sent event stream at path, calling each with the
// name and data of each event, until the stream ends (nil), each returns
// an error (that error), or the request fails.
func (c *Client) Stream(ctx context.Context, path string, each func(event string, data []byte) error) error {
	resp, err := c.send(ctx, "GET", path, nil, "", "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	event, data := "message", []byte(nil)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0: // the end of one event
			if data != nil {
				if err := each(event, data); err != nil {
					return err
				}
			}
			event, data = "message", nil
		case bytes.HasPrefix(line, []byte("event:")):
			event = string(bytes.TrimSpace(line[len("event:"):]))
		case bytes.HasPrefix(line, []byte("data:")):
			d := bytes.TrimPrefix(line[len("data:"):], []byte(" "))
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, d...)
		}
	}
	return sc.Err()
}

// send makes one request of the API with the client's token, body of
// type ctype and Accept header if any; an answer of 400 or more is an *APIError (its body
// read and closed), any other the caller reads and closes.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, ctype, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+"/api/v1"+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	switch {
	case c.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	case c.Session != "":
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: c.Session})
		if method != http.MethodGet && method != http.MethodHead {
			req.Header.Set(auth.CSRFHeader, auth.CSRF(c.Session))
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		e := &APIError{Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, e) != nil || e.Title == "" && e.Detail == "" {
			e.Detail = strings.TrimSpace(string(b))
		}
		return nil, e
	}
	return resp, nil
}
