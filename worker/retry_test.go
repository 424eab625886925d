package worker

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wfsh/wfsh/server"
)

// TestRetry: failures in a row are logged once and the recovery once; a
// refused token ends the retries at once, as does an error stop takes;
// an ended context ends them with its error.
func TestRetry(t *testing.T) {
	var log bytes.Buffer
	n := 0
	err := Retry(context.Background(), &log, "claim", func(context.Context) error {
		if n++; n <= 4 {
			return errors.New("connection refused")
		}
		return nil
	}, nil)
	if err != nil || n != 5 {
		t.Fatalf("Retry: %v after %d calls, want nil after 5", err, n)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "claim: connection refused (retrying)") ||
		!strings.Contains(lines[1], "claim: the server answers again") || !strings.Contains(lines[1], "(4 failed attempts)") {
		t.Errorf("log, want the first failure and the recovery:\n%s", log.String())
	}

	for _, status := range []int{401, 403} {
		log.Reset()
		calls := 0
		err = Retry(context.Background(), &log, "pool p", func(context.Context) error {
			calls++
			return &server.APIError{Status: status, Detail: "no"}
		}, nil)
		var re *RefusedError
		if !errors.As(err, &re) || re.Err.Status != status || calls != 1 || log.Len() != 0 {
			t.Errorf("%d: %v after %d calls, log %q; want a RefusedError after 1, no log", status, err, calls, log.String())
		}
	}

	missing := &server.APIError{Status: 404}
	err = Retry(context.Background(), &log, "pool p", func(context.Context) error { return missing }, func(err error) bool { return err == missing })
	if err != missing {
		t.Errorf("stop: %v, want the 404", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	err = Retry(ctx, &log, "claim", func(context.Context) error { cancel(); return errors.New("down") }, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v, want context.Canceled", err)
	}
}
