//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The light wfsh hands to wfsh-full, beside it, the commands it does not
// serve (light.go). These tests run the executables make build makes.

// A run of a flow that loads a plugin is handed over by exec: the process
// started is wfsh-full from then on, with no second process, and a SIGINT
// to it interrupts the run as it does a run of wfsh (exit status 130,
// nothing left running).
func TestHandOffIsExec(t *testing.T) {
	p := startWfsh(t, `load("@shell", "run")`+loopFlow)
	p.waitStarted(t)
	bin := filepath.Dir(wfshBinary(t))
	exe, err := os.Readlink("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(bin, "wfsh-full"); exe != want {
		t.Errorf("the process started as wfsh runs %s, want %s", exe, want)
	}
	sent := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.wantCancelled(t, sent)
	p.checkNoProcessLeft(t)
}

// Without wfsh-full beside it, the light wfsh runs what it serves itself,
// lists every command in its help as wfsh-full does, and refuses the rest
// with exit status 1 and a message naming wfsh-full, having done nothing:
// a flow that loads a plugin is found before the run store is opened.
func TestHandOffWithoutFull(t *testing.T) {
	built := filepath.Dir(wfshBinary(t))
	alone := t.TempDir()
	light, err := os.ReadFile(filepath.Join(built, "wfsh"))
	if err != nil {
		t.Fatal(err)
	}
	wfsh := filepath.Join(alone, "wfsh")
	if err := os.WriteFile(wfsh, light, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, home := t.TempDir(), t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plain.star", "@task\ndef a():\n    return 1\n\n@flow\ndef f():\n    a()\n")
	write("lib.star", "load(\"@shell\", \"run\")\n")
	write("plugged.star", "print(\"top level ran\")\nload(\"lib.star\", \"run\")\n\n@flow\ndef f():\n    pass\n")
	run := func(exe string, args ...string) (string, string, int) {
		cmd := exec.Command(exe, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "WFSH_HOME="+home)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}
	for _, args := range [][]string{{"run", "plugged.star"}, {"check", "plugged.star"}, {"server", "--help"}, {"help", "worker"}, {"lint", "plain.star"},
		{"runs", "--store", "postgres://wfsh:pw@127.0.0.1:1/wfsh"}} {
		stdout, stderr, code := run(wfsh, args...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "wfsh-full") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("wfsh %s without wfsh-full: exit %d, stdout %q, stderr %q; want 1, nothing, one line naming wfsh-full",
				strings.Join(args, " "), code, stdout, stderr)
		}
		if args[1] == "plugged.star" && !strings.Contains(stderr, `lib.star:1:1: load("@shell")`) {
			t.Errorf("wfsh %s: %q does not say where the plugin is loaded", strings.Join(args, " "), stderr)
		}
	}
	if entries, err := os.ReadDir(home); err != nil || len(entries) != 0 {
		t.Errorf("WFSH_HOME after the refused commands holds %v (%v), want nothing", entries, err)
	}
	if stdout, stderr, code := run(wfsh, "run", "plain.star"); code != 0 || !strings.Contains(stdout, "Flow run SUCCESS") {
		t.Errorf("the light wfsh alone ran plain.star: exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout, _, _ := run(filepath.Join(built, "wfsh"), "__complete", "server", "--li"); !strings.Contains(stdout, "--listen") {
		t.Errorf("completing wfsh server --li, with wfsh-full beside wfsh: %q, want wfsh-full's --listen", stdout)
	}
	lightHelp, _, _ := run(wfsh, "--help")
	fullHelp, _, _ := run(filepath.Join(built, "wfsh-full"), "--help")
	if lightHelp != fullHelp || !strings.Contains(lightHelp, "server ") {
		t.Errorf("the light wfsh's help differs from wfsh-full's:\n%s\n---\n%s", lightHelp, fullHelp)
	}
}
