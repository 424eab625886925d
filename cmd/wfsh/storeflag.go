package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/wfsh/wfsh/store"
)

// storeFlag is the --store flag of the commands that read or write the
// run store.
type storeFlag struct{ path string }

func (s *storeFlag) register(fl *pflag.FlagSet) {
	fl.StringVar(&s.path, "store", "", "the run store (default $WFSH_HOME/wfsh.db, else ~/.wfsh/wfsh.db)")
}

// where is the store's path: --store, else the default. A PostgreSQL
// store is handed to wfsh-full by the light wfsh (handOffStore).
func (s *storeFlag) where() (string, error) {
	if s.path != "" {
		return s.path, handOffStore(s.path)
	}
	path, err := store.DefaultPath()
	if err != nil {
		return "", storeErr(err)
	}
	return path, nil
}

// open opens the run store, creating it if need be.
func (s *storeFlag) open() (*store.Store, error) {
	path, err := s.where()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(path)
	if err != nil {
		return nil, storeErr(err)
	}
	return st, nil
}

// openRun opens the store and finds the run named by id or a unique prefix
// of one. The caller closes the store.
func (s *storeFlag) openRun(ctx context.Context, id string) (*store.Store, store.Run, error) {
	st, err := s.open()
	if err != nil {
		return nil, store.Run{}, err
	}
	run, err := st.GetRun(ctx, id)
	if err != nil {
		st.Close()
		return nil, store.Run{}, badInput(err)
	}
	return st, run, nil
}

// storeErr reports a failure of the run store itself: exit status 1.
func storeErr(err error) error { return &exitError{code: exitFailed, err: err} }
