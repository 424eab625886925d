package repl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// maxHistory bounds the entries kept, in memory and in the file.
const maxHistory = 1000

// History is the list of entries run at the prompt, oldest first, kept in
// a file (one JSON string per line, so that a multi-line def stays one
// entry) when it has one.
type History struct {
	entries []string
	file    string
}

// LoadHistory reads the history file; a missing file is an empty history.
// An empty name keeps the history in memory only.
func LoadHistory(file string) (*History, error) {
	h := &History{file: file}
	if file == "" {
		return h, nil
	}
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e string
		if json.Unmarshal(sc.Bytes(), &e) == nil && e != "" {
			h.entries = append(h.entries, e)
		}
	}
	if over := len(h.entries) - maxHistory; over > 0 {
		h.entries = h.entries[over:]
	}
	return h, sc.Err()
}

// Len is the number of entries.
func (h *History) Len() int { return len(h.entries) }

// At returns entry i, oldest first.
func (h *History) At(i int) string { return h.entries[i] }

// Add appends an entry (not a blank one, nor a repeat of the last) and
// saves it.
func (h *History) Add(entry string) error {
	entry = strings.TrimRight(entry, " \t\n")
	if strings.TrimSpace(entry) == "" || len(h.entries) > 0 && h.entries[len(h.entries)-1] == entry {
		return nil
	}
	h.entries = append(h.entries, entry)
	if h.file == "" {
		return nil
	}
	var err error
	if len(h.entries) > maxHistory {
		h.entries = h.entries[len(h.entries)-maxHistory:]
		err = h.rewrite()
	} else {
		err = h.append(entry)
	}
	if err != nil {
		// Said once: the session goes on with its history in memory.
		file := h.file
		h.file = ""
		return fmt.Errorf("history not saved to %s: %v; it is kept for this session only", file, err)
	}
	return nil
}

func (h *History) append(entry string) error {
	if err := os.MkdirAll(filepath.Dir(h.file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(h.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(entry)
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (h *History) rewrite() error {
	var b strings.Builder
	for _, e := range h.entries {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	tmp := h.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, h.file)
}
