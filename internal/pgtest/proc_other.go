//go:build !linux

package pgtest

import (
	"errors"
	"os/exec"
	"time"
)

func supported() error {
	return errors.New("throwaway PostgreSQL clusters need Linux (a parent-death signal, /proc)")
}

type account struct{}

func serverUser() (*account, error)   { return nil, supported() }
func (a *account) set(*exec.Cmd)      {}
func (a *account) chown(string) error { return nil }

type server struct {
	done chan struct{}
	err  error
}

func startServer(*exec.Cmd, *account) (*server, error) { return nil, supported() }
func (s *server) pid() int                             { return 0 }
func (s *server) stop(time.Duration) error             { return nil }
func (s *server) shutdown(time.Duration) error         { return nil }
func writeOwner(string) error                          { return supported() }
func sweep()                                           {}
