package main

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// executables are the real ones when the k8s tier passes the bin/ it
// built (WFSH_BIN_DIR); otherwise stand-ins (below): building the
// plugins' clients costs minutes the unit tests do not spend.
func executables(t *testing.T) []string {
	names := []string{"wfsh", "wfsh-full", "wfsh-plugin-gcp", "wfsh-plugin-kubernetes", "wfsh-plugin-notify", "wfsh-worker-kubernetes"}
	var out []string
	if dir := os.Getenv("WFSH_BIN_DIR"); dir != "" {
		for _, n := range names {
			out = append(out, filepath.Join(dir, n))
		}
		return out
	}
	// The light wfsh (no server, plugin protocol or cloud clients: a
	// third of the full one's size) stands for the two executables the
	// test runs, and a few bytes for the four it only looks for: gzipping
	// six copies of the full wfsh, twice, then writing and pushing them
	// took this test about four minutes under -race, for nothing the
	// image's layout depends on. The k8s tier runs it again on the real
	// static executables (WFSH_BIN_DIR).
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-tags", "wfshlight", "-o", filepath.Join(dir, "wfsh"), "github.com/wfsh/wfsh/cmd/wfsh")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "wfsh"))
	for _, n := range names {
		p := filepath.Join(dir, "in", n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		content := data
		if !runs[n] {
			content = []byte("stands for " + n + "\n")
		}
		if err := os.WriteFile(p, content, 0o755); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// runs are the executables TestImage runs out of the image.
var runs = map[string]bool{"wfsh": true, "wfsh-worker-kubernetes": true}

func TestImage(t *testing.T) {
	bins := executables(t)
	img, err := Build(Options{Binaries: bins, CACerts: "/etc/ssl/certs/ca-certificates.crt", Version: "v9", Revision: "abc", Created: epoch})
	if err != nil {
		t.Fatal(err)
	}
	// The config.
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if strings.Join(c.Entrypoint, " ") != "/usr/local/bin/wfsh" || c.User != "10001:10001" || c.WorkingDir != Home {
		t.Errorf("entrypoint %q, user %q, workdir %q", c.Entrypoint, c.User, c.WorkingDir)
	}
	if c.Labels["org.opencontainers.image.version"] != "v9" || c.Labels["org.opencontainers.image.revision"] != "abc" || c.Labels["org.opencontainers.image.title"] != "wfsh" {
		t.Errorf("labels %v", c.Labels)
	}
	if !contains(c.Env, "WFSH_HOME="+Home) || !contains(c.Env, "SSL_CERT_FILE="+CAFile) {
		t.Errorf("env %v", c.Env)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("media type %s", mt)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("%d layers, %v", len(layers), err)
	}
	if len(cf.RootFS.DiffIDs) != 2 {
		t.Errorf("diff ids %v", cf.RootFS.DiffIDs)
	}
	files := contents(t, img)
	for _, want := range []string{CAFile, "/etc/passwd", "/usr/local/bin/wfsh", "/usr/local/bin/wfsh-full", "/usr/local/bin/wfsh-plugin-gcp", "/usr/local/bin/wfsh-plugin-kubernetes", "/usr/local/bin/wfsh-plugin-notify", "/usr/local/bin/wfsh-worker-kubernetes"} {
		if _, ok := files[want]; !ok {
			t.Errorf("no %s in the image", want)
		}
	}
	for f := range files {
		if strings.HasSuffix(f, "/sh") || strings.HasSuffix(f, "/bash") {
			t.Errorf("a shell in the image: %s", f)
		}
	}
	if h := files["/usr/local/bin/wfsh"]; h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Errorf("wfsh: mode %o uid %d", h.Mode, h.Uid)
	}
	if h := files[Home]; h.Uid != UID || h.Mode&0o777 != 0o700 {
		t.Errorf("%s: uid %d mode %o", Home, h.Uid, h.Mode)
	}
	if !bytes.Contains(files["/etc/passwd"].data, []byte("wfsh:x:10001:10001:")) {
		t.Errorf("/etc/passwd: %s", files["/etc/passwd"].data)
	}
	ca, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if !bytes.Equal(files[CAFile].data, ca) {
		t.Error("the CA bundle differs from the host's")
	}

	// The executables taken out of the image run.
	dir := t.TempDir()
	for n := range runs {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, files["/usr/local/bin/"+n].data, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(p, "--help").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "wfsh") {
			t.Errorf("%s --help: %v\n%s", n, err, out)
		}
	}

	// The same inputs make the same digest.
	again, err := Build(Options{Binaries: bins, CACerts: "/etc/ssl/certs/ca-certificates.crt", Version: "v9", Revision: "abc", Created: epoch})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds, two digests: %s %s", d1, d2)
	}

	// The layout and the tarball hold it.
	lay, tb := filepath.Join(dir, "layout"), filepath.Join(dir, "image.tar")
	if err := Write(img, "wfsh:test", lay, tb); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != d1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "wfsh:test" {
		t.Errorf("layout index %+v", im.Manifests)
	}
	tag, _ := name.NewTag("wfsh:test")
	fromTar, err := tarball.ImageFromPath(tb, &tag)
	if err != nil {
		t.Fatal(err)
	}
	// A tarball keeps the config and the layers (its manifest is
	// Docker's): the same config digest, the same layers.
	cn1, _ := img.ConfigName()
	if cn, _ := fromTar.ConfigName(); cn != cn1 {
		t.Errorf("tarball config %s, want %s", cn, cn1)
	}
	tl, _ := fromTar.Layers()
	for i, l := range tl {
		a, _ := l.DiffID()
		b, _ := layers[i].DiffID()
		if a != b {
			t.Errorf("tarball layer %d: %s, want %s", i, a, b)
		}
	}

	// Pushed to a registry and pulled back by digest.
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	if err := Push(img, host+"/wfsh/wfsh:v9"); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(host + "/wfsh/wfsh@" + d1.String())
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := pulled.Digest(); d != d1 {
		t.Errorf("pulled %s, pushed %s", d, d1)
	}
	pf := contents(t, pulled)
	if !bytes.Equal(pf["/usr/local/bin/wfsh"].data, files["/usr/local/bin/wfsh"].data) {
		t.Error("the pulled wfsh differs")
	}
	pcf, _ := pulled.ConfigFile()
	if pcf.Config.User != c.User || pcf.Created.Time != epoch {
		t.Errorf("pulled config %+v", pcf.Config)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type entry struct {
	*tar.Header
	data []byte
}

// contents reads every layer, in order, into a map of absolute paths.
func contents(t *testing.T, img v1.Image) map[string]entry {
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			out["/"+strings.TrimSuffix(h.Name, "/")] = entry{h, data}
		}
		rc.Close()
	}
	return out
}

// An image with the light wfsh and no wfsh-full would fail at its first
// `wfsh server`: it is refused when built.
func TestImageNeedsFull(t *testing.T) {
	dir := t.TempDir()
	wfsh := filepath.Join(dir, "wfsh")
	if err := os.WriteFile(wfsh, []byte("#!"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Build(Options{Binaries: []string{wfsh}, CACerts: "/etc/ssl/certs/ca-certificates.crt", Created: epoch})
	if err == nil || !strings.Contains(err.Error(), "wfsh-full") {
		t.Errorf("an image of wfsh alone: %v, want an error naming wfsh-full", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wfsh-full"), []byte("#!"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(Options{Binaries: []string{wfsh, filepath.Join(dir, "wfsh-full")}, CACerts: "/etc/ssl/certs/ca-certificates.crt", Created: epoch}); err != nil {
		t.Errorf("an image of both: %v", err)
	}
}
