package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

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
	return ch, nil
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

// send posts one write, retrying for a minute while the server cannot be
// reached or fails; a refusal (the run is no longer held) ends it.
func (ch *serverChild) send(ctx context.Context, w *store.Write) error {
	deadline := time.Now().Add(time.Minute)
	for n := 0; ; n++ {
		err := ch.c.Do(ctx, "POST", "/runs/"+url.PathEscape(ch.runID)+"/writes", server.WriteRequest{Worker: ch.worker, Write: *w}, nil)
		var ae *server.APIError
		if err == nil || errors.As(err, &ae) && ae.Status < 500 || time.Now().After(deadline) {
			return err
		}
		time.Sleep(server.Backoff(n))
	}
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
