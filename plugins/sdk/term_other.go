//go:build !unix

package sdk

// endOnTerm does nothing where there are no such signals.
func (s *server) endOnTerm(served <-chan struct{}) {}
