package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// GraphvizHint tells how to get Graphviz's dot.
const GraphvizHint = "install the Debian package graphviz (apt-get install graphviz)"

// DotCommand finds Graphviz's dot on PATH; its error says how to install it.
func DotCommand() (string, error) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		return "", fmt.Errorf("Graphviz's dot command is not on PATH: %s", GraphvizHint)
	}
	return dot, nil
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
