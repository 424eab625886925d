// Command wfsh-plugin-hello is the example plugin of docs/plugins.md: a
// function greet(who, punctuation="!") and a task constructor greet_task.
//
//	go build -o ~/bin/wfsh-plugin-hello ./examples/plugins/hello
package main

import (
	"context"
	"errors"

	"github.com/wfsh/wfsh/plugins/sdk"
)

func greet(ctx context.Context, c *sdk.Call) (any, error) {
	who := c.String("who")
	if who == "" {
		return nil, errors.New("greet: who must be a non-empty string")
	}
	c.Logf("greeting %s", who)
	return "Hello, " + who + c.String("punctuation"), nil
}

func main() {
	sdk.Serve(&sdk.Plugin{
		Name:    "hello",
		Version: "1.0.0",
		Functions: []sdk.Function{{
			Name: "greet",
			Doc:  "Return a greeting for who.",
			Params: []sdk.Param{
				{Name: "who", Required: true},
				{Name: "punctuation", Default: "!"},
			},
			Run: greet,
		}},
		Tasks: []sdk.TaskConstructor{{Name: "greet_task", Doc: "A task that greets.", Function: "greet"}},
	})
}
