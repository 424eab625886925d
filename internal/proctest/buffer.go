package proctest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that a process's output (or several
// goroutines) may write while a test reads it: what tests give
// exec.Cmd.Stdout and loggers, then poll with String.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
