// Command wfsh-plugin-faulty is a deliberately misbehaving plugin for the
// end-to-end tests of plugins/host: it fails, crashes mid-call, panics,
// hangs, returns large values and floods the log.
//
//	go build -o DIR/wfsh-plugin-faulty ./plugins/internal/testplugin
package main

import (
	"context"
	"errors"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// stderr writes to the process's standard error (file descriptor 2).
var stderr = log.New(os.NewFile(2, "/dev/stderr"), "", 0)

func main() {
	// A plugin built against another version of the protocol, for the
	// test of the handshake.
	if v, err := strconv.Atoi(os.Getenv("FAULTY_PROTOCOL_VERSION")); err == nil {
		sdk.Handshake.ProtocolVersion = uint(v)
	}
	sdk.Serve(&sdk.Plugin{
		Name:    "faulty",
		Version: "0.0.1",
		Functions: []sdk.Function{
			{Name: "echo", Doc: "Return value unchanged.", Params: []sdk.Param{{Name: "value", Required: true}}, Run: echo},
			{Name: "fail", Doc: "Return an error with msg.", Params: []sdk.Param{{Name: "msg", Required: true}}, Run: fail},
			{Name: "crash", Doc: "Log after_lines lines, write to stderr, exit 3.", Params: []sdk.Param{{Name: "after_lines", Default: 0}}, Run: crash},
			{Name: "panic", Doc: "Panic.", Run: panicky},
			{Name: "hang", Doc: "Block until the call is cancelled.", Run: hang},
			{Name: "sleep", Doc: "Sleep, ignoring cancellation.", Params: []sdk.Param{{Name: "seconds", Required: true}}, Run: sleep},
			{Name: "big", Doc: "Return a string of mb MiB.", Params: []sdk.Param{{Name: "mb", Required: true}}, Run: big},
			{Name: "spam", Doc: "Log n numbered lines, return n.", Params: []sdk.Param{{Name: "n", Required: true}}, Run: spam},
			{Name: "pid", Doc: "Return the plugin's process id.", Run: pid},
		},
		Tasks: []sdk.TaskConstructor{{Name: "echo_task", Doc: "A task that echoes.", Function: "echo"}},
	})
}

func echo(_ context.Context, c *sdk.Call) (any, error) { return c.Args["value"], nil }

func fail(_ context.Context, c *sdk.Call) (any, error) { return nil, errors.New(c.String("msg")) }

func crash(_ context.Context, c *sdk.Call) (any, error) {
	for i := range c.Int("after_lines") {
		c.Logf("crash line %d", i+1)
	}
	// The process's own stderr, as a panic or log.Fatal would write it:
	// once Serve runs, go-plugin points os.Stderr at a stream of its own.
	stderr.Println("faulty: about to crash")
	stderr.Println("faulty: state is corrupt")
	os.Exit(3)
	return nil, nil
}

func panicky(context.Context, *sdk.Call) (any, error) { panic("faulty panics on purpose") }

func hang(ctx context.Context, c *sdk.Call) (any, error) {
	c.Logf("hanging")
	<-ctx.Done()
	return nil, ctx.Err()
}

func sleep(_ context.Context, c *sdk.Call) (any, error) {
	c.Logf("sleeping")
	time.Sleep(time.Duration(c.Int("seconds")) * time.Second)
	return nil, nil
}

func big(_ context.Context, c *sdk.Call) (any, error) {
	return strings.Repeat("x", int(c.Int("mb"))<<20), nil
}

func spam(_ context.Context, c *sdk.Call) (any, error) {
	n := c.Int("n")
	for i := range n {
		c.Logf("spam %d", i+1)
	}
	return n, nil
}

func pid(context.Context, *sdk.Call) (any, error) { return os.Getpid(), nil }
