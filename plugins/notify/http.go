package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// maxAnswer bounds how much of an answer's body is read.
const maxAnswer = 64 << 10

func slack(ctx context.Context, c *sdk.Call) (any, error) {
	msg := map[string]any{"text": c.String("text")}
	if b := c.List("blocks"); b != nil {
		msg["blocks"] = b
	}
	for _, k := range []string{"username", "icon_emoji", "channel"} {
		if v := c.String(k); v != "" {
			msg[k] = v
		}
	}
	_, body, err := post(ctx, c, http.MethodPost, msg, nil)
	if err != nil {
		return nil, err
	}
	return body, nil
}

func webhook(ctx context.Context, c *sdk.Call) (any, error) {
	method := strings.ToUpper(c.String("method"))
	if method == "" || strings.ContainsAny(method, " \r\n") {
		return nil, fmt.Errorf("method: want an HTTP method such as POST")
	}
	headers := map[string]string{}
	for k, v := range c.Map("headers") {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("headers[%q]: want a string", k)
		}
		if err := noBreaks("headers["+k+"]", s); err != nil {
			return nil, err
		}
		headers[k] = s
	}
	status, body, err := post(ctx, c, method, c.Args["body"], headers)
	if err != nil {
		return nil, err
	}
	return map[string]any{"status": int64(status), "body": body}, nil
}

// post sends payload as JSON to the call's url and returns the answer. An
// answer outside 2xx is an error with the start of its body.
func post(ctx context.Context, c *sdk.Call, method string, payload any, headers map[string]string) (int, string, error) {
	u, shown, err := endpoint(c.String("url"))
	if err != nil {
		return 0, "", err
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return 0, "", fmt.Errorf("body: %v", err)
	}
	ctx, cancel, err := deadline(ctx, c)
	if err != nil {
		return 0, "", err
	}
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(data))
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %v", method, shown, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wfsh-notify/"+Version)
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		req.Header.Set(k, headers[k])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its message repeats the whole URL
			err = ue.Err
		}
		return 0, "", fmt.Errorf("%s %s: %v", method, shown, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, "", fmt.Errorf("%s %s: %s: %s", method, shown, resp.Status, strings.TrimSpace(string(b)))
	}
	c.Logf("%s %s: %s", method, shown, resp.Status)
	return resp.StatusCode, string(b), nil
}
