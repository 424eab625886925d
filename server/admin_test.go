package server

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// validSecretName says what the rule's regular expression says, on names
// at the edges and on random ones.
func TestValidSecretName(t *testing.T) {
	rule := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)
	names := []string{"", "A", "_", "a1", "1a", "DB_PASSWORD", "db.pass-2", ".x", "-x", "a b", "é",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "a\n", "a/b"}
	const alphabet = "aZ_09.-/ \x00é"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		names = append(names, string(b))
	}
	for _, n := range names {
		if got, want := validSecretName(n), rule.MatchString(n); got != want {
			t.Errorf("validSecretName(%q) = %v, want %v", n, got, want)
		}
	}
}
