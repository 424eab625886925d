package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// start makes and starts a cluster with the binaries of bin.
func start(bin string) (*Cluster, error) {
	sweep()
	as, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	c, err := startIn(bin, dir, as)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func startIn(bin, dir string, as *account) (*Cluster, error) {
	if err := writeOwner(dir); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := dataDir(bin, data, as); err != nil {
		return nil, err
	}
	// The server writes its socket and lock file into dir.
	if err := as.chown(dir); err != nil {
		return nil, err
	}
	// A free port may be taken by someone else before the server binds
	// it: then try another.
	for try := 0; ; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c := &Cluster{dir: dir, port: port, bin: bin, as: as}
		err = c.launch(bin, as)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, errPortTaken) || try == 4 {
			return nil, err
		}
	}
}

var errPortTaken = errors.New("port taken")

// launch starts postgres on c.port and waits until it takes connections.
func (c *Cluster) launch(bin string, as *account) error {
	logf, err := os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"-D", filepath.Join(c.dir, "data"),
		"-p", fmt.Sprint(c.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + c.dir,
		// Throwaway data: nothing is synced to disk.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB", "-c", "max_connections=200"}
	if hasStatements(bin) {
		// Counts of each statement, for benchmarks (Statements).
		args = append(args, "-c", "shared_preload_libraries=pg_stat_statements")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	c.proc, err = startServer(cmd, as)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres")+"&connect_timeout=5")
		if err == nil {
			c.admin = conn
			return nil
		}
		select {
		case <-c.proc.done:
			log := c.log()
			if strings.Contains(log, "could not bind") || strings.Contains(log, "already in use") {
				return errPortTaken
			}
			return fmt.Errorf("postgres exited (%v): %s", c.proc.err, log)
		case <-ctx.Done():
			_ = c.proc.stop(5 * time.Second)
			return fmt.Errorf("postgres not ready after a minute: %v: %s", err, c.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// log is the end of the server's log, for errors.
func (c *Cluster) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// dataDir fills data with a new cluster's files: a copy of the template
// cached for this version of PostgreSQL, made by initdb the first time.
// Without a cache dir, initdb runs every time.
func dataDir(bin, data string, as *account) error {
	tmpl, err := template(bin, as)
	if err != nil {
		return err
	}
	if tmpl == "" {
		return initdb(bin, data, as)
	}
	return copyTree(tmpl, data, as)
}

// template returns the cached template data directory, making it if
// need be, or "" when there is no cache dir.
func template(bin string, as *account) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", nil
	}
	out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("postgres --version: %w", err)
	}
	key := strings.Trim(regexp.MustCompile(`[^A-Za-z0-9.]+`).ReplaceAllString(string(out), "-"), "-")
	root := filepath.Join(cache, "wfsh", "pgtest", key)
	tmpl := filepath.Join(root, "template")
	if _, err := os.Stat(filepath.Join(tmpl, "PG_VERSION")); err == nil {
		return tmpl, nil
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", nil
	}
	// initdb runs as the server's user, who may not reach the cache dir:
	// it writes under the temporary directory, and the copy moves into
	// the cache by a rename, so that a test process never sees half a
	// template, whoever wins the race to make it.
	work, err := os.MkdirTemp("", dirPrefix+"init-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if err := writeOwner(work); err != nil {
		return "", err
	}
	if err := as.chown(work); err != nil {
		return "", err
	}
	if err := initdb(bin, filepath.Join(work, "data"), as); err != nil {
		return "", err
	}
	part, err := os.MkdirTemp(root, "part-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(part)
	if err := copyTree(filepath.Join(work, "data"), filepath.Join(part, "data"), nil); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(part, "data"), tmpl); err != nil {
		if _, serr := os.Stat(filepath.Join(tmpl, "PG_VERSION")); serr != nil {
			return "", err
		}
	}
	return tmpl, nil
}

// initdb makes a cluster in data: superuser wfsh, trusted, UTF-8, C
// locale (byte order, as SQLite compares text), nothing synced, WAL
// segments of 1 MB (not 16: less to copy from the template).
func initdb(bin, data string, as *account) error {
	cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", User, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions", "--wal-segsize=1")
	as.set(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	return nil
}

// copyTree copies the directory src to dst (which must not exist), with
// the modes of src; as, when not nil, is made the owner of every copy.
func copyTree(src, dst string, as *account) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			err = os.Mkdir(to, info.Mode().Perm())
		case d.Type().IsRegular():
			err = copyFile(path, to, info.Mode().Perm())
		default:
			return fmt.Errorf("%s: not a file nor a directory", path)
		}
		if err != nil {
			return err
		}
		return as.chown(to)
	})
}

// copyFile copies through the kernel (copy_file_range), which is
// several times faster here than reading and writing.
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
