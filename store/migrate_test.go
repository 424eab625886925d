package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/runtime"
)

// TestMigrateFromV1 opens a store of schema version 1, with a run in it as
// version 1 wrote runs, and reads the run back after the migration.
func TestMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wfsh.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		migrations[0],
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version VALUES (1)`,
		`INSERT INTO runs (id, flow, file, file_sha256, state, message, started_at, finished_at, pid)
			VALUES ('r1', 'Map', 'm.star', 'abc', 'Failed', 'Some reference tasks failed.', 1000, 9000, 1)`,
		`INSERT INTO task_runs VALUES ('r1', 'sq.arg', 'constant', -1, 'Success', 1, '', 1100, 1200, NULL, 3),
			('r1', 'sq', 'sq', -1, 'Failed', 0, '1 of 2 mapped task runs failed', NULL, 8000, NULL, 9)`,
		`INSERT INTO map_runs VALUES ('r1', 'sq', 7, '[[0,"Success",1,"",2000,3000,null],[1,"Running",1,"",2100,null,null]]'),
			('r1', 'sq', 8, '[[1,"Failed",1,"m.star:4:13: fail: no 2",null,7000,null]]')`,
		`INSERT INTO logs VALUES ('r1', 1, 1000, 'flow_started', '', -1, 0, '', '', 'Map', 0),
			('r1', 5, 1500, 'map_expanded', 'sq', -1, 0, '', '', '', 2),
			('r1', 8, 7000, 'task_state', 'sq[1]', 1, 1, 'Failed', '', 'm.star:4:13: fail: no 2', 0),
			('r1', 10, 9000, 'flow_finished', '', -1, 0, 'Failed', '', 'Some reference tasks failed.', 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if v, err := s.Version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version %d, %v; want %d", v, err, SchemaVersion)
	}
	r, err := s.GetRun(ctx, "r1")
	if err != nil || r.State != runtime.Failed || r.Flow != "Map" {
		t.Fatalf("run: %+v, %v", r, err)
	}
	trs, err := s.TaskRuns(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range trs {
		got = append(got, fmt.Sprintf("%s %s x%d %q", tr.Name, tr.State, tr.Attempts, tr.Message))
	}
	want := `sq.arg Success x1 ""|sq[0] Success x1 ""|sq[1] Failed x1 "m.star:4:13: fail: no 2"|sq Failed x0 "1 of 2 mapped task runs failed"`
	if strings.Join(got, "|") != want {
		t.Errorf("task runs:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	logs, err := s.Logs(ctx, "r1", LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []string
	for _, e := range logs {
		seqs = append(seqs, fmt.Sprintf("%d:%s:%s", e.Seq, e.Kind, e.TaskRun))
	}
	// The state changes of version 1 are in its logs; none is made twice.
	if w := "1:flow_started: 5:map_expanded:sq 8:task_state:sq[1] 10:flow_finished:"; strings.Join(seqs, " ") != w {
		t.Errorf("logs: %s\nwant %s", strings.Join(seqs, " "), w)
	}
	for _, table := range []string{"task_runs", "map_runs", "logs"} {
		if _, err := s.db.Exec(`SELECT 1 FROM ` + table); err == nil {
			t.Errorf("table %s is still there", table)
		}
	}
}

// TestCloseKeepsLog checks that closing the store leaves its write-ahead
// log for the next process rather than copying it into the database,
// which costs two fsyncs (conn.go), and that the next Open reads it.
func TestCloseKeepsLog(t *testing.T) {
	s, path := openTemp(t)
	recordRun(t, s, "kept", "F", events("kept", runtime.Success), RecorderOptions{})
	s.Close()
	st, err := os.Stat(path + "-wal")
	if err != nil || st.Size() == 0 {
		t.Fatalf("after Close the write-ahead log is %v, %v: the close checkpointed it", st, err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r, err := s2.GetRun(context.Background(), "kept"); err != nil || r.State != runtime.Success {
		t.Errorf("the run after reopening: %+v, %v", r, err)
	}
}

// TestMigrateFromV2 opens a store of schema version 2, whose chunks keep
// their log entries as JSON text, records a run into it, and reads both
// runs' logs back: the old as text, the new compressed.
func TestMigrateFromV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wfsh.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		migrations[0],
		migrations[1],
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version VALUES (2)`,
		`INSERT INTO runs (id, flow, file, file_sha256, state, message, started_at, finished_at, pid)
			VALUES ('old', 'F', 'f.star', 'abc', 'Success', '', 1000000, 9000000, 1)`,
		`INSERT INTO chunks (run_id, seq, tasks, children, logs) VALUES ('old', 4,
			'[["a","a","task","Success",1,"",1,5,2,4,null,""]]', '{}',
			'[[1,1000000,"flow_started","",-1,0,"","","F",0],[3,3000000,"task_log","a",-1,1,"","INFO","say \"hi\"\n",0]]')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if v, err := s.Version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version %d, %v; want %d", v, err, SchemaVersion)
	}
	recordRun(t, s, "new", "F", events("new", runtime.Success), RecorderOptions{})
	var z int
	if err := s.db.QueryRow(`SELECT count(*) FROM chunks WHERE run_id = 'new' AND logs_z IS NOT NULL AND logs = ''`).Scan(&z); err != nil || z == 0 {
		t.Errorf("the new run's chunks with compressed logs: %d, %v", z, err)
	}
	for id, want := range map[string]string{
		"old": `1:flow_started:: "F" 2:task_state:a:Running "" 3:task_log:a: "say \"hi\"\n" 4:task_state:a:Success ""`,
		"new": `1:flow_started:: "F" 2:task_state:a:Running "" 3:task_log:a: "hello" 4:task_state:a:Success ""`,
	} {
		logs, err := s.Logs(ctx, id, LogFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range logs[:min(4, len(logs))] {
			st := ""
			if e.Kind == runtime.TaskState {
				st = e.State.String()
			}
			got = append(got, fmt.Sprintf("%d:%s:%s:%s %q", e.Seq, e.Kind, e.TaskRun, st, e.Msg))
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("run %s, logs:\n%s\nwant\n%s", id, g, want)
		}
	}
}
