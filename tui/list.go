package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wfsh/wfsh/runtime"
)

// filterKind selects the task runs listed, by state.
type filterKind uint8

const (
	filterAll filterKind = iota
	filterRunning
	filterFailed
	filterSuccess
	filterSkipped
	filterPending
	numFilters
)

var filterNames = [numFilters]string{"all", "running", "failed", "succeeded", "skipped", "pending"}

func (f filterKind) String() string { return filterNames[f] }

// match reports whether a run in state st is listed under f.
func (f filterKind) match(st runtime.State) bool {
	switch f {
	case filterRunning:
		return st == runtime.Running || st == runtime.Retrying || st == runtime.Waiting
	case filterFailed:
		return st.IsFailed()
	case filterSuccess:
		return st == runtime.Success || st == runtime.Cached || st == runtime.Mapped
	case filterSkipped:
		return st == runtime.Skipped
	case filterPending:
		return st == runtime.Pending
	}
	return true
}

// KeyMap is the pane's keys.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Expand, Collapse                        key.Binding
	Filter, FilterBack, Follow              key.Binding
	LogBack, LogForward                     key.Binding
}

// DefaultKeyMap is the keys of `wfsh run --tui` (docs/tui.md).
func DefaultKeyMap() KeyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return KeyMap{
		Up:         b("↑/k", "up", "up", "k"),
		Down:       b("↓/j", "down", "down", "j"),
		PageUp:     b("pgup", "page up", "pgup", "ctrl+b"),
		PageDown:   b("pgdn", "page down", "pgdown", "ctrl+f"),
		Top:        b("g", "top", "home", "g"),
		Bottom:     b("G", "bottom", "end", "G"),
		Expand:     b("enter", "expand", "enter", "space", "right", "l"),
		Collapse:   b("←", "collapse", "left", "h"),
		Filter:     b("s", "filter", "s"),
		FilterBack: b("S", "filter back", "S"),
		Follow:     b("f", "follow", "f"),
		LogBack:    b("[", "log back", "["),
		LogForward: b("]", "log forward", "]"),
	}
}

// ShortHelp lists the keys worth a place on a status line.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.Expand, k.Filter, k.Follow, k.LogBack, k.LogForward}
}

// KeyMap returns the pane's keys, for an embedding program's help.
func (m *Model) KeyMap() KeyMap { return m.keys }

// Filter returns the name of the state filter in use.
func (m *Model) Filter() string { return m.filter.String() }

// Following reports whether the selection follows the run.
func (m *Model) Following() bool { return m.follow }

// Selected returns the run name of the selected row ("" if none); a
// subflow's task run is named under it ("report/fetch").
func (m *Model) Selected() string {
	if m.sel.node < 0 {
		return ""
	}
	p, r := m.owner(m.sel)
	return p.prefix + p.runName(r)
}

func (m *Model) runName(r ref) string {
	n := &m.nodes[r.node]
	if r.child < 0 {
		return n.name
	}
	return n.name + "[" + itoa(int(r.child)) + "]"
}

func (m *Model) key(msg tea.KeyPressMsg) {
	k := m.keys
	_, listH := m.layout()
	switch {
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.PageUp):
		m.move(-max(listH-1, 1))
	case key.Matches(msg, k.PageDown):
		m.move(max(listH-1, 1))
	case key.Matches(msg, k.Top):
		m.move(-len(m.vis))
	case key.Matches(msg, k.Bottom):
		m.move(len(m.vis))
	case key.Matches(msg, k.Expand):
		m.setExpanded(true)
	case key.Matches(msg, k.Collapse):
		m.setExpanded(false)
	case key.Matches(msg, k.Filter):
		m.setFilter((m.filter + 1) % numFilters)
	case key.Matches(msg, k.FilterBack):
		m.setFilter((m.filter + numFilters - 1) % numFilters)
	case key.Matches(msg, k.Follow):
		m.follow = !m.follow
		m.logScroll = 0
		m.refresh()
	case key.Matches(msg, k.LogBack):
		m.scrollLog(max(m.logHeight()/2, 1))
	case key.Matches(msg, k.LogForward):
		m.scrollLog(-max(m.logHeight()/2, 1))
	}
}

// move moves the selection by d rows; moving by hand stops following.
func (m *Model) move(d int) {
	if len(m.vis) == 0 {
		return
	}
	m.follow = false
	m.selectRow(min(max(m.cursor+d, 0), len(m.vis)-1))
	m.refresh()
}

func (m *Model) selectRow(i int) {
	if m.vis[i] != m.sel {
		m.logScroll = 0
	}
	m.cursor, m.sel = i, m.vis[i]
}

// setExpanded shows or hides the children of the selected mapped task (or
// of the selected child's task, which it then selects).
func (m *Model) setExpanded(open bool) {
	if m.sel.node < 0 {
		return
	}
	if m.setSubOpen(open) {
		m.visDirty = true
		m.refresh()
		return
	}
	p, r := m.owner(m.sel)
	n := &p.nodes[r.node]
	if !n.mapped || n.expanded == open {
		return
	}
	n.expanded = open
	if !open {
		m.sel = m.sel.parent()
	}
	m.visDirty = true
	m.refresh()
}

func (m *Model) setFilter(f filterKind) {
	m.filter = f
	m.visDirty = true
	m.refresh()
}

func (m *Model) scrollLog(d int) {
	n := 1 // the run's final message, shown above its log
	p, sel := m.owner(m.sel)
	if b := p.logs[sel]; b != nil {
		n += len(b.lines)
	}
	m.logScroll = min(max(m.logScroll+d, 0), max(n-m.logHeight(), 0))
}

// refresh brings the visible rows, the selection and the scroll position
// up to date after events, keys or a resize. It costs O(listed rows) when
// the list changed shape (a filter on while states change, a task
// expanded) or the followed run is no longer where it was; otherwise O(1).
func (m *Model) refresh() {
	if m.visDirty {
		m.rebuild()
	}
	switch {
	case len(m.vis) == 0:
		m.cursor, m.offset = 0, 0
		return
	case m.follow && m.active.node >= 0:
		if i := m.find(m.active); i >= 0 {
			m.selectRow(i)
		} else if i := m.find(m.active.parent()); i >= 0 {
			m.selectRow(i)
		}
	}
	if m.cursor >= len(m.vis) || m.vis[m.cursor] != m.sel {
		i := m.find(m.sel)
		if i < 0 && m.sel.child >= 0 {
			i = m.find(m.sel.parent())
		}
		if i < 0 {
			i = min(m.cursor, len(m.vis)-1)
		}
		m.selectRow(i)
	}
	_, listH := m.layout()
	switch {
	case listH <= 0:
		m.offset = m.cursor
	case m.cursor < m.offset:
		m.offset = m.cursor
	case m.cursor >= m.offset+listH:
		m.offset = m.cursor - listH + 1
	}
	m.offset = max(min(m.offset, len(m.vis)-listH), 0)
}

// find returns the index of r in the visible rows, or -1.
func (m *Model) find(r ref) int {
	if m.cursor < len(m.vis) && m.vis[m.cursor] == r {
		return m.cursor
	}
	for i, v := range m.vis {
		if v == r {
			return i
		}
	}
	return -1
}

// rebuild lists the visible rows: every listed node, with its children
// when expanded; under a filter, the runs in a matching state, with each
// matching child under its mapped task. An open subflow's rows follow
// its own.
func (m *Model) rebuild() {
	m.visDirty = false
	m.vis = m.rows(m.vis[:0], m)
}

// rows appends the rows of pane p (m itself or a child flow run's).
func (m *Model) rows(vis []ref, p *Model) []ref {
	f := m.filter
	row := func(vis []ref, id, child int32) []ref {
		r := ref{node: id, child: child}
		if p != m {
			r.sub = p
		}
		vis = append(vis, r)
		if c := p.subs[r.local()]; c != nil && c.open {
			vis = m.rows(vis, c)
		}
		return vis
	}
	for _, id := range p.order {
		n, s := &p.nodes[id], &p.run.Nodes[id]
		if f == filterAll {
			vis = row(vis, id, -1)
			if n.expanded {
				for i := range s.Children {
					vis = row(vis, id, int32(i))
				}
			}
			continue
		}
		at := len(vis)
		vis = row(vis, id, -1)
		kids := false
		for i := range s.Children {
			if f.match(s.Children[i].State) {
				vis = row(vis, id, int32(i))
				kids = true
			}
		}
		if !kids && !f.match(s.Run.State) && len(vis) == at+1 {
			vis = vis[:at]
		}
	}
	return vis
}
