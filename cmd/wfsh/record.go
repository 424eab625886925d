package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/runtime"
	"github.com/wfsh/wfsh/store"
)

// runStore is the run store's part in one `wfsh run`. The store opens in
// the background while the flow loads and builds; the run waits for it
// only before its first task, and stops there if it could not be opened.
// It records the run (docs/store.md), serves --resume and the cache.
type runStore struct {
	opening *store.Opening
	stderr  io.Writer
	st      *store.Store
	rec     *store.Recorder
	once    sync.Once
}

// startStore starts opening the store, unless --no-store.
func startStore(f *runFlags, stderr io.Writer) (*runStore, error) {
	if f.noStore {
		return nil, nil
	}
	path, err := f.store.where()
	if err != nil {
		return nil, err
	}
	o, err := store.OpenLater(path)
	if err != nil {
		return nil, storeErr(fmt.Errorf("%w (--no-store runs without it)", err))
	}
	return &runStore{opening: o, stderr: stderr}, nil
}

// open waits for the store.
func (rs *runStore) open() (*store.Store, error) {
	if rs.st != nil {
		return rs.st, nil
	}
	st, err := rs.opening.Wait()
	if err != nil {
		return nil, storeErr(fmt.Errorf("%w (--no-store runs without it)", err))
	}
	rs.st = st
	return st, nil
}

// record starts recording the run about to start and returns the sink
// that records it (nil without a store). The store may still be opening:
// events wait in memory meanwhile.
func (rs *runStore) record(info store.RunInfo, b *builtins.Build) runtime.Sink {
	if rs == nil {
		return nil
	}
	rs.rec = rs.opening.NewRecorder(store.RecorderOptions{Run: info, Graph: b.Graph, AppendResult: b.AppendResult})
	return rs.rec
}

// close writes what is left and closes the store; errors met writing go
// to stderr. It may be called more than once, and on a nil runStore.
func (rs *runStore) close() {
	if rs == nil {
		return
	}
	rs.once.Do(func() {
		if rs.rec != nil {
			if err := rs.rec.Close(); err != nil {
				fmt.Fprintf(rs.stderr, "wfsh: %v (the run was not recorded in full)\n", err)
			}
		}
		if st, err := rs.opening.Wait(); err == nil {
			st.Close()
		}
	})
}

// runInfo is what the store keeps of a run before it starts: the file's
// hash, the parameters and context overrides as given.
func runInfo(path, flow, runID string, params []string, ctxKV map[string]string) (store.RunInfo, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return store.RunInfo{}, badInput(err)
	}
	pm := map[string]json.RawMessage{}
	for _, kv := range params {
		k, v, _ := strings.Cut(kv, "=")
		pm[k] = jsonOrString(v)
	}
	pj, _ := json.Marshal(pm)
	cj, _ := json.Marshal(ctxKV)
	sum := sha256.Sum256(src)
	return store.RunInfo{ID: runID, Flow: flow, File: path, FileSHA256: hex.EncodeToString(sum[:]),
		Parameters: pj, Context: cj}, nil
}

// registerStoreFlags adds the run store's flags to `wfsh run`.
func registerStoreFlags(fl *pflag.FlagSet, f *runFlags) {
	f.store.register(fl)
	fl.BoolVar(&f.noStore, "no-store", false, "do not record the run (and use no cache)")
	// --record asked for recording when it was not the default: it is
	// kept, hidden, so that scripts using it go on working.
	fl.BoolVar(&f.record, "record", false, "record the run (every run is, unless --no-store)")
	_ = fl.MarkHidden("record")
}
