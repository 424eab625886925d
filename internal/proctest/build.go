package proctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Build builds packages of this module into executables: targets maps
// each output file to a package path from the module's root
// ("./cmd/wfsh"), which build flags may precede ("-tags=wfshlight
// ./cmd/wfsh"). Two builds run at once. It is the one way the tests
// build the programs they run as processes.
func Build(ctx context.Context, targets map[string]string) error {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no go command to build with: %v", err)
	}
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	sem := make(chan struct{}, 2)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for out, pkg := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.CommandContext(ctx, gocmd, append([]string{"build", "-o", out}, strings.Fields(pkg)...)...)
			cmd.Dir = root
			if msg, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("go build -o %s %s: %v\n%s", out, pkg, err, msg))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// BuildT builds for one test or benchmark, as Build does: it skips tb
// when there is no go command and fails it when a build fails.
func BuildT(tb testing.TB, targets map[string]string) {
	tb.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		tb.Skip("no go command to build with")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := Build(ctx, targets); err != nil {
		tb.Fatal(err)
	}
}

// ModuleRoot is the directory of the go.mod at or above the working
// directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = up
	}
}
