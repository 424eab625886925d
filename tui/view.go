package tui

import (
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/wfsh/wfsh/runtime"
)

// headerLines are the title, the counts and the column titles.
const headerLines = 3

// Column widths of the task list.
const (
	markW  = 2
	stateW = 13 // "TriggerFailed"
	durW   = 8
	triesW = 6
	progW  = 44
	minW   = 12 // the narrowest task name column
)

// layout splits the pane's height below the header between the list and
// the log pane (its title line included): the list gets what its rows
// need, at most three fifths; the log pane the rest, when that is at
// least three lines.
func (m *Model) layout() (logH, listH int) {
	body := m.height - headerLines
	if body <= 0 {
		return 0, 0
	}
	listH = min(max(len(m.vis), 3), body*3/5)
	logH = body - listH
	if logH < 3 {
		return 0, body
	}
	return logH, listH
}

// logHeight is the number of log lines the pane shows.
func (m *Model) logHeight() int {
	l, _ := m.layout()
	return max(l-1, 0)
}

// View draws the pane: exactly its height in lines, each at most its
// width. It reads the state and changes nothing, and it costs O(lines on
// screen) whatever the number of task runs.
func (m *Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	now := m.now()
	v := viewer{m: m, now: now.UnixNano(), loc: now.Location()}
	v.b.Grow(m.width * m.height * 2)
	v.header()
	logH, listH := m.layout()
	v.list(listH)
	if logH > 0 {
		v.logPane(logH)
	}
	for v.lines < m.height {
		v.line("")
	}
	return v.b.String()
}

type viewer struct {
	m     *Model
	now   int64
	loc   *time.Location // log times are shown in the clock's zone
	b     strings.Builder
	lines int
}

// line appends one line of the screen; s must fit the width already.
func (v *viewer) line(s string) {
	if v.lines >= v.m.height {
		return
	}
	if v.lines > 0 {
		v.b.WriteByte('\n')
	}
	v.b.WriteString(s)
	v.lines++
}

func (v *viewer) header() {
	m, st := v.m, v.m.st
	state := runtime.Running
	switch m.phase {
	case waiting:
		state = runtime.Pending
	case finished:
		state = m.run.State
	}
	flow := m.flow
	if flow == "" {
		flow = "flow"
	}
	parts := []string{st.bold.Styled(flow)}
	if m.runID != "" {
		parts = append(parts, "run "+m.runID)
	}
	parts = append(parts, st.stateStyle(state).Styled(state.String()), formatDuration(m.Elapsed()))
	if m.phase == finished && m.run.Msg != "" {
		parts = append(parts, runtime.Printable(m.run.Msg))
	}
	v.line(ansi.Truncate(" "+strings.Join(parts, " · "), m.width, "…"))

	var b strings.Builder
	b.WriteString(" " + groupDigits(m.run.Total) + " task runs")
	sep := ": "
	for s := range numStates {
		if n := m.run.ByState[s]; n > 0 {
			b.WriteString(sep + st.stateStyle(runtime.State(s)).Styled(groupDigits(n)+" "+runtime.State(s).String()))
			sep = " · "
		}
	}
	left := b.String()
	follow := "off"
	if m.follow {
		follow = "on"
	}
	right := "filter: " + m.filter.String() + " · follow: " + follow + " "
	if m.filter != filterAll {
		right = "filter: " + st.warn.Styled(m.filter.String()) + " · follow: " + follow + " "
	}
	lw, rw := ansi.StringWidth(left), ansi.StringWidth(right)
	if lw+rw+2 <= m.width {
		v.line(left + strings.Repeat(" ", m.width-lw-rw) + right)
	} else {
		v.line(ansi.Truncate(left, m.width, "…"))
	}

	nameW, pw := v.columns()
	cols := strings.Repeat(" ", markW) + fit("TASK", nameW) + " " + fit("STATE", stateW) + " " +
		fitRight("DURATION", durW) + " " + fitRight("TRIES", triesW)
	if pw > 0 {
		cols += "  " + fit("PROGRESS", pw)
	}
	v.line(st.faint.Styled(v.cut(cols)))
}

// cut truncates a line of the list when the pane is narrower than the
// list's fixed columns (wider panes need not measure each line).
func (v *viewer) cut(s string) string {
	if v.m.width >= markW+1+stateW+1+durW+1+triesW+minW {
		return s
	}
	return ansi.Truncate(s, v.m.width, "")
}

// columns returns the widths of the name and progress columns.
func (v *viewer) columns() (nameW, pw int) {
	fixed := markW + 1 + stateW + 1 + durW + 1 + triesW
	if v.m.mapped > 0 {
		pw = min(progW, max(v.m.width-fixed-minW-2, 0))
		if pw < 10 {
			pw = 0
		}
	}
	nameW = v.m.width - fixed
	if pw > 0 {
		nameW -= pw + 2
	}
	return max(nameW, 1), pw
}

func (v *viewer) list(h int) {
	m := v.m
	nameW, pw := v.columns()
	if len(m.vis) == 0 && h > 0 {
		msg := "  no task runs yet"
		if m.filter != filterAll {
			msg = "  no " + m.filter.String() + " task runs (s: next filter)"
		}
		v.line(m.st.faint.Styled(fit(msg, m.width)))
		h--
	}
	for i := m.offset; i < len(m.vis) && i < m.offset+h; i++ {
		v.line(v.cut(v.row(m.vis[i], i == m.cursor, nameW, pw)))
	}
	for n := len(m.vis) - m.offset; n < h; n++ {
		v.line("")
	}
}

func (v *viewer) row(r ref, selected bool, nameW, pw int) string {
	m, st := v.m, v.m.st
	p, r := m.owner(r)
	n, s := &p.nodes[r.node], &p.run.Nodes[r.node]
	run := &s.Run
	name := n.name
	switch {
	case r.child >= 0:
		run = &s.Children[r.child]
		name = "  " + subMark(p, r) + name + "[" + itoa(int(r.child)) + "]"
	case p.isSubflow(r):
		name = subMark(p, r) + name
	case n.mapped && (n.expanded || m.filter != filterAll):
		name = "▾ " + name
	case n.mapped:
		name = "▸ " + name
	case n.kind == runtime.ParamNode:
		name = "param " + name
	}
	name = strings.Repeat(" ", p.indent) + name
	var b strings.Builder
	b.Grow(m.width + 64)
	if selected {
		b.WriteString(st.bold.Styled("› "))
		b.WriteString(st.selected.Styled(fit(name, nameW)))
	} else {
		b.WriteString("  ")
		b.WriteString(fit(name, nameW))
	}
	b.WriteByte(' ')
	b.WriteString(st.stateStyle(run.State).Styled(fit(run.State.String(), stateW)))
	b.WriteByte(' ')
	b.WriteString(fitRight(v.duration(run), durW))
	b.WriteByte(' ')
	b.WriteString(fitRight(tries(run, n.retries), triesW))
	if pw > 0 && r.child < 0 && n.mapped {
		b.WriteString("  ")
		b.WriteString(v.progress(s, pw))
	}
	return b.String()
}

// subMark is the mark of a subflow's row: ▾ when its child flow run's
// rows are listed under it, ▸ when they can be; "" for other rows.
func subMark(p *Model, r ref) string {
	if !p.isSubflow(r) {
		return ""
	}
	if c := p.subs[r]; c != nil && c.open {
		return "▾ "
	}
	return "▸ "
}

// stateLabel is r's state as the pane's title says it: a run waiting for
// a slot of a concurrency limit says which ("waiting for slot db").
func (m *Model) stateLabel(r *runtime.RunSnapshot) string {
	if msg := m.run.RunMsg(r); r.State == runtime.Waiting && msg != "" {
		return msg
	}
	return r.State.String()
}

func (v *viewer) duration(r *runtime.RunSnapshot) string {
	if r.Started == 0 {
		return ""
	}
	end := r.Ended
	if end == 0 {
		if v.m.phase == finished {
			return ""
		}
		end = v.now
	}
	return formatDuration(time.Duration(end - r.Started))
}

// tries is "attempt/attempts" for tasks with retries.
func tries(r *runtime.RunSnapshot, retries int) string {
	if r.Attempt == 0 || retries == 0 && r.Attempt == 1 {
		return ""
	}
	return itoa(int(r.Attempt)) + "/" + itoa(retries+1)
}

// progress is a mapped task's bar: finished children in green, the failed
// among them in red, then the count.
func (v *viewer) progress(n *runtime.NodeSnapshot, w int) string {
	st := v.m.st
	total := len(n.Children)
	if total == 0 {
		if n.Run.State.Finished() {
			return st.faint.Styled(fit("no elements", w))
		}
		return ""
	}
	text := " " + fitRight(itoa(n.Finished*100/total), 3) + "% " + itoa(n.Finished) + "/" + itoa(total)
	fail := ""
	if n.Failed > 0 {
		fail = " ✗" + itoa(n.Failed)
	}
	barW := w - len(text) - width(fail)
	if barW < 5 {
		return fit(text, w-width(fail)) + st.barFail.Styled(fail)
	}
	done := n.Finished * barW / total
	bad := n.Failed * barW / total
	if n.Failed > 0 && bad == 0 {
		bad = 1 // one failure out of many still shows
	}
	bad = min(bad, done)
	return st.barDone.Styled(strings.Repeat("█", done-bad)) + st.barFail.Styled(strings.Repeat("█", bad)) +
		st.barLeft.Styled(strings.Repeat("░", barW-done)) + text + st.barFail.Styled(fail)
}

func (v *viewer) logPane(h int) {
	m, st := v.m, v.m.st
	if m.sel.node < 0 {
		v.line(st.faint.Styled(strings.Repeat("─", m.width)))
		return
	}
	p, sel := m.owner(m.sel)
	n, s := &p.nodes[sel.node], &p.run.Nodes[sel.node]
	run := &s.Run
	if sel.child >= 0 {
		run = &s.Children[sel.child]
	}
	title := "── " + p.prefix + p.runName(sel) + " · " + st.stateStyle(run.State).Styled(p.stateLabel(run))
	if t := tries(run, n.retries); t != "" {
		title += " · attempt " + t
	}
	if d := v.duration(run); d != "" {
		title += " · " + d
	}
	if c := p.subs[sel]; c != nil {
		title += " · flow run " + c.runID
	}
	if sel.child < 0 && n.mapped && len(s.Children) > 0 {
		title += " · " + groupDigits(s.Finished) + "/" + groupDigits(len(s.Children)) + " finished, " + groupDigits(s.Failed) + " failed"
	}
	if buf := p.logs[sel]; buf != nil && buf.dropped > 0 {
		title += " · " + groupDigits(buf.dropped) + " earlier lines dropped"
	}
	title += " "
	if tw := ansi.StringWidth(title); tw < m.width {
		title += strings.Repeat("─", m.width-tw)
	}
	v.line(ansi.Truncate(title, m.width, "…"))

	var head []string
	if msg := p.run.RunMsg(run); run.State.Finished() && msg != "" { // the message of its final state
		s := st.faint
		if run.State.IsFailed() {
			s = st.err
		}
		head = append(head, s.Styled(ansi.Truncate(" "+run.State.String()+": "+clean(firstLine(msg)), m.width, "…")))
	}
	buf := p.logs[sel]
	var lines []logLine
	if buf != nil {
		lines = buf.lines
	}
	body := h - 1
	// The last body lines of head+lines, scrolled back by logScroll.
	total := len(head) + len(lines)
	if total == 0 {
		v.line(st.faint.Styled(fit(" no log lines", m.width)))
		return
	}
	end := total - min(m.logScroll, max(total-body, 0))
	start := max(end-body, 0)
	for i := start; i < end; i++ {
		if i < len(head) {
			v.line(head[i])
			continue
		}
		v.line(v.logLine(&lines[i-len(head)]))
	}
}

func (v *viewer) logLine(l *logLine) string {
	st := v.m.st
	s := " " + time.Unix(0, l.t).In(v.loc).Format("15:04:05") + " "
	switch l.level {
	case runtime.Debug:
		s += st.faint.Styled("DEBUG") + " "
	case runtime.Warning:
		s += st.warn.Styled("WARNING") + " "
	case runtime.Error:
		s += st.err.Styled("ERROR") + " "
	}
	return ansi.Truncate(s+l.text, v.m.width, "…")
}
