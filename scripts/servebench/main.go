// Command servebench measures `wfsh serve` of many flows on minute
// schedules (docs/schedules.md, "wfsh serve with 1,000 flows"): how late
// each run starts after its time, the CPU and RSS of the process between
// and during the bursts, over two minutes.
//
//	go build -o bin/wfsh ./cmd/wfsh
//	go run ./scripts/servebench -wfsh bin/wfsh -flows 1000
//
// It writes one file of -flows flows, each `schedule=cron("* * * * *")`
// with one task, starts `wfsh serve` on it with a new store 10 s after a
// minute begins, samples /proc/PID/stat (utime+stime) and
// /proc/PID/status (VmRSS) once a second, stops it with SIGINT after
// -minutes bursts and 10 s more, and reads `wfsh runs --json --limit 0`.
// Linux only.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type sample struct {
	at    time.Time
	ticks int64 // utime+stime, clock ticks
	rssKB int64
}

func main() {
	bin := flag.String("wfsh", "bin/wfsh", "the wfsh binary")
	flows := flag.Int("flows", 1000, "flows, each on a minute schedule")
	minutes := flag.Int("minutes", 2, "bursts to measure")
	flag.Parse()
	dir, err := os.MkdirTemp("", "servebench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "flows.star")
	if err := os.WriteFile(file, flowFile(*flows), 0o644); err != nil {
		log.Fatal(err)
	}
	db := filepath.Join(dir, "wfsh.db")
	// Start 10 s into a minute: the first burst comes 50 s later.
	start := time.Now().Truncate(time.Minute).Add(10 * time.Second)
	if start.Before(time.Now()) {
		start = start.Add(time.Minute)
	}
	time.Sleep(time.Until(start))
	cmd := exec.Command(*bin, "serve", "--store", db, file)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("load average at the start: %s\n", loadavg())
	end := start.Add(time.Duration(*minutes)*time.Minute + 10*time.Second)
	var samples []sample
	for time.Now().Before(end) {
		if s, err := read(cmd.Process.Pid); err == nil {
			samples = append(samples, s)
		}
		time.Sleep(time.Second)
	}
	fmt.Printf("load average at the end: %s\n", loadavg())
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	out, err := exec.Command(*bin, "runs", "--store", db, "--json", "--limit", "0").Output()
	if err != nil {
		log.Fatal(err)
	}
	report(out, samples)
}

func flowFile(n int) []byte {
	var b bytes.Buffer
	b.WriteString("@task\ndef work():\n    return 1\n")
	for i := range n {
		fmt.Fprintf(&b, "\n@flow(name=\"f%04d\", schedule=cron(\"* * * * *\"))\ndef f%d():\n    work()\n", i, i)
	}
	return b.Bytes()
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func read(pid int) (sample, error) {
	s := sample{at: time.Now()}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.ticks = ut + st
	st2, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer st2.Close()
	sc := bufio.NewScanner(st2)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			s.rssKB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return s, nil
}

type run struct {
	State     string    `json:"state"`
	StartedAt time.Time `json:"started_at"`
	Finished  time.Time `json:"finished_at"`
	Scheduled struct {
		At time.Time `json:"at"`
	} `json:"scheduled"`
}

func report(out []byte, samples []sample) {
	byTime := map[time.Time][]run{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r run
		if err := dec.Decode(&r); err != nil {
			log.Fatal(err)
		}
		byTime[r.Scheduled.At] = append(byTime[r.Scheduled.At], r)
	}
	var times []time.Time
	for t := range byTime {
		times = append(times, t)
	}
	slices.SortFunc(times, time.Time.Compare)
	for _, t := range times {
		runs := byTime[t]
		var lags []time.Duration
		var last time.Duration
		states := map[string]int{}
		for _, r := range runs {
			lags = append(lags, r.StartedAt.Sub(t))
			last = max(last, r.Finished.Sub(t))
			states[r.State]++
		}
		slices.Sort(lags)
		q := func(p float64) time.Duration { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
		fmt.Printf("%s: %d runs %v; start after the time: median %.2fs, p99 %.2fs, max %.2fs; last ended %.2fs after\n",
			t.UTC().Format("15:04:05"), len(runs), states, q(0.5).Seconds(), q(0.99).Seconds(), lags[len(lags)-1].Seconds(), last.Seconds())
	}
	tick := 100.0 // USER_HZ
	fmt.Println("second  CPU%  RSS MiB")
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		cpu := float64(b.ticks-a.ticks) / tick / b.at.Sub(a.at).Seconds() * 100
		fmt.Printf("%s  %4.0f  %4d\n", b.at.UTC().Format("15:04:05"), cpu, b.rssKB>>10)
	}
}
