// Package sdk is what a wfsh plugin is written against: the handshake and
// versioned gRPC protocol between wfsh and a plugin process, the codec for
// the JSON-like values that cross it, and the Go API that declares a
// plugin's functions and task constructors.
//
// A plugin is an executable named wfsh-plugin-NAME whose main calls Serve:
//
//	func main() {
//		sdk.Serve(&sdk.Plugin{
//			Name: "hello",
//			Functions: []sdk.Function{{
//				Name:   "greet",
//				Params: []sdk.Param{{Name: "who", Required: true}},
//				Run: func(ctx context.Context, c *sdk.Call) (any, error) {
//					c.Logf("greeting %s", c.String("who"))
//					return "hello " + c.String("who"), nil
//				},
//			}},
//		})
//	}
package sdk

import (
	"context"
	"fmt"
	"math/big"

	"github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the version of the wire protocol (pluginpb). A host
// and a plugin of different versions refuse each other at the handshake.
const ProtocolVersion = 1

// Handshake is shared by wfsh and every plugin. The cookie only tells a
// plugin that it was started by wfsh; it is not a secret.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "WFSH_PLUGIN",
	MagicCookieValue: "7f3c1a9e-wfsh-plugin",
}

// pluginKey names the one plugin type a wfsh plugin process dispenses.
const pluginKey = "wfsh"

// Plugin declares what a plugin exports.
type Plugin struct {
	Name    string
	Version string
	// Functions are callable in task bodies: mod.fn(...).
	Functions []Function
	// Tasks are task constructors: shell_task(name=..., command=...) at the
	// top of a flow file returns a task that calls a function.
	Tasks []TaskConstructor
	// Procs, when above 0, is how many OS threads may run the plugin's Go
	// code at once (its GOMAXPROCS); 0 keeps Go's default, one per CPU.
	// A plugin whose calls are short and wait on I/O can set 1: a call's
	// round trip is then about a third shorter on 2 cores, as no second
	// thread is woken to look for work each time a call arrives; one that
	// runs calls side by side that compute, or start processes as @shell
	// does, keeps the default (docs/performance.md has both figures).
	// GOMAXPROCS in the environment wins.
	Procs int
}

// Function is one function of a plugin.
type Function struct {
	Name   string
	Doc    string
	Params []Param
	Run    func(ctx context.Context, c *Call) (any, error)
}

// Param is one parameter of a function. A parameter that is not Required
// takes Default (which may be nil, for None) when not given.
type Param struct {
	Name     string
	Doc      string
	Required bool
	Default  any
	// Type is what the parameter accepts; Any with a Default means what
	// the default is. A call with another type fails before the function
	// runs, with the argument named.
	Type Type
}

// TaskConstructor makes tasks that call Function; the constructor's
// arguments become defaults for the task's calls.
type TaskConstructor struct {
	Name     string
	Doc      string
	Function string
}

// Call is one call of a function: its arguments, and the way back to the
// calling task's log.
type Call struct {
	// Args holds every parameter: given, or its default.
	Args    map[string]any
	TaskRun string // the calling task run, e.g. "load_stations" or "sq[3]"
	FlowRun string // the flow run's id
	log     func(level Level, text string)
}

// Level is a log line's level.
type Level int

// Log levels, as the task's log shows them.
const (
	Info Level = iota
	Debug
	Warning
	Error
)

// Log sends a line to the calling task's log.
func (c *Call) Log(level Level, text string) {
	if c.log != nil {
		c.log(level, text)
	}
}

// Logf sends a formatted info line to the calling task's log.
func (c *Call) Logf(format string, args ...any) { c.Log(Info, fmt.Sprintf(format, args...)) }

// String returns argument name as a string, or "" if it is None or not a
// string.
func (c *Call) String(name string) string {
	s, _ := c.Args[name].(string)
	return s
}

// Bool returns argument name as a bool (false for None).
func (c *Call) Bool(name string) bool {
	b, _ := c.Args[name].(bool)
	return b
}

// Int returns argument name as an int64 (0 for None or an int beyond
// int64).
func (c *Call) Int(name string) int64 {
	switch v := c.Args[name].(type) {
	case int64:
		return v
	case *big.Int:
		if v.IsInt64() {
			return v.Int64()
		}
	}
	return 0
}

// Map returns argument name as a dict (nil for None).
func (c *Call) Map(name string) map[string]any {
	m, _ := c.Args[name].(map[string]any)
	return m
}

// List returns argument name as a list or tuple (nil for None).
func (c *Call) List(name string) []any {
	switch v := c.Args[name].(type) {
	case []any:
		return v
	case Tuple:
		return v
	}
	return nil
}
