package dot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/wfsh/wfsh/runtime"
)

// GraphvizHint tells how to get Graphviz's dot.
const GraphvizHint = "install the Debian package graphviz (apt-get install graphviz)"

// ErrNoDot is Draw's error when Graphviz's dot is not on PATH.
var ErrNoDot = errors.New("Graphviz's dot command is not on PATH: " + GraphvizHint)

// Draw writes g as DOT, nodes coloured by states (by run name), and has
// Graphviz render it unless format is "dot".
func Draw(ctx context.Context, g *runtime.Graph, states map[string]runtime.State, format string) ([]byte, error) {
	var buf bytes.Buffer
	if err := Write(&buf, g, Options{States: states}); err != nil {
		return nil, err
	}
	if format == "dot" {
		return buf.Bytes(), nil
	}
	cmd, err := exec.LookPath("dot")
	if err != nil {
		return nil, ErrNoDot
	}
	return Render(ctx, cmd, format, buf.Bytes())
}

// Render runs Graphviz's dot (the command at path dot) on DOT source src
// and returns its output in format ("svg", "png", ...).
func Render(ctx context.Context, dot, format string, src []byte) ([]byte, error) {
	c := exec.CommandContext(ctx, dot, "-T"+format)
	c.Stdin = bytes.NewReader(src)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if msg == "" || !errors.As(err, &ee) {
			msg = err.Error()
		}
		return nil, fmt.Errorf("dot -T%s: %s", format, msg)
	}
	return stdout.Bytes(), nil
}
