package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wfsh/wfsh/plugins/internal/pdeath"
	"github.com/wfsh/wfsh/plugins/procs"
	"github.com/wfsh/wfsh/plugins/sdk"
	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// Manager starts plugins on first use and keeps each running for the tasks
// of a run; Stop ends them all.
type Manager struct {
	opts Options
	// Log receives go-plugin's own messages; nil discards them.
	log hclog.Logger

	mu      sync.Mutex
	running map[string]*proc
	stopped bool
}

// startTimeout bounds the handshake of a plugin process.
const startTimeout = 20 * time.Second

// proc is one running plugin process.
type proc struct {
	found  Found
	client *plugin.Client
	rpc    *sdk.Client
	cmd    *exec.Cmd
	stderr *tail
	desc   *pb.Description
}

// NewManager returns a manager for the plugins opts finds. logOut receives
// go-plugin's debug chatter (nil: nowhere).
func NewManager(opts Options, logOut io.Writer, level hclog.Level) *Manager {
	if logOut == nil {
		logOut = io.Discard
	}
	return &Manager{opts: opts, running: map[string]*proc{},
		log: hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: logOut, Level: level})}
}

// Options returns where the manager looks for plugins.
func (m *Manager) Options() *Options { return &m.opts }

// Describe starts the plugin if needed and returns what it exports.
func (m *Manager) Describe(ctx context.Context, name string) (*pb.Description, error) {
	p, err := m.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return p.desc, nil
}

// Call calls a plugin function. When the plugin process dies during the
// call, the error says so, with its exit status and last stderr lines; the
// next call starts it again.
func (m *Manager) Call(ctx context.Context, name string, req *pb.CallRequest, onLog func(*pb.LogLine)) (*pb.Value, error) {
	p, err := m.get(ctx, name)
	if err != nil {
		return nil, err
	}
	v, err := p.rpc.Call(ctx, req, onLog)
	if err == nil {
		return v, nil
	}
	var ce *sdk.CallError
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("call of %s.%s cancelled: %w", name, req.GetFunction(), context.Cause(ctx))
	case errors.As(err, &ce):
		return nil, err
	case (errors.Is(err, sdk.ErrConnection) || status.Code(err) == codes.Unavailable) && p.waitExited(exitWait):
		m.sweep()
		return nil, fmt.Errorf("plugin %s crashed during %s: %s%s", name, req.GetFunction(), p.exitStatus(), p.stderr.String())
	}
	return nil, fmt.Errorf("plugin %s: call of %s failed: %v", name, req.GetFunction(), err)
}

// get returns the running plugin named name, starting it if it is not
// running (or has died).
func (m *Manager) get(ctx context.Context, name string) (*proc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return nil, fmt.Errorf("plugin %s: the run is over", name)
	}
	if p := m.running[name]; p != nil && !p.exited() {
		return p, nil
	} else if p != nil && m.opts.Reap {
		sweep(m.pluginPIDs()) // what the dead one left
	}
	found, err := m.opts.Find(name)
	if err != nil {
		return nil, err
	}
	p, err := m.start(ctx, found)
	if err != nil {
		return nil, err
	}
	m.running[name] = p
	return p, nil
}

func (m *Manager) start(ctx context.Context, f Found) (*proc, error) {
	if m.opts.Reap {
		becomeSubreaper()
	}
	procs.Mark()
	cmd := exec.Command(f.Path)
	dieWithParent(cmd)
	if f.Builtin {
		cmd.Args = append(cmd.Args, "__plugin", f.Name)
	}
	p := &proc{found: f, cmd: cmd, stderr: &tail{max: 20}}
	lane, closeChildEnd := addLane(cmd)
	p.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           m.log.Named(f.Name),
		Stderr:           p.stderr,
		StartTimeout:     startTimeout,
	})
	err := p.connect(ctx, lane, closeChildEnd)
	if err != nil {
		p.client.Kill()
		if lane != nil {
			_ = lane.Close()
		}
		return nil, fmt.Errorf("plugin %s (%s): %v%s", f.Name, f.Path, err, p.stderr.String())
	}
	return p, nil
}

// connect starts the process, connects and asks what it exports; calls go
// on the calls lane when the plugin serves it.
func (p *proc) connect(ctx context.Context, lane net.Conn, closeChildEnd func()) error {
	// Forked from the thread that lives as long as wfsh, as the plugin's
	// parent-death signal needs.
	err := pdeath.Do(func() error { _, err := p.client.Start(); return err })
	closeChildEnd() // the child has its copy (or never started)
	if err != nil {
		return err
	}
	conn, err := p.client.Client()
	if err != nil {
		return err
	}
	if p.rpc, err = sdk.Dispense(conn); err != nil {
		return err
	}
	if p.desc, err = p.rpc.Describe(ctx); err != nil {
		return err
	}
	if lane != nil {
		if p.desc.GetCallsLane() {
			p.rpc.UseLane(lane)
		} else {
			_ = lane.Close() // a plugin built before the lane existed
		}
	}
	return nil
}

func (p *proc) exited() bool { return p.client.Exited() }

// sweep ends what dead plugins left running (see sweep in proc_linux.go).
func (m *Manager) sweep() {
	if !m.opts.Reap {
		return
	}
	m.mu.Lock()
	pids := m.pluginPIDs()
	m.mu.Unlock()
	sweep(pids)
}

// pluginPIDs returns the PIDs of the plugin processes still running. The
// caller holds m.mu.
func (m *Manager) pluginPIDs() map[int]bool {
	pids := map[int]bool{}
	for _, p := range m.running {
		if p.cmd.Process != nil && !p.exited() {
			pids[p.cmd.Process.Pid] = true
		}
	}
	return pids
}

// exitWait bounds how long a failed call waits for go-plugin to notice
// that the plugin process died: the call fails as soon as the connection
// breaks, a few milliseconds before the process has been reaped and its
// stderr read to the end.
const exitWait = 2 * time.Second

// waitExited reports whether the process has exited, waiting at most d for
// it to do so.
func (p *proc) waitExited(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !p.exited() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func (p *proc) exitStatus() string {
	if st := p.cmd.ProcessState; st != nil {
		return st.String()
	}
	return "the process exited"
}

// Stop ends every plugin process; later calls fail.
func (m *Manager) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	for name, p := range m.running {
		if p.rpc != nil {
			p.rpc.Close()
		}
		p.client.Kill()
		delete(m.running, name)
	}
	if m.opts.Reap {
		sweep(nil)
	}
}

// tail keeps the last lines written to it: a plugin's stderr, for the
// message when it crashes.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  string
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.part + string(b)
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	for _, l := range parts[:len(parts)-1] {
		t.lines = append(t.lines, l)
	}
	if over := len(t.lines) - t.max; over > 0 {
		t.lines = t.lines[over:]
	}
	return len(b), nil
}

// String returns "; last stderr lines:\n..." or "" when there were none.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if t.part != "" {
		lines = append(lines[:len(lines):len(lines)], t.part)
		if len(lines) > t.max {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "; last stderr lines:\n  " + strings.Join(lines, "\n  ")
}
