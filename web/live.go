package web

import (
	"bytes"
	"errors"
	"net/http"
	"time"
)

// runsEvery is how often the runs table a page shows is read again.
const runsEvery = 2 * time.Second

// events writes server-sent events: parts of a page, rendered, that
// htmx's SSE extension puts in place (sse-swap names the event).
type events struct {
	w http.ResponseWriter
	f http.Flusher
}

// startEvents answers r with an event stream.
func startEvents(w http.ResponseWriter) (*events, bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "this connection cannot stream", http.StatusInternalServerError)
		return nil, false
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	return &events{w: w, f: f}, true
}

// send writes the event name holding data, a line of data each. A
// carriage return would end a line too (and could start a field of
// its own): it goes as a line feed, which HTML reads the same.
func (e *events) send(name string, data []byte) error {
	var b bytes.Buffer
	b.WriteString("event: " + name + "\n")
	data = bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
	for line := range bytes.Lines(data) {
		b.WriteString("data: ")
		b.Write(bytes.TrimSuffix(line, []byte("\n")))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := e.w.Write(b.Bytes()); err != nil {
		return err
	}
	e.f.Flush()
	return nil
}

// liveRuns streams the runs table (block runs_table) of the filter in
// r's query as the event "runs", read through the API with the session
// every runsEvery and sent when it differs from the one sent before:
// the page's table changes without a request of the page's. When the
// session has ended it sends "ended" (the page's script goes to the
// login page) and stops.
func (u *UI) liveRuns(w http.ResponseWriter, r *http.Request) {
	ev, ok := startEvents(w)
	if !ok {
		return
	}
	s, c, err := u.session(r)
	var last []byte
	t := time.NewTicker(runsEvery)
	defer t.Stop()
	for err == nil {
		select {
		case <-r.Context().Done():
			return
		case <-u.stopping:
			return
		case <-t.C:
		}
		var p *RunsPage
		var b bytes.Buffer
		if p, err = u.runsPage(r, s, c); err == nil {
			err = u.view.Render(&b, "runs", "runs_table", p)
		}
		switch {
		case apiStatus(err) == http.StatusUnauthorized:
		case err != nil:
			err = nil // the API or the database is away: the next turn may find it back
		case !bytes.Equal(b.Bytes(), last):
			if ev.send("runs", b.Bytes()) != nil {
				return
			}
			last = b.Bytes()
		}
	}
	if errors.Is(err, errNoSession) || apiStatus(err) == http.StatusUnauthorized {
		ev.send("ended", []byte("the session has ended"))
	}
}
