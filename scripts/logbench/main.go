// Command logbench measures what a large log costs: the wall time and
// peak RSS of `wfsh run` on flows that log 100 MB (or more) of lines,
// with the run store and without, and of `wfsh logs` printing such a run
// back from the store, with the size of the store.
//
//	go build -o bin/wfsh ./cmd/wfsh
//	go run ./scripts/logbench -wfsh bin/wfsh -mb 100
//	go run ./scripts/logbench -wfsh bin/wfsh -mb 1000   # by hand: minutes
//
// Peak RSS is ru_maxrss of the wfsh process as wait4 reports it: the
// largest of wfsh and the processes it waited for (the plugin of a shell
// task). The log goes to /dev/null. Each size uses a new store in a
// temporary directory, removed at the end.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	exe := flag.String("wfsh", "bin/wfsh", "the wfsh executable")
	mbs := flag.String("mb", "100", "comma-separated log sizes, in MB")
	flows := flag.String("flows", "flows/bench", "the directory of logs_print.star and logs_shell.star")
	flag.Parse()
	fmt.Println("| case | log | wall | peak RSS | store |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	for _, s := range strings.Split(*mbs, ",") {
		mb, err := strconv.Atoi(s)
		if err != nil || mb <= 0 {
			fmt.Fprintf(os.Stderr, "logbench: -mb: %q is not a positive number\n", s)
			os.Exit(2)
		}
		if err := measure(*exe, *flows, mb); err != nil {
			fmt.Fprintln(os.Stderr, "logbench:", err)
			os.Exit(1)
		}
	}
}

func measure(exe, flows string, mb int) error {
	dir, err := os.MkdirTemp("", "logbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "wfsh.db")
	n := strconv.Itoa(mb * 10000) // lines of 100 bytes
	size := fmt.Sprintf("%d MB", mb)
	for _, flow := range []string{"logs_print.star", "logs_shell.star"} {
		file := filepath.Join(flows, flow)
		for _, args := range [][]string{
			{"run", "--store", db, file, "-p", "n=" + n},
			{"run", "--no-store", file, "-p", "n=" + n},
		} {
			wall, rss, err := run(exe, args...)
			if err != nil {
				return err
			}
			name := "wfsh run " + flow
			st := "-"
			if args[1] == "--no-store" {
				name += " --no-store"
			} else {
				st = storeSize(db)
			}
			fmt.Printf("| %s | %s | %s | %s | %s |\n", name, size, wall.Round(10*time.Millisecond), mib(rss), st)
		}
		id, err := lastRun(exe, db)
		if err != nil {
			return err
		}
		wall, rss, err := run(exe, "logs", "--store", db, id)
		if err != nil {
			return err
		}
		fmt.Printf("| wfsh logs (%s) | %s | %s (%.0f MB/s) | %s | - |\n", flow, size, wall.Round(10*time.Millisecond),
			float64(mb)/wall.Seconds(), mib(rss))
	}
	return nil
}

// run runs wfsh with its output to /dev/null.
func run(exe string, args ...string) (time.Duration, int64, error) {
	cmd := exec.Command(exe, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("wfsh %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if ru == nil {
		return wall, 0, nil
	}
	return wall, int64(ru.Maxrss), nil
}

func lastRun(exe, db string) (string, error) {
	out, err := exec.Command(exe, "runs", "--store", db, "--limit", "1", "--json").Output()
	if err != nil {
		return "", fmt.Errorf("wfsh runs: %v", err)
	}
	var r struct{ ID string }
	if err := json.Unmarshal(out, &r); err != nil {
		return "", fmt.Errorf("wfsh runs --json: %v", err)
	}
	return r.ID, nil
}

// storeSize is the size of the database and its write-ahead log.
func storeSize(db string) string {
	var n int64
	for _, f := range []string{db, db + "-wal"} {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }
