package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/store"
)

// TestSharedResultNotStored: a result small in memory but huge written out
// (9^9 strings through shared lists) is not stored, with a note saying
// why, and the run is recorded; the task downstream gets the value.
func TestSharedResultNotStored(t *testing.T) {
	dir := t.TempDir()
	flow, db := filepath.Join(dir, "bomb.star"), filepath.Join(dir, "wfsh.db")
	if err := os.WriteFile(flow, []byte(`
@task
def big():
    x = ["lol"] * 9
    for _ in range(8):
        x = [x] * 9
    return x

@task
def count(x):
    return len(x)

@flow
def f():
    return count(big())
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := execute([]string{"run", "--store", db, flow}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out.String(), errb.String())
	}
	s, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.ListRuns(context.Background(), store.RunFilter{})
	if err != nil || len(runs) != 1 || runs[0].State.String() != "Success" {
		t.Fatalf("runs recorded: %+v, %v; want the one run, Success", runs, err)
	}
	trs, err := s.TaskRuns(context.Background(), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, tr := range trs {
		switch tr.Name {
		case "big":
			found++
			if tr.Result != nil || !strings.Contains(tr.ResultNote, "larger than the 8 MiB kept once written out") {
				t.Errorf("big: result of %d bytes, note %q; want none and a note", len(tr.Result), tr.ResultNote)
			}
		case "count":
			found++
			if string(tr.Result) != "9" {
				t.Errorf("count: result %s, want 9", tr.Result)
			}
		}
	}
	if found != 2 {
		t.Errorf("task runs recorded: %+v", trs)
	}
}
