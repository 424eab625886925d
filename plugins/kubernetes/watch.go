package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// resumableWatch follows a set of objects through the API's watch. A watch
// ends when the connection drops, the API server restarts or its own
// timeout passes; this one starts again from the last resourceVersion it
// saw, so no change is missed or seen twice. When that version is too old
// (410 Gone), it lists the objects again. It gives up only on errors no
// retry can fix (forbidden, bad request) or when ctx ends.
type resumableWatch struct {
	// what is watched, for messages ("job default/x")
	what string
	// list returns the objects and the list's resourceVersion.
	list func(ctx context.Context) ([]runtime.Object, string, error)
	// watch starts a watch after resourceVersion rv.
	watch func(ctx context.Context, rv string) (watch.Interface, error)
	// handle sees every object, as listed or changed; done ends the watch.
	handle func(obj runtime.Object, deleted bool) (done bool, err error)
	// note gets a line when the watch drops or resumes (may be nil).
	note func(text string)
	// minDelay and maxDelay bound the wait before a retry (defaults 50ms, 2s).
	minDelay, maxDelay time.Duration

	resumed bool // the watch has dropped once
	grace   authGrace
}

// errWatchGone is a 410: the resourceVersion is too old to resume from.
var errWatchGone = errors.New("resource version too old")

// run watches from rv, or lists first when rv is "".
func (w *resumableWatch) run(ctx context.Context, rv string) error {
	delay := w.delays()
	for {
		if rv == "" {
			var done bool
			var err error
			rv, done, err = w.relist(ctx)
			if done || err != nil && !retriable(err) && !w.grace.transient(err, w.resumed) {
				return err
			}
			if err != nil {
				if err := delay.wait(ctx); err != nil {
					return err
				}
				continue
			}
		}
		next, done, err := w.once(ctx, rv, delay)
		switch {
		case done:
			return err
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case errors.Is(err, errWatchGone):
			rv = ""
			continue
		case err != nil && !retriable(err) && !w.grace.transient(err, w.resumed):
			return fmt.Errorf("watch %s: %w", w.what, err)
		}
		w.resumed = true
		if w.note != nil {
			if err == nil {
				err = errors.New("the server closed the watch")
			}
			w.note(fmt.Sprintf("watch of %s dropped (%v); resuming from resourceVersion %s", w.what, err, next))
		}
		rv = next
		if err := delay.wait(ctx); err != nil {
			return err
		}
	}
}

func (w *resumableWatch) delays() *backoff {
	b := &backoff{min: w.minDelay, max: w.maxDelay}
	if b.min == 0 {
		b.min = 50 * time.Millisecond
	}
	if b.max == 0 {
		b.max = 2 * time.Second
	}
	return b
}

// relist lists the objects, hands each to handle and returns the list's
// resourceVersion.
func (w *resumableWatch) relist(ctx context.Context) (string, bool, error) {
	objs, rv, err := w.list(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, context.Cause(ctx)
		}
		return "", false, fmt.Errorf("list %s: %w", w.what, err)
	}
	for _, o := range objs {
		done, err := w.handle(o, false)
		if done || err != nil {
			return rv, true, err
		}
	}
	return rv, false, nil
}

// once runs one watch until it ends; it returns the last resourceVersion
// seen, and done when handle said so.
func (w *resumableWatch) once(ctx context.Context, rv string, delay *backoff) (string, bool, error) {
	wi, err := w.watch(ctx, rv)
	if err != nil {
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			return rv, false, errWatchGone
		}
		return rv, false, err
	}
	defer wi.Stop()
	for {
		select {
		case <-ctx.Done():
			return rv, false, context.Cause(ctx)
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv, false, nil
			}
			next, done, err := w.event(ev, rv)
			if done || err != nil {
				return next, done, err
			}
			rv = next
			delay.reset()
			w.grace.reset()
		}
	}
}

func (w *resumableWatch) event(ev watch.Event, rv string) (string, bool, error) {
	switch ev.Type {
	case watch.Error:
		st := apierrors.FromObject(ev.Object)
		if apierrors.IsResourceExpired(st) || apierrors.IsGone(st) {
			return rv, false, errWatchGone
		}
		return rv, false, st
	case watch.Bookmark:
		if m, err := meta.Accessor(ev.Object); err == nil {
			return m.GetResourceVersion(), false, nil
		}
		return rv, false, nil
	}
	if m, err := meta.Accessor(ev.Object); err == nil {
		rv = m.GetResourceVersion()
	}
	done, err := w.handle(ev.Object, ev.Type == watch.Deleted)
	if done && err == nil {
		return rv, true, nil
	}
	if err != nil {
		return rv, true, err
	}
	return rv, false, nil
}

// retriable tells errors that a later try may not get (the network, the
// server restarting or overloaded) from those it will (permissions, a bad
// request).
func retriable(err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, errJobDeleted):
		return false
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsBadRequest(err),
		apierrors.IsInvalid(err), apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err),
		apierrors.IsUnsupportedMediaType(err):
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code == 404 {
		return false
	}
	return true
}

// authGraceFor is how long a watch that has worked keeps retrying when
// the API server refuses it.
const authGraceFor = 30 * time.Second

// authGrace tells a refusal that comes right after the API server came
// back from one that stands: a restarted API server answers 401 and 403
// until its caches of service accounts and RBAC rules have filled, though
// it says it is ready.
type authGrace struct{ first time.Time }

// transient reports whether err is such a refusal: a 401 or 403 to a
// request that worked before (resumed), for at most authGraceFor.
func (g *authGrace) transient(err error, resumed bool) bool {
	if !resumed || !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err) {
		return false
	}
	if g.first.IsZero() {
		g.first = time.Now()
	}
	return time.Since(g.first) < authGraceFor
}

func (g *authGrace) reset() { g.first = time.Time{} }

// backoff doubles the wait between retries, from min to max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) wait(ctx context.Context) error {
	if b.cur == 0 {
		b.cur = b.min
	}
	t := time.NewTimer(b.cur)
	defer t.Stop()
	if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func (b *backoff) reset() { b.cur = 0 }

// listOptions are the options of a watch after rv that selects by field
// and label.
func listOptions(fieldSel, labelSel, rv string) metav1.ListOptions {
	return metav1.ListOptions{FieldSelector: fieldSel, LabelSelector: labelSel, ResourceVersion: rv, AllowWatchBookmarks: true}
}
