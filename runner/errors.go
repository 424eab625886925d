package runner

// InputError is bad input: a flow that does not load or build, flags
// that contradict each other, a run to resume that cannot be. The command
// line exits 2 for it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// StoreError is a failure of the run store itself. The command line
// exits 1 for it.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }
