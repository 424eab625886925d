//go:build !wfshlight

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/wfsh/wfsh/bundle"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// serverChild is `wfsh run --server-run ID`, the process a worker starts
// for one run it holds: the run's writes go to the server (the worker's
// token and id come in WFSH_TOKEN and WFSH_WORKER_ID), and secret("NAME")
// reads the server's secret NAME, else the environment.
type serverChild struct {
	c      *server.Client
	runID  string
	worker string
	rec    *store.Recorder
}

func (f *runFlags) serverChild(req *runner.Request) (*serverChild, error) {
	if f.serverRun == "" {
		return nil, nil
	}
	c, err := f.remote.client()
	if err != nil {
		return nil, err
	}
	ch := &serverChild{c: c, runID: f.serverRun, worker: os.Getenv("WFSH_WORKER_ID")}
	req.RunID = f.serverRun
	req.Getenv = ch.getenv
	req.Slots = &server.SlotClient{C: c, RunID: f.serverRun}
	req.Children = ch
	return ch, nil
}

// Begin makes a subflow's child run on the server, held with the run,
// and records it there as the run is recorded (runner.RemoteChildren).
func (ch *serverChild) Begin(ctx context.Context, cr runner.ChildRun,
	appendResult func([]byte, runtime.Value) ([]byte, error)) (runtime.Sink, func() error, error) {
	id, g := cr.ID, cr.Graph
	var ps map[string]json.RawMessage
	if err := json.Unmarshal(cr.Params, &ps); err != nil {
		return nil, nil, fmt.Errorf("child flow run %s: its parameters: %w", id, err)
	}
	req := server.SubflowRequest{ID: id, Flow: g.Flow, TaskRun: cr.TaskRun, Parameters: ps, Worker: ch.worker, ResumedFrom: cr.ResumedFrom}
	path := "/runs/" + url.PathEscape(cr.Parent) + "/subflows"
	deadline := time.Now().Add(time.Minute)
	for n := 0; ; n++ {
		err := ch.c.Do(ctx, "POST", path, req, nil)
		var ae *server.APIError
		if err == nil {
			break
		}
		if errors.As(err, &ae) && ae.Status < 500 || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("child flow run %s: making it on the server: %w", id, err)
		}
		time.Sleep(server.Backoff(n))
	}
	rec := store.NewRemoteRecorder(store.RecorderOptions{Run: store.RunInfo{ID: id}, Graph: g, AppendResult: appendResult,
		Send: func(ctx context.Context, w *store.Write) error { return ch.sendTo(ctx, id, w) }})
	return rec, rec.Close, nil
}

// Resumed is the child run for taskRun of the run that run parent (the
// run, or one of its child runs) resumes, read from the server as the
// run's resumed run is: nil when that run has none (404).
func (ch *serverChild) Resumed(ctx context.Context, parent, taskRun string) (*runner.Resumed, error) {
	var rs server.Resumption
	err := ch.c.Do(ctx, "GET", server.Query("/runs/"+url.PathEscape(parent)+"/resumed", "worker", ch.worker, "task_run", taskRun), nil, &rs)
	var ae *server.APIError
	if errors.As(err, &ae) && ae.Status == 404 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return runner.ResumedOf(rs.Run, server.StoreDAG(rs.DAG), rs.TaskRuns)
}

// Slots is where a child run's tagged task runs take their slots.
func (ch *serverChild) Slots(id string) store.SlotStore {
	return &server.SlotClient{C: ch.c, RunID: id}
}

// record is the sink that sends the run's writes to the server.
func (ch *serverChild) record(run *runner.Run) runtime.Sink {
	ch.rec = store.NewRemoteRecorder(store.RecorderOptions{Run: store.RunInfo{ID: ch.runID}, Graph: run.Build.Graph,
		AppendResult: run.Build.AppendResult, Send: ch.send})
	return ch.rec
}

func (ch *serverChild) close() error {
	if ch.rec == nil {
		return nil
	}
	return ch.rec.Close()
}

// resumed is the run this server's run resumes (--resume, which the
// worker passes), with its graph and task runs, read from the server: the
// run's holder may.
func (ch *serverChild) resumed(ctx context.Context) (*runner.Resumed, error) {
	var rs server.Resumption
	if err := ch.c.Do(ctx, "GET", server.Query("/runs/"+url.PathEscape(ch.runID)+"/resumed", "worker", ch.worker), nil, &rs); err != nil {
		return nil, fmt.Errorf("the run that run %s resumes: %w", ch.runID, err)
	}
	return runner.ResumedOf(rs.Run, server.StoreDAG(rs.DAG), rs.TaskRuns)
}

// send posts one write, retrying for a minute while the server cannot be
// reached or fails; a refusal (the run is no longer held) ends it.
func (ch *serverChild) send(ctx context.Context, w *store.Write) error {
	return ch.sendTo(ctx, ch.runID, w)
}

// sendTo is send of a write of run id (the run's, or a child run's).
func (ch *serverChild) sendTo(ctx context.Context, id string, w *store.Write) error {
	deadline := time.Now().Add(time.Minute)
	for n := 0; ; n++ {
		err := ch.c.Do(ctx, "POST", "/runs/"+url.PathEscape(id)+"/writes", server.WriteRequest{Worker: ch.worker, Write: *w}, nil)
		var ae *server.APIError
		if err == nil || errors.As(err, &ae) && ae.Status < 500 || time.Now().After(deadline) {
			return err
		}
		time.Sleep(server.Backoff(n))
	}
}

// bundlePath is the path of the flow file in a child whose bundle its
// worker did not unpack: a kubernetes pool's Job (k8spool) sets
// WFSH_BUNDLE to the run's bundle, which the child fetches from the
// server (as the run's holder) into $WFSH_HOME/bundles and unpacks; FILE
// is then the flow file's path in it, and the child works in its
// directory, as a local worker's child does. Without WFSH_BUNDLE (or
// without --server-run), path is the file's.
func (ch *serverChild) bundlePath(ctx context.Context, path string) (string, error) {
	hash := os.Getenv("WFSH_BUNDLE")
	if ch == nil || hash == "" {
		return path, nil
	}
	home, err := store.DefaultPath()
	if err != nil {
		return "", err
	}
	cache := bundle.Cache{Dir: filepath.Join(filepath.Dir(home), "bundles")}
	dir, ok := cache.Lookup(hash)
	if !ok {
		var data []byte
		if err := ch.c.Do(ctx, "GET", server.Query("/bundles/"+hash, "run", ch.runID), nil, &data); err != nil {
			return "", fmt.Errorf("the run's bundle %s: %w", hash, err)
		}
		if dir, err = cache.Extract(hash, bytes.NewReader(data)); err != nil {
			return "", err
		}
	}
	full := filepath.Join(dir, filepath.FromSlash(path))
	if err := os.Chdir(dir); err != nil {
		return "", err
	}
	return full, nil
}

// getenv resolves a secret through the server, then the environment.
func (ch *serverChild) getenv(name string) (string, bool) {
	var v server.SecretValue
	err := ch.c.Do(context.Background(), "GET", server.Query("/runs/"+url.PathEscape(ch.runID)+"/secrets/"+url.PathEscape(name), "worker", ch.worker), nil, &v)
	if err == nil {
		return v.Value, true
	}
	var ae *server.APIError
	if !errors.As(err, &ae) || ae.Status != 404 {
		fmt.Fprintf(os.Stderr, "wfsh: secret %s from the server: %v\n", name, err)
	}
	return os.LookupEnv(name)
}
