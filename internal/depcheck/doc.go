// Package depcheck holds the test of the house's one dependency rule:
// which wfsh packages each package may import, and which libraries it must
// never link (deps_test.go). It has no code of its own.
package depcheck
