// Command image assembles the wfsh OCI image from static executables,
// without a container engine (`make image`): google/go-containerregistry
// builds the layers and the config, and writes an OCI image layout, a
// tarball that `docker load` and `podman load` take, and, with --push, the
// image to a registry. See docs/kubernetes.md, "The wfsh image".
//
//	go run ./scripts/image -o bin/image -tar bin/wfsh-image.tar [-push REG/wfsh:TAG] bin/wfsh bin/wfsh-full bin/wfsh-plugin-gcp ...
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed parts.
const (
	BinDir  = "/usr/local/bin"
	Home    = "/var/lib/wfsh" // WFSH_HOME: the chart mounts a volume here
	UID     = 10001
	CAFile  = "/etc/ssl/certs/ca-certificates.crt"
	Default = "wfsh:latest"
)

// Options say what goes into the image.
type Options struct {
	Binaries []string // executables, put in BinDir under their base names
	CACerts  string   // the host's CA bundle, copied to CAFile
	Version  string   // the label org.opencontainers.image.version
	Revision string   // the label org.opencontainers.image.revision
	Created  time.Time
}

// epoch is the time of every file in the layers, so that the same
// executables make the same image (the same digest).
var epoch = time.Unix(0, 0).UTC()

// Build makes the image: a layer of the base files (CA certificates, the
// user in /etc/passwd and /etc/group, /tmp and the home), a layer of the
// executables, and the config: wfsh as the entrypoint, the non-root user,
// the labels.
func Build(o Options) (v1.Image, error) {
	ca, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	base := []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: CAFile[1:], mode: 0o644, data: ca},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nwfsh:x:%d:%d:wfsh:%s:/sbin/nologin\n", UID, UID, Home)},
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nwfsh:x:%d:\n", UID)},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "var/", mode: 0o755, dir: true},
		{name: "var/lib/", mode: 0o755, dir: true},
		{name: Home[1:] + "/", mode: 0o700, dir: true, uid: UID},
	}
	bins := []file{{name: "usr/", mode: 0o755, dir: true}, {name: "usr/local/", mode: 0o755, dir: true}, {name: BinDir[1:] + "/", mode: 0o755, dir: true}}
	seen := map[string]bool{}
	for _, b := range o.Binaries {
		data, err := os.ReadFile(b)
		if err != nil {
			return nil, err
		}
		n := filepath.Base(b)
		if seen[n] {
			return nil, fmt.Errorf("two executables named %s", n)
		}
		seen[n] = true
		bins = append(bins, file{name: path.Join(BinDir[1:], n), mode: 0o755, data: data})
	}
	if seen["wfsh"] && !seen["wfsh-full"] {
		return nil, fmt.Errorf("wfsh without wfsh-full: the light wfsh hands the server, the worker and flows with plugins to wfsh-full beside it (make image builds both)")
	}
	var layers []v1.Layer
	for _, fs := range [][]file{base, bins} {
		l, err := layer(fs)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layers...)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	if a := os.Getenv("GOARCH"); a != "" {
		cf.Architecture = a
	}
	cf.Created = v1.Time{Time: o.Created.UTC()}
	cf.Config = v1.Config{
		Entrypoint: []string{BinDir + "/wfsh"},
		Cmd:        []string{"--help"},
		User:       fmt.Sprintf("%d:%d", UID, UID),
		WorkingDir: Home,
		Env: []string{
			"PATH=" + BinDir + ":/usr/bin:/bin",
			"WFSH_HOME=" + Home,
			"SSL_CERT_FILE=" + CAFile,
		},
		ExposedPorts: map[string]struct{}{"4200/tcp": {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "wfsh",
			"org.opencontainers.image.description": "wfsh, its plugin executables and CA certificates; no shell",
			"org.opencontainers.image.source":      "https://github.com/wfsh/wfsh",
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.revision":    o.Revision,
			"org.opencontainers.image.licenses":    "Apache-2.0",
		},
	}
	return mutate.ConfigFile(img, cf)
}

type file struct {
	name string
	mode int64
	dir  bool
	uid  int
	data []byte
}

// layer makes an uncompressed tar of files, in order, owned by root
// unless said, and gzips it.
func layer(fs []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range fs {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Uid: f.uid, Gid: f.uid, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching) // gzip once, not at every read
}

// Write puts img in an OCI image layout at dir (replacing it), tagged ref
// in its index, and, if tarPath is not empty, in a tarball tagged ref.
func Write(img v1.Image, ref, dir, tarPath string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			return err
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag.String()})); err != nil {
			return err
		}
	}
	if tarPath != "" {
		return tarball.WriteToFile(tarPath, tag, img)
	}
	return nil
}

func main() {
	var o Options
	var out, tarPath, ref, push string
	flag.StringVar(&out, "o", "bin/image", "the OCI image layout to write")
	flag.StringVar(&tarPath, "tar", "bin/wfsh-image.tar", "the tarball to write (docker/podman load); empty: none")
	flag.StringVar(&ref, "tag", Default, "the image's name in the layout and the tarball")
	flag.StringVar(&push, "push", "", "also push the image to this reference (REGISTRY/REPO:TAG), with the credentials of ~/.docker/config.json")
	flag.StringVar(&o.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle to copy in")
	flag.StringVar(&o.Version, "version", "dev", "the version label")
	flag.StringVar(&o.Revision, "revision", "", "the revision label (a commit)")
	flag.Parse()
	o.Binaries = flag.Args()
	o.Created = epoch
	if len(o.Binaries) == 0 {
		fmt.Fprintln(os.Stderr, "usage: image [flags] EXECUTABLE...")
		os.Exit(2)
	}
	sort.Strings(o.Binaries)
	img, err := Build(o)
	if err == nil {
		err = Write(img, ref, out, tarPath)
	}
	if err == nil && push != "" {
		err = Push(img, push)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	d, _ := img.Digest()
	fmt.Printf("%s %s (layout %s, tarball %s)\n", ref, d, out, tarPath)
}

// Push writes img to ref.
func Push(img v1.Image, ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithAuthFromKeychain(authn.DefaultKeychain))
}
