package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

const deploymentCaller = `
@task
def who():
    return "koji"

@task
def show(run):
    print("deployment run", run["run_id"], run["state"])

@flow(name="Caller")
def caller(dep="Parameterize/adhoc"):
    show(run_deployment(DEP, parameters={"name": who()}, wait=True))
`

// TestRunDeployment runs flows calling run_deployment() against a real
// wfsh server and worker: the deployment's run is made with the
// parameters given, followed to its end, its id and URL logged, and its
// state is the task's (a failing deployment fails the calling flow, exit
// 1). With no server named, the task fails at its call's position.
func TestRunDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wfsh and runs server and worker processes")
	}
	ps := startServer(t, 2*time.Second, "")
	dev := ps.token(t, "developer", "")
	out, code := ps.wfsh(t, ps.admin.Token, "token", "create", "--role", "worker", "--pool", "default")
	wtok := strings.TrimSpace(strings.Split(out, "\n")[0])
	if code != 0 {
		t.Fatalf("token create: exit %d\n%s", code, out)
	}
	if out, code := ps.wfsh(t, dev, "deploy", "../../flows/parameterize.star", "--name", "adhoc"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	failing := write("failing.star", "@task\ndef boom(n):\n    fail(\"boom %d\" % n)\n\n@flow(name=\"Boom\")\ndef f(n=1):\n    boom(n)\n")
	if out, code := ps.wfsh(t, dev, "deploy", failing, "--name", "b"); code != 0 {
		t.Fatalf("deploy failing: exit %d\n%s", code, out)
	}
	ps.startWorker(t, wtok, 2)

	ok := write("ok.star", strings.Replace(deploymentCaller, "DEP", `"Parameterize/adhoc"`, 1))
	out, code = ps.wfsh(t, dev, "run", "--no-store", ok)
	if code != 0 || !strings.Contains(out, "Flow run SUCCESS") {
		t.Fatalf("a flow running a deployment: exit %d\n%s", code, out)
	}
	m := regexp.MustCompile(`wfsh.run_deployment \| run ([0-9a-f-]{36}) of deployment Parameterize/adhoc made on ` +
		regexp.QuoteMeta(ps.admin.Base) + `: ` + regexp.QuoteMeta(ps.admin.Base) + `/runs/([0-9a-f-]{36})`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Fatalf("no line with the deployment run's id and URL:\n%s", out)
	}
	if !strings.Contains(out, "run "+m[1]+" of deployment Parameterize/adhoc ended Success") || !strings.Contains(out, "deployment run "+m[1]+" Success") {
		t.Errorf("the deployment run's end is not the task's:\n%s", out)
	}
	var d server.RunDetail
	if err := ps.admin.Do(context.Background(), "GET", "/runs/"+m[1], nil, &d); err != nil {
		t.Fatal(err)
	}
	if d.Run.State.String() != "Success" || string(d.Run.Parameters) != `{"name":"koji"}` {
		t.Errorf("the server's run: %s with parameters %s", d.Run.State, d.Run.Parameters)
	}

	bad := write("bad.star", strings.Replace(strings.Replace(deploymentCaller, "DEP", `"Boom/b"`, 1), `{"name": who()}`, `{"n": 7}`, 1))
	out, code = ps.wfsh(t, dev, "run", "--no-store", bad)
	if code != exitFailed || !regexp.MustCompile(`bad.star:12:24: run_deployment Boom/b: run [0-9a-f-]{36} ended Failed`).MatchString(out) {
		t.Errorf("a failing deployment: exit %d, want %d\n%s", code, exitFailed, out)
	}

	// No server named, and no profile: the task fails at its call.
	cmd := exec.Command(ps.bin, "run", "--no-store", ok)
	cmd.Env = append(withoutServer(os.Environ()), "WFSH_HOME="+t.TempDir())
	b, err := cmd.CombinedOutput()
	if ee, isExit := err.(*exec.ExitError); !isExit || ee.ExitCode() != exitFailed ||
		!strings.Contains(string(b), "ok.star:12:24: run_deployment Parameterize/adhoc: no server: set WFSH_SERVER and WFSH_TOKEN") {
		t.Errorf("without a server: %v\n%s", err, b)
	}
}

func withoutServer(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "WFSH_SERVER=") && !strings.HasPrefix(kv, "WFSH_TOKEN=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestRunDeploymentCancelled interrupts a flow run waiting in
// run_deployment() for a deployment's run: the deployment's run is
// cancelled on the server too, as a subflow's child run would be.
func TestRunDeploymentCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wfsh and runs server and worker processes")
	}
	ps := startServer(t, 2*time.Second, "")
	dev := ps.token(t, "developer", "")
	out, code := ps.wfsh(t, ps.admin.Token, "token", "create", "--role", "worker", "--pool", "default")
	if code != 0 {
		t.Fatalf("token create: exit %d\n%s", code, out)
	}
	ps.startWorker(t, strings.TrimSpace(strings.Split(out, "\n")[0]), 1)
	if out, code := ps.wfsh(t, dev, "deploy", filepath.Join(sleepyFlow(t), "slow.star"), "--name", "s"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	caller := filepath.Join(t.TempDir(), "caller.star")
	os.WriteFile(caller, []byte(`@flow(name="Waits")
def waits():
    run_deployment("Slow/s")
`), 0o644)
	cmd := exec.Command(ps.bin, "run", "--no-store", caller)
	cmd.Env = append(os.Environ(), "WFSH_HOME="+ps.home, "WFSH_SERVER="+ps.admin.Base, "WFSH_TOKEN="+dev)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var id string
	waitFor(t, 20*time.Second, func() bool {
		var list server.RunList
		if err := ps.admin.Do(context.Background(), "GET", "/runs?flow=Slow", nil, &list); err != nil || len(list.Runs) == 0 {
			return false
		}
		id = list.Runs[0].ID
		return list.Runs[0].State == runtime.Running
	}, "the deployment's run to start")
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Errorf("the interrupted flow run: %v\n%s", err, log.String())
	}
	r := ps.waitState(t, id, 20*time.Second, func(s runtime.State) bool { return s.Finished() })
	if r.State != runtime.Cancelled {
		t.Errorf("the deployment's run ended %s, want Cancelled\n%s", r.State, log.String())
	}
	if !strings.Contains(log.String(), "run "+id+" cancelled") {
		t.Errorf("the flow run's log does not say the deployment's run was cancelled:\n%s", log.String())
	}
}

// TestRunDeploymentInServerRun: a deployment's flow calling
// run_deployment(), run by a worker with a worker token: the run it
// makes is its child on the server (parent and task run recorded),
// followed to its end with the worker's token. Cancelling the calling
// run then cancels the run it waits for, on the server.
func TestRunDeploymentInServerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wfsh and runs server and worker processes")
	}
	ctx := context.Background()
	ps := startServer(t, 2*time.Second, "")
	dev := ps.token(t, "developer", "")
	ps.startWorker(t, ps.token(t, "worker", "default"), 3)
	dir := t.TempDir()
	deploy := func(name, src string, args ...string) {
		t.Helper()
		sub := filepath.Join(dir, strings.TrimSuffix(name, ".star"))
		os.MkdirAll(sub, 0o755)
		p := filepath.Join(sub, name)
		if src != "" {
			if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			p = args[0]
			args = args[1:]
		}
		if out, code := ps.wfsh(t, dev, append([]string{"deploy", p}, args...)...); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", name, code, out)
		}
	}
	deploy("parameterize", "", "../../flows/parameterize.star", "--name", "adhoc")
	deploy("caller.star", strings.Replace(deploymentCaller, "DEP", `"Parameterize/adhoc"`, 1), "--name", "c")
	deploy("slow", "", filepath.Join(sleepyFlow(t), "slow.star"), "--name", "s")
	deploy("waits.star", "@flow(name=\"Waits\")\ndef waits():\n    run_deployment(\"Slow/s\")\n", "--name", "w")

	var caller store.Run
	if err := ps.admin.Do(ctx, "POST", "/deployments/Caller/c/runs", server.RunRequest{}, &caller); err != nil {
		t.Fatal(err)
	}
	if r := ps.waitState(t, caller.ID, 60*time.Second, runtime.State.Finished); r.State != runtime.Success {
		out, _ := ps.wfsh(t, dev, "logs", caller.ID)
		t.Fatalf("the calling run ended %s: %s\n%s", r.State, r.Message, out)
	}
	var list server.RunList
	if err := ps.admin.Do(ctx, "GET", "/runs?flow=Parameterize", nil, &list); err != nil || len(list.Runs) != 1 {
		t.Fatalf("the deployment's runs: %+v, %v", list.Runs, err)
	}
	kid := list.Runs[0]
	if kid.Parent != caller.ID || kid.ParentTaskRun != "run_deployment" || kid.State != runtime.Success || string(kid.Parameters) != `{"name":"koji"}` {
		t.Errorf("the run it made: parent %q, task run %q, %s, parameters %s", kid.Parent, kid.ParentTaskRun, kid.State, kid.Parameters)
	}
	out, _ := ps.wfsh(t, dev, "show", caller.ID)
	if !regexp.MustCompile(`RUNS IT MADE +FLOW +STATE +BY TASK RUN\n` + kid.ID + ` +Parameterize +Success +run_deployment\n`).MatchString(out) {
		t.Errorf("wfsh show of the calling run does not list the run it made:\n%s", out)
	}
	out, _ = ps.wfsh(t, dev, "show", kid.ID)
	if !strings.Contains(out, "Made by task run run_deployment of run "+caller.ID+" (run_deployment).") {
		t.Errorf("wfsh show of the run made does not say what made it:\n%s", out)
	}
	out, _ = ps.wfsh(t, dev, "logs", caller.ID)
	if !strings.Contains(out, "run "+kid.ID+" of deployment Parameterize/adhoc ended Success") || !strings.Contains(out, "deployment run "+kid.ID+" Success") {
		t.Errorf("the calling run's log does not follow the run it made:\n%s", out)
	}

	var waits store.Run
	if err := ps.admin.Do(ctx, "POST", "/deployments/Waits/w/runs", server.RunRequest{}, &waits); err != nil {
		t.Fatal(err)
	}
	var slow string
	waitFor(t, 30*time.Second, func() bool {
		var list server.RunList
		if err := ps.admin.Do(ctx, "GET", "/runs?flow=Slow", nil, &list); err != nil || len(list.Runs) == 0 {
			return false
		}
		slow = list.Runs[0].ID
		return list.Runs[0].State == runtime.Running && list.Runs[0].Parent == waits.ID
	}, "the run Waits made to start")
	if out, code := ps.wfsh(t, dev, "cancel", waits.ID); code != 0 {
		t.Fatalf("cancel: exit %d\n%s", code, out)
	}
	for _, id := range []string{waits.ID, slow} {
		if r := ps.waitState(t, id, 30*time.Second, runtime.State.Finished); r.State != runtime.Cancelled {
			t.Errorf("run %s (%s) ended %s, want Cancelled: %s", id, r.Flow, r.State, r.Message)
		}
	}
}
