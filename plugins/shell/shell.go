// Package shell is the @shell plugin: bash commands as tasks (Prefect's
// ShellTask), with the command's output streamed to the task's log. wfsh
// serves it itself (`wfsh __plugin shell`): it needs nothing heavy.
package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wfsh/wfsh/plugins/internal/pdeath"
	"github.com/wfsh/wfsh/plugins/sdk"
)

// Version of the plugin.
const Version = "0.1.0"

// stderrTail is how many stderr lines a failure reports.
const stderrTail = 20

// Plugin returns the @shell plugin.
func Plugin() *sdk.Plugin {
	params := []sdk.Param{
		{Name: "command", Required: true, Doc: "the bash command to run"},
		{Name: "env", Doc: "environment variables, merged over wfsh's own"},
		{Name: "cwd", Doc: "the working directory (default: wfsh's)"},
		{Name: "return_all", Default: false, Doc: "return every stdout line, not only the last"},
		{Name: "stream_output", Default: true, Doc: "send each output line to the task's log"},
	}
	return &sdk.Plugin{
		Name:    "shell",
		Version: Version,
		Functions: []sdk.Function{{
			Name:   "run",
			Doc:    "Run a bash command; return its last stdout line (or all of them). A non-zero exit fails with the exit status and the stderr tail.",
			Params: params,
			Run:    run,
		}},
		Tasks: []sdk.TaskConstructor{{
			Name:     "shell_task",
			Doc:      "A task that runs a bash command (Prefect's ShellTask).",
			Function: "run",
		}},
	}
}

func run(ctx context.Context, c *sdk.Call) (any, error) {
	command := c.String("command")
	if command == "" {
		return nil, errors.New("run: command is empty")
	}
	cmd, err := newCommand(ctx, c, command)
	if err != nil {
		return nil, err
	}
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := pdeath.Do(cmd.Start); err != nil {
		return nil, fmt.Errorf("run: %v", err)
	}
	// Whatever bash started and left behind in its group ends with it.
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	var wg sync.WaitGroup
	var out, errLines []string
	log := lockedLog(c, c.Bool("stream_output"))
	// Only the last line is the result, unless return_all: keeping every
	// line would hold the whole output in memory.
	keep := 1
	if c.Bool("return_all") {
		keep = 0
	}
	wg.Go(func() { out = collect(stdout, log, sdk.Info, keep) })
	wg.Go(func() { errLines = collect(stderr, log, sdk.Warning, stderrTail) })
	wg.Wait()
	err = cmd.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("run: command stopped: %v", context.Cause(ctx))
	}
	if err != nil {
		return nil, exitError(err, errLines)
	}
	return result(out, c.Bool("return_all")), nil
}

// newCommand prepares bash in a process group of its own, so that
// cancelling kills the command and everything it started, and with a
// parent-death signal (where the kernel has one), so that bash dies with
// the plugin however the plugin ends. Start it with pdeath.Do.
func newCommand(ctx context.Context, c *sdk.Call, command string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pdeath.Set(cmd.SysProcAttr, syscall.SIGKILL)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	cmd.Dir = c.String("cwd")
	if cmd.Dir != "" {
		// Checked here: exec would blame bash ("fork/exec /usr/bin/bash: no
		// such file or directory") for a missing directory.
		if st, err := os.Stat(cmd.Dir); err != nil {
			return nil, fmt.Errorf("run: cwd: %v", err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("run: cwd %s is not a directory", cmd.Dir)
		}
	}
	env, err := environment(c.Args["env"])
	if err != nil {
		return nil, err
	}
	cmd.Env = env
	return cmd, nil
}

// environment merges env over the process's own environment.
func environment(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("run: env must be a dict of strings, got %T", v)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := os.Environ()
	for _, k := range keys {
		val, err := envValue(k, m[k])
		if err != nil {
			return nil, err
		}
		env = append(env, k+"="+val)
	}
	return env, nil
}

// envValue writes a variable's value: strings as they are, numbers as
// Starlark prints them; anything else is refused rather than guessed at.
func envValue(k string, v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case *big.Int:
		return v.String(), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("run: env[%q] must be a string or a number, got %s", k, typeName(v))
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case []any, sdk.Tuple:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// lockedLog returns c.Log serialized for the two readers, stdout's and
// stderr's (a call's log lines are sent on one gRPC stream, on which sends
// must not run concurrently), or nil when the output is not streamed.
func lockedLog(c *sdk.Call, stream bool) func(sdk.Level, string) {
	if !stream {
		return nil
	}
	var mu sync.Mutex
	return func(level sdk.Level, text string) {
		mu.Lock()
		defer mu.Unlock()
		c.Log(level, text)
	}
}

// collect reads lines, logging each if log is not nil, and keeps them all
// (keep == 0) or the last keep.
func collect(r io.Reader, log func(sdk.Level, string), level sdk.Level, keep int) []string {
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if log != nil {
			log(level, line)
		}
		lines = append(lines, line)
		if keep > 0 && len(lines) > keep {
			lines = lines[1:]
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line over 16 MiB: drain the rest
	return lines
}

func exitError(err error, stderr []string) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("run: %v", err)
	}
	msg := fmt.Sprintf("command failed with exit code %d", ee.ExitCode())
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		// ExitCode() is -1 then.
		msg = fmt.Sprintf("command killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	}
	if len(stderr) > 0 {
		msg += "; stderr:\n" + strings.Join(stderr, "\n")
	}
	return errors.New(msg)
}

func result(lines []string, all bool) any {
	if all {
		return lines
	}
	if len(lines) == 0 {
		return nil
	}
	return lines[len(lines)-1]
}
