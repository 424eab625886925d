// Command benchrun times whole `wfsh run` processes on the benchmark
// workloads of docs/performance.md and prints, for each, the median, min and
// max wall time and the median peak RSS over several runs, against its
// target.
//
//	go build -o bin/wfsh ./cmd/wfsh
//	go run ./scripts/benchrun -wfsh bin/wfsh -runs 5
//
// Wall time is measured around the child process, from fork to exit; peak
// RSS is the child's own ru_maxrss (KiB on Linux). Standard output of wfsh
// goes to /dev/null, so log printing is measured but not the terminal. Each
// workload is run once before the timed runs (not counted), so that the
// executable and the flow file are in the page cache.
//
// W4 has a baseline: the same work in plain bash, timed in runs that
// alternate with wfsh's, so that both see the same load; the ratio of the
// medians is printed under the table.
//
// V is `wfsh --version`. With -hello, W0 and V have a baseline of their
// own, a static Go hello world that benchrun builds (CGO_ENABLED=0, the
// way make build builds wfsh), and the ratios of wall time, CPU time and
// minor page faults are printed: start-up against a plain Go program.
//
// With -dask, W1, W2 and W3 have Dask's threaded scheduler as their
// baseline: the scripts in scripts/benchrun/dask (the same graphs as plain
// task dicts given to dask.threaded.get), run by -python (Debian's
// python3-dask: `make bench-setup`), alternately with wfsh, and the ratio
// Dask / wfsh is printed.
//
// Runs are recorded in the run store, as every `wfsh run` is (at
// $WFSH_HOME, else ~/.wfsh): pass -args --no-store for runs without it,
// or -compare --no-store to time both, alternately, and print the ratio.
//
// The executables are copied into a temporary directory and run from
// there. An executable the Go linker has just written is in the page cache
// in the small pieces it was written in, and the kernel maps those into a
// starting process more slowly than what a copy (or a read from disk)
// leaves: `wfsh --version` took 1.25-1.46x the time of a copy of the same
// file, so an A/B of a fresh build against an older one measured the
// freshness. (Plugin executables beside -wfsh are not copied: the
// workloads use only @shell, which wfsh serves itself.)
//
// It exits 1 if a run fails (non-zero exit status of wfsh), and with
// -strict also if a target is missed; 2 on bad flags.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// A workload is one flow file and its targets (zero: no target).
type workload struct {
	name    string
	file    string // relative to -flows
	what    string
	maxWall time.Duration
	maxRSS  int64 // KiB
	// baseline, if set, is a bash script doing the same work without wfsh.
	baseline string
	// args, if set, replace `run FILE` (V: `--version`).
	args []string
	// startup: -hello gives it the Go hello world as its baseline.
	startup bool
	// dask, if set, is the script of scripts/benchrun/dask doing the same
	// work in Dask (-dask).
	dask string
}

var workloads = []workload{
	{"V", "", "wfsh --version", 0, 0, "", []string{"--version"}, true, ""},
	{"W0", "hello_world.star", "hello_world, start to exit", 20 * time.Millisecond, 0, "", nil, true, ""},
	{"W1", "bench/w1_chain.star", "1,000-task chain", 50 * time.Millisecond, 0, "", nil, false, "w1_chain.py"},
	{"W2", "bench/w2_map.star", ".map over 100,000 ints, then a sum", 500 * time.Millisecond, 300 << 10, "", nil, false, "w2_map.py"},
	{"W3", "bench/w3_layers.star", "100 layers x 100 tasks, 2 inputs each", 100 * time.Millisecond, 0, "", nil, false, "w3_layers.py"},
	{"W4", "bench/w4_shell_map.star", "@shell task mapped over 200 items (`true`)", 0, 0,
		"for i in $(seq 200); do bash -c true; done", nil, false, ""},
}

// A sample is one timed run.
type sample struct {
	wall   time.Duration
	cpu    time.Duration // user + system
	rss    int64         // KiB
	minflt int64         // minor page faults
}

func main() { os.Exit(run()) }

// run is main, with the exit status returned (deferred clean-ups run).
func run() int {
	wfsh := flag.String("wfsh", "bin/wfsh", "the wfsh executable")
	runs := flag.Int("runs", 5, "timed runs of each workload")
	flows := flag.String("flows", "flows", "the directory of the flow files")
	only := flag.String("only", "", "comma-separated workloads to run (e.g. W2,W3); empty: all")
	concurrency := flag.Int("concurrency", 0, "pass --concurrency N to wfsh (0: wfsh's default)")
	warmup := flag.Bool("warmup", true, "run each workload once, untimed, before the timed runs")
	markdown := flag.Bool("markdown", false, "print the table as Markdown")
	strict := flag.Bool("strict", false, "exit 1 when a target is missed, too")
	extra := flag.String("args", "", "more arguments for wfsh run, space-separated (e.g. --no-store)")
	compare := flag.String("compare", "", "also run each workload with these arguments instead of -args, alternately, and print the ratio (e.g. --no-store)")
	base := flag.String("base", "", "also run each workload with this wfsh executable, alternately, and print the ratio (an A/B of two builds)")
	hello := flag.Bool("hello", false, "run V and W0 against a static Go hello world, alternately, and print the ratios")
	dask := flag.Bool("dask", false, "run W1, W2 and W3 against Dask's threaded scheduler, alternately, and print the ratios")
	python := flag.String("python", "/usr/bin/python3", "the Python with dask, for -dask (Debian's python3-dask)")
	daskDir := flag.String("dask-scripts", "scripts/benchrun/dask", "the directory of the Dask scripts, for -dask")
	flag.Parse()
	if *runs < 1 || flag.NArg() > 0 || (*base != "" && *compare != "") || ((*hello || *dask) && (*base != "" || *compare != "")) {
		flag.Usage()
		return 2
	}
	copies, err := os.MkdirTemp("", "benchrun-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: %v\n", err)
		return 2
	}
	defer os.RemoveAll(copies)
	exe, err := copyExe(*wfsh, filepath.Join(copies, "a"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: %v (build it with `go build -o bin/wfsh ./cmd/wfsh`)\n", err)
		return 2
	}
	baseExe := ""
	if *base != "" {
		if baseExe, err = copyExe(*base, filepath.Join(copies, "b")); err != nil {
			fmt.Fprintf(os.Stderr, "benchrun: %v\n", err)
			return 2
		}
	}

	var helloExe string
	if *hello {
		dir, err := os.MkdirTemp("", "benchrun-hello-")
		if err == nil {
			defer os.RemoveAll(dir)
			helloExe, err = buildHello(dir)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchrun: the Go hello world: %v\n", err)
			return 2
		}
	}

	loadBefore := loadavg()
	var rows [][]string
	var ratios []string
	failed, missed := false, false
	for _, w := range workloads {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), w.name) {
			continue
		}
		if *only == "" && w.args != nil && !*hello {
			continue // V is for start-up comparisons
		}
		args := []string{"run", filepath.Join(*flows, w.file)}
		if w.args != nil {
			args = slices.Clone(w.args)
		}
		if *concurrency > 0 {
			args = append(args, "--concurrency", fmt.Sprint(*concurrency))
		}
		args = append(args, strings.Fields(*extra)...)
		fmt.Fprintf(os.Stderr, "%s: %s %s\n", w.name, *wfsh, strings.Join(args, " "))
		cmds := [][]string{append([]string{exe}, args...)}
		baseline, baseName := w.baseline, "bash"
		if *compare != "" {
			other := append(slices.Clone(args[:len(args)-len(strings.Fields(*extra))]), strings.Fields(*compare)...)
			fmt.Fprintf(os.Stderr, "%s %s: %s %s\n", w.name, *compare, *wfsh, strings.Join(other, " "))
			cmds = append(cmds, append([]string{exe}, other...))
			baseline, baseName = "", *compare
		}
		if *base != "" {
			fmt.Fprintf(os.Stderr, "%s base: %s %s\n", w.name, *base, strings.Join(args, " "))
			cmds = append(cmds, append([]string{baseExe}, args...))
			baseline, baseName = "", *base
		}
		if baseline != "" {
			fmt.Fprintf(os.Stderr, "%s bash: bash -c '%s'\n", w.name, w.baseline)
			cmds = append(cmds, []string{"bash", "-c", w.baseline})
		}
		if *dask && w.dask != "" {
			script := filepath.Join(*daskDir, w.dask)
			fmt.Fprintf(os.Stderr, "%s dask: %s %s\n", w.name, *python, script)
			cmds = append(cmds, []string{*python, script})
			baseline, baseName = "dask", "Dask"
		}
		if *hello && w.startup {
			fmt.Fprintf(os.Stderr, "%s hello: a static Go hello world\n", w.name)
			cmds = append(cmds, []string{helloExe})
			baseline, baseName = "hello", "Go hello world"
		}
		samples := make([][]sample, len(cmds))
		ok := true
	timed:
		for i := range *runs + 1 {
			for j, c := range cmds { // alternately, when there is a baseline
				s, err := runOnce(c[0], c[1:])
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", w.name, err)
					failed, ok = true, false
					break timed
				}
				if i > 0 || !*warmup {
					samples[j] = append(samples[j], s)
				}
			}
			if len(samples[0]) == *runs {
				break
			}
		}
		if !ok {
			rows = append(rows, []string{w.name, w.what, "-", "-", "-", "-", "-", "-", target(w), "ERROR"})
			continue
		}
		var med [2]sample
		for j, ss := range samples {
			walls := make([]time.Duration, len(ss))
			cpus := make([]time.Duration, len(ss))
			rsss := make([]int64, len(ss))
			faults := make([]int64, len(ss))
			for i, s := range ss {
				walls[i], cpus[i], rsss[i], faults[i] = s.wall, s.cpu, s.rss, s.minflt
			}
			slices.Sort(walls)
			slices.Sort(cpus)
			slices.Sort(rsss)
			slices.Sort(faults)
			med[j] = sample{median(walls), median(cpus), median(rsss), median(faults)}
			medWall, medRSS := med[j].wall, med[j].rss
			if j == 1 {
				what := "the same in bash: " + w.baseline
				if *compare != "" {
					what = "the same with " + *compare
				}
				if *base != "" {
					what = "the same run by " + *base
				}
				if baseline == "hello" {
					what = "a static Go hello world"
				}
				if baseline == "dask" {
					what = "the same in Dask (threaded)"
				}
				rows = append(rows, []string{w.name + " " + baseName, what, ms(medWall), ms(walls[0]),
					ms(walls[len(walls)-1]), ms(med[j].cpu), fmt.Sprint(med[j].minflt), mib(medRSS), "", ""})
				continue
			}
			verdict := "pass"
			if (w.maxWall > 0 && medWall > w.maxWall) || (w.maxRSS > 0 && medRSS > w.maxRSS) {
				verdict, missed = "FAIL", true
			}
			if w.maxWall == 0 && w.maxRSS == 0 {
				verdict = ""
			}
			rows = append(rows, []string{w.name, w.what, ms(medWall), ms(walls[0]), ms(walls[len(walls)-1]),
				ms(med[j].cpu), fmt.Sprint(med[j].minflt), mib(medRSS), target(w), verdict})
		}
		if len(cmds) == 2 && baseline != "dask" {
			ratios = append(ratios, fmt.Sprintf("%s: wfsh / %s = %.2f (median wall %s / %s)",
				w.name, baseName, float64(med[0].wall)/float64(med[1].wall), ms(med[0].wall), ms(med[1].wall)))
		}
		if baseline == "dask" {
			ratios = append(ratios, fmt.Sprintf("%s: Dask / wfsh = %.1fx (median wall %s / %s)",
				w.name, float64(med[1].wall)/float64(med[0].wall), ms(med[1].wall), ms(med[0].wall)))
		}
		if baseline == "hello" {
			ratios = append(ratios, fmt.Sprintf("%s: wfsh / Go hello world: CPU %.2f (%s / %s), minor faults %.2f (%d / %d)",
				w.name, float64(med[0].cpu)/float64(med[1].cpu), ms(med[0].cpu), ms(med[1].cpu),
				float64(med[0].minflt)/float64(med[1].minflt), med[0].minflt, med[1].minflt))
		}
	}

	header := []string{"workload", "what", "median wall", "min", "max", "median CPU", "minor faults", "median peak RSS", "target", "result"}
	if *markdown {
		printMarkdown(header, rows)
	} else {
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		for _, r := range append([][]string{header}, rows...) {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
	}
	for _, r := range ratios {
		fmt.Println(r)
	}
	fmt.Printf("(%d timed runs each, median; wall time of the whole process; CPU (user+system), minor faults and RSS from its rusage)\n", *runs)
	if loadBefore != "" {
		fmt.Printf("(1-minute load average: %s before, %s after; other work on the machine inflates the figures)\n", loadBefore, loadavg())
	}
	if failed || (*strict && missed) {
		return 1
	}
	return 0
}

// runOnce runs exe (wfsh, or bash for a baseline) with args, standard
// output to /dev/null, and returns its wall time and peak RSS. A non-zero exit status is an error that
// carries the tail of its standard error.
func runOnce(exe string, args []string) (sample, error) {
	cmd := exec.Command(exe, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr // nil: /dev/null
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%s %s: %v\n%s", filepath.Base(exe), strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, fmt.Errorf("no rusage for the child on this system")
	}
	cpu := time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
	return sample{wall: wall, cpu: cpu, rss: int64(ru.Maxrss), minflt: int64(ru.Minflt)}, nil
}

// copyExe copies the executable at path into dir (made), under its own
// name, and returns the copy's path.
func copyExe(path, dir string) (string, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer in.Close()
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	exe := filepath.Join(dir, filepath.Base(path))
	out, err := os.OpenFile(exe, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return "", err
	}
	return exe, out.Close()
}

// buildHello builds a static Go hello world in dir and returns its path.
func buildHello(dir string) (string, error) {
	src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello, world\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n"), 0o644); err != nil {
		return "", err
	}
	exe := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", exe, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	return exe, nil
}

// loadavg returns the 1-minute load average, or "" where /proc has none.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func median[T int64 | time.Duration](sorted []T) T {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func target(w workload) string {
	var parts []string
	if w.maxWall > 0 {
		parts = append(parts, "< "+w.maxWall.String())
	}
	if w.maxRSS > 0 {
		parts = append(parts, fmt.Sprintf("< %d MiB", w.maxRSS>>10))
	}
	return strings.Join(parts, ", ")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func printMarkdown(header []string, rows [][]string) {
	line := func(cells []string) { fmt.Println("| " + strings.Join(cells, " | ") + " |") }
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}
