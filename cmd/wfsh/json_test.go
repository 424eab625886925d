package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestJSONLines checks what json.txtar can only match with regexps: every
// line of `wfsh run --json` is a JSON object, its seq counts up from 1,
// every event has a kind, a time and the one run id.
func TestJSONLines(t *testing.T) {
	for _, flow := range []string{"hello_world", "dynamic_flow", "with_cleanup", "switch"} {
		t.Run(flow, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := execute([]string{"run", "../../flows/" + flow + ".star", "--json"}, strings.NewReader(""), &stdout, &stderr)
			if code > 1 || stderr.Len() > 0 {
				t.Fatalf("exit status %d; stderr:\n%s", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			var runID string
			for i, line := range lines {
				var e struct {
					Seq   *int    `json:"seq"`
					Time  *string `json:"time"`
					RunID string  `json:"run_id"`
					Kind  string  `json:"kind"`
				}
				var raw map[string]any
				if err := json.Unmarshal([]byte(line), &raw); err != nil {
					t.Fatalf("line %d is not a JSON object: %v\n%s", i+1, err, line)
				}
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("line %d: %v\n%s", i+1, err, line)
				}
				if e.Seq == nil || *e.Seq != i+1 {
					t.Errorf("line %d: seq %v, want %d", i+1, raw["seq"], i+1)
				}
				if e.Kind == "" {
					t.Errorf("line %d has no kind: %s", i+1, line)
				}
				if e.Time == nil {
					t.Errorf("line %d has no time: %s", i+1, line)
				} else if _, err := time.Parse(time.RFC3339Nano, *e.Time); err != nil {
					t.Errorf("line %d: time: %v", i+1, err)
				}
				if i == 0 {
					runID = e.RunID
				}
				if e.RunID == "" || e.RunID != runID {
					t.Errorf("line %d: run_id %q, want %q as on line 1", i+1, e.RunID, runID)
				}
			}
			if first, last := lines[0], lines[len(lines)-1]; !strings.Contains(first, `"kind":"flow_started"`) || !strings.Contains(last, `"kind":"flow_finished"`) {
				t.Errorf("the events do not run from flow_started to flow_finished:\n%s\n...\n%s", first, last)
			}
		})
	}
}
