// Command wfsh-plugin-gcp serves the @gcp plugin (BigQuery and Cloud
// Storage) to wfsh. wfsh starts it when a flow loads "@gcp"; install it
// next to wfsh (make build, make install). See docs/gcp.md.
package main

import (
	"github.com/wfsh/wfsh/plugins/gcp"
	"github.com/wfsh/wfsh/plugins/sdk"
)

func main() { sdk.Serve(gcp.Plugin()) }
