// Command wfsh-plugin-notify serves the @notify plugin (Slack-compatible
// webhooks, JSON webhooks, e-mail over SMTP) to wfsh. wfsh starts it when
// a flow loads "@notify"; install it next to wfsh (make build, make
// install). It is an executable of its own rather than served by wfsh:
// it starts in half the time and memory (docs/plugins.md).
package main

import (
	"github.com/wfsh/wfsh/plugins/notify"
	"github.com/wfsh/wfsh/plugins/sdk"
)

func main() { sdk.Serve(notify.Plugin()) }
