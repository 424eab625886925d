package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/server"
	"github.com/wfsh/wfsh/store"
)

// secretVolume writes files as the kubelet mounts a Secret, and updates
// them as it does: each key a link to ..data/KEY, ..data a link to a
// timestamped directory, swapped at once for a new one.
func secretVolume(t *testing.T, dir string, gen int, files map[string]string) {
	t.Helper()
	stamp := fmt.Sprintf("..2026_12_03_08_00_00.%09d", gen)
	if err := os.MkdirAll(filepath.Join(dir, stamp), 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(dir, stamp, k), []byte(v), 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(stamp, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// TestServerKubernetesPools: wfsh server --kubernetes-pools reads a
// Secret's volume: pool k8s is made of type kubernetes, and its worker
// token from the file reads it; the Secret given a new value and the
// server restarted on the same database: the old token is refused, the
// new one works, and the pool is there once.
func TestServerKubernetesPools(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "server.db")
	first, second := auth.New().Plaintext, auth.New().Plaintext
	dir := filepath.Join(t.TempDir(), "pools")
	secretVolume(t, dir, 1, map[string]string{"k8s": first + "\n"})
	ps := startServer(t, 10*time.Second, db, "--kubernetes-pools", dir)
	w := &server.Client{Base: ps.admin.Base, Token: first}
	var p store.Pool
	if err := w.Do(ctx, "GET", "/pools/k8s", nil, &p); err != nil || p.Type != "kubernetes" {
		t.Fatalf("the pool's worker reads its pool: %+v, %v", p, err)
	}

	ps.cmd.Process.Signal(os.Interrupt)
	ps.cmd.Wait()
	secretVolume(t, dir, 2, map[string]string{"k8s": second})
	ps.restart(t, db, "--kubernetes-pools", dir)
	var all []store.Pool
	deadline := time.Now().Add(10 * time.Second)
	for err := ps.admin.Do(ctx, "GET", "/pools", nil, &all); err != nil; err = ps.admin.Do(ctx, "GET", "/pools", nil, &all) {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted server: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(all) != 1 || all[0].Name != "k8s" {
		t.Errorf("pools %+v; want k8s once", all)
	}
	var ae *server.APIError
	if err := w.Do(ctx, "GET", "/pools/k8s", nil, &p); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("the replaced token: %v, want 401", err)
	}
	w.Token = second
	if err := w.Do(ctx, "GET", "/pools/k8s", nil, &p); err != nil || p.Type != "kubernetes" {
		t.Errorf("the new token: %+v, %v", p, err)
	}
}
