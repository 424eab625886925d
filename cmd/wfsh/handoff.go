package main

// fullOnly are the commands that need the server's libraries, the plugin
// protocol, the live views (bubbletea) or buildifier, with their one-line
// help. wfsh-full serves them (full.go); the light wfsh lists them all the
// same and hands them over (light.go; docs/architecture.md, "Two
// executables"). Their package initialisation would cost every start of
// the commands that need none of them (docs/performance.md).
var fullOnly = map[string]string{
	"__plugin":   "Serve one of wfsh's own plugins (started by wfsh, not by hand)",
	"plugins":    "List the plugins found, with the functions and task constructors each exports",
	"server":     "Serve the API, schedule deployments' runs and watch workers' leases",
	"worker":     "Run the runs of a work pool, each in a child wfsh process",
	"deploy":     "Upload a flow's directory and make (or update) the deployment FLOW/NAME on a server",
	"cancel":     "Cancel a run on the server (Scheduled: at once; Pending or Running: its worker stops it)",
	"resume":     "Resume a server's run that ended Failed, Cancelled or Crashed: a new run that reuses the task runs that succeeded",
	"login":      "Keep a server and its token in a profile (0600) that client commands use",
	"token":      "Create, list and revoke API tokens (admin)",
	"secret":     "Set, list and remove the server's secrets (values never shown)",
	"pool":       "Create, change, show, list, pause and resume work pools",
	"deployment": "List, pause, resume and remove deployments",
	"limit":      "Limit how many task runs with a tag run at once (on a server: also deployment runs)",
	// The REPL: a load("@name") typed at its prompt needs the plugin
	// protocol, and a session cannot be handed over halfway.
	// Long-lived or interactive: their start does not count.
	"repl":  "Debug a flow at a prompt: run it with mocked states, replace tasks, draw it",
	"serve": "Run the flows of the given files on their schedules, until interrupted",
	// buildifier (and, for lint, protobuf).
	"fmt":  "Format .star files in place (buildifier's layout, decorators kept)",
	"lint": "Report likely mistakes in .star files (buildifier's warnings and wfsh's own)",
}
