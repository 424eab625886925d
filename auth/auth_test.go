package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok := New()
		if !regexp.MustCompile(`^wfsh_[a-z2-7]{52}$`).MatchString(tok.Plaintext) {
			t.Fatalf("token %q is not of the form wfsh_ + 52 base32 characters", tok.Plaintext)
		}
		if seen[tok.Plaintext] {
			t.Fatalf("token %q made twice", tok.Plaintext)
		}
		seen[tok.Plaintext] = true
		if tok.Hash != Hash(tok.Plaintext) || len(tok.Hash) != 64 || strings.Contains(tok.Hash, tok.Plaintext[5:]) {
			t.Fatalf("hash %q of %q", tok.Hash, tok.Plaintext)
		}
		if err := CheckFormat(tok.Plaintext); err != nil {
			t.Fatal(err)
		}
	}
	// The hash is SHA-256 in hex: the value of a known input.
	if got := Hash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Hash(abc) = %s", got)
	}
	if ID(Hash("abc")) != "ba7816bf8f01" {
		t.Errorf("ID = %s", ID(Hash("abc")))
	}
}

func TestBearer(t *testing.T) {
	tok := New().Plaintext
	for _, h := range []string{"Bearer " + tok, "bearer " + tok, "BEARER  " + tok} {
		if got, err := Bearer(h); err != nil || got != tok {
			t.Errorf("Bearer(%q) = %q, %v", h, got, err)
		}
	}
	for h, want := range map[string]string{
		"":                          "no Authorization header",
		"Basic dXNlcjpwYXNz":        `not of the form "Bearer TOKEN"`,
		"Bearer":                    `not of the form "Bearer TOKEN"`,
		tok:                         `not of the form "Bearer TOKEN"`,
		"Bearer ghp_" + tok[5:]:     `does not start with "wfsh_"`,
		"Bearer " + tok + "x":       "has 58 characters, not 57",
		"Bearer " + tok[:56] + "1":  "holds characters a token does not",
		"Bearer " + tok[:56] + "A":  "holds characters a token does not",
		"Bearer " + tok + " " + tok: "characters, not 57",
	} {
		_, err := Bearer(h)
		if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), want) {
			t.Errorf("Bearer(%q): err = %v, want unauthenticated, %q", h, err, want)
		}
	}
}

// docTable reads the roles table of docs/security.md: action -> the
// cells of admin, developer, viewer, worker and run.
func docTable(t *testing.T) map[Action][]string {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[Action][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 6 {
			t.Fatalf("docs/security.md: a row of %d cells: %s", len(cells), line)
		}
		rows[Action(strings.Trim(cells[0], "`"))] = cells[1:]
	}
	return rows
}

// cell is how the table's cells read in the doc, judged by what Allow
// answers: "yes" allows every scope, "no" none, "own pool" those of the
// principal's pool, "held runs" those whose lease the principal holds
// (in its pool, for a worker), "children" the runs made by those (by
// run_deployment in their flows).
func cell(p Principal, a Action) string {
	scopes := []Scope{
		{},
		{Pool: "p"},
		{Pool: "q"},
		{Pool: "p", Holder: p.ID},
		{Pool: "q", Holder: p.ID},
		{Pool: "p", Holder: "someone-else"},
		{Holder: p.ID},
		{Pool: "p", Holder: "someone-else", Run: "r1"},
		{Pool: "p", Holder: "someone-else", Run: "r2"},
		{Pool: "p", Run: "r1"},
		// Runs made by others: 10 by a run this token holds (in another
		// pool), 11 by r1 held by someone, 12 by r2 held by someone, 13
		// by r1 held by no one.
		{Pool: "q", Parent: "r0", ParentHolder: p.ID},
		{Pool: "p", Parent: "r1", ParentHolder: "someone-else"},
		{Pool: "p", Parent: "r2", ParentHolder: "someone-else"},
		{Pool: "p", Parent: "r1"},
	}
	var allowed []int
	for i, s := range scopes {
		err := Allow(&p, a, s)
		if err == nil {
			allowed = append(allowed, i)
		} else if !errors.Is(err, ErrForbidden) {
			return "refused as " + err.Error()
		}
	}
	switch {
	case len(allowed) == len(scopes):
		return "yes"
	case len(allowed) == 0:
		return "no"
	case p.Pool != "" && slices.Equal(allowed, []int{1, 3, 5, 7, 8, 9, 11, 12, 13}):
		return "own pool"
	case p.Run != "" && slices.Equal(allowed, []int{7}):
		return "own run"
	case p.Run != "" && slices.Equal(allowed, []int{7, 11}):
		return "own run, children"
	case p.Run != "" && slices.Equal(allowed, []int{11}):
		return "children"
	case p.Run == "" && p.Pool != "" && slices.Equal(allowed, []int{3}):
		return "held runs"
	case p.Run == "" && p.Pool != "" && slices.Equal(allowed, []int{3, 10}):
		return "held runs, children"
	case p.Run == "" && slices.Equal(allowed, []int{10}):
		return "children"
	case p.Pool == "" && slices.Equal(allowed, []int{3, 4, 6}):
		return "held runs"
	}
	return fmt.Sprintf("allowed for scopes %v of %v", allowed, scopes)
}

// TestTable checks every action for every role against the table in
// docs/security.md.
func TestTable(t *testing.T) {
	doc := docTable(t)
	if len(doc) != len(Actions()) {
		t.Errorf("docs/security.md has %d actions, the table %d", len(doc), len(Actions()))
	}
	for _, a := range Actions() {
		want, ok := doc[a]
		if !ok {
			t.Errorf("docs/security.md lacks %s", a)
			continue
		}
		for i, r := range Roles() {
			p := Principal{ID: "tok-1", Role: r}
			switch r {
			case Worker:
				p.Pool = "p"
			case Run:
				p.Pool, p.Run = "p", "r1"
			}
			if got := cell(p, a); got != want[i] {
				t.Errorf("%s for %s: %s, docs/security.md says %s", a, r, got, want[i])
			}
		}
	}
	for a := range doc {
		if _, ok := table[a]; !ok {
			t.Errorf("docs/security.md names %s, which the table lacks", a)
		}
	}
}

func TestAllowRefusals(t *testing.T) {
	for _, c := range []struct {
		p      *Principal
		action Action
		kind   error
		want   string
	}{
		{nil, RunsRead, ErrUnauthenticated, "unauthenticated: no token"},
		{&Principal{ID: "t", Role: "root"}, RunsRead, ErrForbidden, `no role "root"`},
		{&Principal{ID: "t", Role: Admin}, "runs.delete", ErrForbidden, `no action "runs.delete"`},
		{&Principal{ID: "t", Role: Worker}, RunsRead, ErrForbidden, "a worker token with no pool"},
		{&Principal{ID: "t", Role: Run}, RunsRead, ErrForbidden, "a run token with no run"},
		{&Principal{ID: "t", Role: Run, Run: "r1"}, RunsReport, ErrForbidden, "runs.report: only for run r1 while it is held"},
		{&Principal{ID: "t", Role: Viewer}, RunsCreate, ErrForbidden, "forbidden: runs.create: not for a viewer token"},
		{&Principal{ID: "t", Role: Worker, Pool: "p"}, WorkersClaim, ErrForbidden, `workers.claim: a worker token of pool "p", not of "q"`},
		{&Principal{ID: "t", Role: Worker, Pool: "p"}, SecretsReadValue, ErrForbidden, "secrets.read_value: only for a run this token's worker holds"},
		{&Principal{ID: "t", Role: Worker, Pool: "p"}, RunsCancel, ErrForbidden, "runs.cancel: only for a run made by a run this token holds"},
		{&Principal{ID: "t", Role: Run, Run: "r1"}, RunsRead, ErrForbidden, "runs.read: only for run r1 while it is held, or a run it made"},
	} {
		err := Allow(c.p, c.action, Scope{Pool: "q", Holder: "other"})
		var e *Error
		if !errors.Is(err, c.kind) || !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v %s: err = %v, want %v, %q", c.p, c.action, err, c.kind, c.want)
		}
	}
	// A worker of pool "p" holding a run of pool "q" (its lease says so,
	// the pool does not) is refused: both must match.
	w := &Principal{ID: "t", Role: Worker, Pool: "p"}
	if err := Allow(w, BundlesRead, Scope{Pool: "q", Holder: "t"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("a bundle of another pool's run: %v", err)
	}
	if err := Allow(w, BundlesRead, Scope{Pool: "p", Holder: "t"}); err != nil {
		t.Errorf("a bundle of a held run: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	if _, err := ParseRole("run"); err == nil {
		t.Error("ParseRole(run): a run token is made for its run, not by name")
	}
	for _, r := range Roles()[:4] {
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%s) = %s, %v", r, got, err)
		}
	}
	if _, err := ParseRole("Admin"); err == nil || !strings.Contains(err.Error(), `no role "Admin"`) {
		t.Errorf("ParseRole(Admin): %v", err)
	}
}
