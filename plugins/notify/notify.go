// Package notify is the @notify plugin: messages from state hooks (or any
// task) to a Slack-compatible incoming webhook, to any HTTP endpoint as
// JSON, and by e-mail through an SMTP server with STARTTLS. It is served
// by its own executable, wfsh-plugin-notify, which starts faster and
// smaller than wfsh in plugin mode (docs/plugins.md has the figures).
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// Version of the plugin.
const Version = "0.1.0"

// Plugin returns the @notify plugin.
func Plugin() *sdk.Plugin {
	timeout := func(d string) sdk.Param {
		return sdk.Param{Name: "timeout", Default: d, Doc: "how long the whole exchange may take (e.g. \"10s\", or a number of seconds)", Type: sdk.Any}
	}
	urlParam := sdk.Param{Name: "url", Required: true, Type: sdk.String, Doc: "the endpoint; keep it in a secret: secret(\"SLACK_WEBHOOK_URL\")"}
	return &sdk.Plugin{
		Name:    "notify",
		Version: Version,
		Functions: []sdk.Function{{
			Name: "slack",
			Doc:  "Post a message to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat); return the answer's body.",
			Params: []sdk.Param{urlParam,
				{Name: "text", Required: true, Type: sdk.String, Doc: "the message (Slack mrkdwn)"},
				{Name: "blocks", Type: sdk.List, Doc: "Block Kit blocks, sent as they are"},
				{Name: "username", Type: sdk.String},
				{Name: "icon_emoji", Type: sdk.String},
				{Name: "channel", Type: sdk.String, Doc: "where the webhook allows it"},
				timeout("10s"),
			},
			Run: slack,
		}, {
			Name: "webhook",
			Doc:  "Send body as JSON to url; return {\"status\": code, \"body\": text}. An answer outside 2xx fails.",
			Params: []sdk.Param{urlParam,
				{Name: "body", Doc: "any JSON-like value"},
				{Name: "headers", Type: sdk.Dict, Doc: "extra request headers, e.g. {\"Authorization\": \"Bearer \" + secret(\"TOKEN\")}"},
				{Name: "method", Default: "POST"},
				timeout("10s"),
			},
			Run: webhook,
		}, {
			Name: "email",
			Doc:  "Send a plain-text e-mail through an SMTP server, over STARTTLS unless starttls=False.",
			Params: []sdk.Param{
				{Name: "host", Required: true, Type: sdk.String},
				{Name: "port", Default: int64(587)},
				{Name: "sender", Required: true, Type: sdk.String, Doc: "the From address"},
				{Name: "to", Required: true, Doc: "an address, or a list of them"},
				{Name: "subject", Required: true, Type: sdk.String},
				{Name: "body", Required: true, Type: sdk.String},
				{Name: "username", Type: sdk.String, Doc: "log in (AUTH PLAIN, only over TLS) when given"},
				{Name: "password", Type: sdk.String, Doc: "from a secret: secret(\"SMTP_PASSWORD\")"},
				{Name: "starttls", Default: true, Doc: "refuse a server that does not offer STARTTLS"},
				{Name: "ca_cert", Type: sdk.String, Doc: "PEM certificates to trust besides the system's (a private relay's CA)"},
				timeout("30s"),
			},
			Run: email,
		}},
	}
}

// deadline bounds ctx by the call's timeout argument.
func deadline(ctx context.Context, c *sdk.Call) (context.Context, context.CancelFunc, error) {
	var d time.Duration
	switch v := c.Args["timeout"].(type) {
	case string:
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return nil, nil, fmt.Errorf("timeout: bad duration %q (want e.g. \"10s\")", v)
		}
	case int64:
		d = time.Duration(v) * time.Second
	case float64:
		d = time.Duration(v * float64(time.Second))
	default:
		return nil, nil, fmt.Errorf("timeout: want a duration such as \"10s\" or a number of seconds")
	}
	if d <= 0 {
		return nil, nil, errors.New("timeout: must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, nil
}

// endpoint checks an http(s) URL and returns what of it may be shown: its
// scheme and host. The path of a webhook is its secret.
func endpoint(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", errors.New("url: want an http:// or https:// URL")
	}
	return u, u.Scheme + "://" + u.Host, nil
}

// noBreaks refuses CR and LF in a value that goes into a header line.
func noBreaks(name, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%s: must be one line", name)
	}
	return nil
}
