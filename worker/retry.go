package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wfsh/wfsh/server"
)

// A worker may start before its server answers (a machine's boot, a
// Deployment's pods started together, a server restarting): it retries
// every call with backoff (server.Backoff: 100 ms doubling to 5 s), and
// says so once, then once every LogEvery while it lasts, and once when
// the server answers again, as Prefect's worker does rather than a line
// per attempt. A token the server refuses (401, 403) will not be
// accepted by trying again: the worker stops with one line saying so.

// LogEvery is how often a worker repeats that calls to its server keep
// failing.
const LogEvery = 30 * time.Second

// RefusedError is the server refusing the worker's token: unknown,
// expired or revoked (401), or not one of this pool's workers (403).
type RefusedError struct {
	What string // the call: "claim", "pool default"
	Err  *server.APIError
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: the server refused the worker's token (%d: %s): give the worker a worker token of its pool (wfsh token create --role worker --pool POOL) in WFSH_TOKEN",
		e.What, e.Err.Status, e.Err.Detail)
}

// refused is err as a *RefusedError if it is the server refusing the
// token, else nil.
func refused(what string, err error) *RefusedError {
	var ae *server.APIError
	if errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403) {
		return &RefusedError{What: what, Err: ae}
	}
	return nil
}

// failures logs a call's failures in a row: the first, then one every
// LogEvery, then the recovery.
type failures struct {
	what          string
	out           io.Writer
	n             int
	first, logged time.Time
}

// failed notes a failure, logging it if it is the first or LogEvery has
// passed since the last line.
func (f *failures) failed(err error) {
	now := time.Now()
	f.n++
	switch {
	case f.n == 1:
		f.first, f.logged = now, now
		Logf(f.out, "%s: %v (retrying)", f.what, err)
	case now.Sub(f.logged) >= LogEvery:
		f.logged = now
		Logf(f.out, "%s: failing for %v (%d attempts), retrying: %v", f.what, now.Sub(f.first).Round(time.Second), f.n, err)
	}
}

// ok notes a success, logging the recovery if there were failures.
func (f *failures) ok() {
	if f.n > 0 {
		Logf(f.out, "%s: the server answers again, after %v (%d failed attempts)", f.what, time.Since(f.first).Round(time.Millisecond), f.n)
	}
	f.n = 0
}

// Retry calls call until it succeeds (nil), ctx ends (ctx's error), the
// server refuses the token (a *RefusedError) or stop says an error is
// final (that error), waiting server.Backoff between attempts and
// logging the failures to out as a worker does.
func Retry(ctx context.Context, out io.Writer, what string, call func(context.Context) error, stop func(error) bool) error {
	f := failures{what: what, out: out}
	for n := 0; ; n++ {
		err := call(ctx)
		switch {
		case err == nil:
			f.ok()
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case refused(what, err) != nil:
			return refused(what, err)
		case stop != nil && stop(err):
			f.ok() // it answered
			return err
		}
		f.failed(err)
		sleepCtx(ctx, server.Backoff(n))
	}
}
