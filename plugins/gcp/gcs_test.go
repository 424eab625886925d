package gcp

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// These tests talk to fake-gcs-server, in-process but over real TCP on
// 127.0.0.1, through the real Cloud Storage client.

func gcsArgs(srv gcsServer, kv ...any) map[string]any {
	args := map[string]any{"endpoint": srv.URL()}
	for i := 0; i < len(kv); i += 2 {
		args[kv[i].(string)] = kv[i+1]
	}
	return args
}

func TestUploadDownloadText(t *testing.T) {
	srv := fakeGCS(t)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "bikeshare"})
	ctx := ctxFor(t, time.Minute)
	text := "trip_id,duration_minutes\n1,12\n2,7\n"
	uri, err := callFn(t, ctx, "gcs_upload", gcsArgs(srv, "bucket", "bikeshare", "blob", "2020-11-30/trips.csv", "data", text, "content_type", "text/csv"))
	if err != nil {
		t.Fatal(err)
	}
	if uri != "gs://bikeshare/2020-11-30/trips.csv" {
		t.Errorf("upload returned %v", uri)
	}
	// What the server holds, seen without our client.
	obj, err := srv.GetObject("bikeshare", "2020-11-30/trips.csv")
	if err != nil {
		t.Fatal(err)
	}
	if string(obj.Content) != text || obj.ContentType != "text/csv" {
		t.Errorf("server holds %q (%s), want %q (text/csv)", obj.Content, obj.ContentType, text)
	}
	got, err := callFn(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "bikeshare", "blob", "2020-11-30/trips.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if got != text {
		t.Errorf("download = %#v, want %q", got, text)
	}
}

func TestDownloadBytes(t *testing.T) {
	bin := []byte{0x1f, 0x8b, 0xff, 0x00, 'a', 0xfe}
	srv := fakeGCS(t, fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: "blob.bin"}, Content: bin})
	ctx := ctxFor(t, time.Minute)
	_, err := callFn(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "b", "blob", "blob.bin"))
	if err == nil || !strings.Contains(err.Error(), "gs://b/blob.bin is not UTF-8 text: pass as_bytes=True") {
		t.Errorf("download of binary as text: err = %v", err)
	}
	got, err := callFn(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "b", "blob", "blob.bin", "as_bytes", true))
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := got.([]byte); !ok || !bytes.Equal(b, bin) {
		t.Errorf("download as bytes = %#v, want %v", got, bin)
	}
	// Bytes upload, and an empty object.
	for _, data := range [][]byte{bin, {}} {
		if _, err := callFn(t, ctx, "gcs_upload", gcsArgs(srv, "bucket", "b", "blob", "copy.bin", "data", data)); err != nil {
			t.Fatal(err)
		}
		obj, err := srv.GetObject("b", "copy.bin")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(obj.Content, data) {
			t.Errorf("uploaded %v, server holds %v", data, obj.Content)
		}
	}
}

// TestGzip: gzip=True compresses on the way and stores the object with
// Content-Encoding: gzip (which BigQuery's loads and the emulator need);
// a download gunzips it unless decompress=False.
func TestGzip(t *testing.T) {
	srv := fakeGCS(t)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "b"})
	ctx := ctxFor(t, time.Minute)
	text := strings.Repeat("station_id,name\n3798,21st & Speedway @PCL\n", 200)
	if _, err := callFn(t, ctx, "gcs_upload", gcsArgs(srv, "bucket", "b", "blob", "stations.csv.gz", "data", text, "gzip", true)); err != nil {
		t.Fatal(err)
	}
	obj, err := srv.GetObject("b", "stations.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	if obj.ContentEncoding != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", obj.ContentEncoding)
	}
	if len(obj.Content) >= len(text) || gunzip(t, obj.Content) != text {
		t.Errorf("stored %d bytes that do not gunzip to the %d bytes uploaded", len(obj.Content), len(text))
	}
	got, err := callFn(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "b", "blob", "stations.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if got != text {
		t.Errorf("download of a gzip object: got %d bytes, want the %d decompressed", len(got.(string)), len(text))
	}
	raw, err := callFn(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "b", "blob", "stations.csv.gz", "decompress", false, "as_bytes", true))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw.([]byte), obj.Content) {
		t.Errorf("decompress=False: got %d bytes, want the %d stored", len(raw.([]byte)), len(obj.Content))
	}
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestFiles: path= uploads from and downloads to local files, streamed,
// with an object larger than the client's 16 MiB upload chunk; a failed
// download leaves no file behind.
func TestFiles(t *testing.T) {
	srv := fakeGCS(t)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "b"})
	ctx := ctxFor(t, 2*time.Minute)
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	data := make([]byte, 20<<20)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := callFn(t, ctx, "gcs_upload", gcsArgs(srv, "bucket", "b", "blob", "big.bin", "path", src)); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "out", "copy.bin")
	if err := os.Mkdir(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := callFn(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "b", "blob", "big.bin", "path", dst))
	if err != nil {
		t.Fatal(err)
	}
	if got != dst {
		t.Errorf("download returned %v, want the path %s", got, dst)
	}
	out, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(out) != sha256.Sum256(data) {
		t.Errorf("downloaded file (%d bytes) differs from the uploaded one (%d bytes)", len(out), len(data))
	}
	_, err = callFn(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "b", "blob", "nosuch.bin", "path", filepath.Join(dir, "out", "nosuch.bin")))
	if err == nil || !strings.Contains(err.Error(), "gs://b/nosuch.bin: no such object") {
		t.Errorf("download of a missing object: err = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dst))
	if len(entries) != 1 {
		t.Errorf("download dir holds %d entries, want just copy.bin: %v", len(entries), entries)
	}
	_, err = callFn(t, ctx, "gcs_upload", gcsArgs(srv, "bucket", "b", "blob", "x", "path", filepath.Join(dir, "missing")))
	if err == nil || !strings.Contains(err.Error(), "open "+filepath.Join(dir, "missing")+": no such file or directory") {
		t.Errorf("upload of a missing file: err = %v", err)
	}
}

func TestList(t *testing.T) {
	var objs []fakestorage.Object
	for _, name := range []string{"bikeshare/2020-11-29/trips.csv.gz", "bikeshare/2020-11-30/stations.csv.gz", "bikeshare/2020-11-30/trips.csv.gz", "other/readme.txt"} {
		objs = append(objs, fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: name, ContentType: "application/gzip"}, Content: []byte(name)})
	}
	srv := fakeGCS(t, objs...)
	ctx := ctxFor(t, time.Minute)
	for _, tc := range []struct {
		args []any
		want []any
	}{
		{nil, []any{"bikeshare/2020-11-29/trips.csv.gz", "bikeshare/2020-11-30/stations.csv.gz", "bikeshare/2020-11-30/trips.csv.gz", "other/readme.txt"}},
		{[]any{"prefix", "bikeshare/2020-11-30/"}, []any{"bikeshare/2020-11-30/stations.csv.gz", "bikeshare/2020-11-30/trips.csv.gz"}},
		{[]any{"prefix", "bikeshare/", "delimiter", "/"}, []any{"bikeshare/2020-11-29/", "bikeshare/2020-11-30/"}},
		{[]any{"max_results", int64(1)}, []any{"bikeshare/2020-11-29/trips.csv.gz"}},
		{[]any{"prefix", "nothing/"}, []any{}},
	} {
		got, err := callFn(t, ctx, "gcs_list", gcsArgs(srv, append([]any{"bucket", "b"}, tc.args...)...))
		if err != nil {
			t.Errorf("gcs_list %v: %v", tc.args, err)
			continue
		}
		if !slices.Equal(got.([]any), tc.want) {
			t.Errorf("gcs_list %v = %v, want %v", tc.args, got, tc.want)
		}
	}
	// fake-gcs-server ignores matchGlob (Cloud Storage filters by it): check
	// that the request carries it.
	if _, err := callFn(t, ctx, "gcs_list", gcsArgs(srv, "bucket", "b", "match_glob", "**/trips.csv.gz")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(srv.requests.String(), "matchGlob=%2A%2A%2Ftrips.csv.gz&") {
		t.Errorf("the listing request did not carry match_glob; requests:\n%s", srv.requests.String())
	}
	got, err := callFn(t, ctx, "gcs_list", gcsArgs(srv, "bucket", "b", "prefix", "other/", "details", true))
	if err != nil {
		t.Fatal(err)
	}
	list := got.([]any)
	if len(list) != 1 {
		t.Fatalf("details: %v", got)
	}
	d := list[0].(map[string]any)
	if d["name"] != "other/readme.txt" || d["size"] != int64(len("other/readme.txt")) || d["content_type"] != "application/gzip" || d["md5"] == "" {
		t.Errorf("details = %v", d)
	}
	if _, err := time.Parse(time.RFC3339Nano, d["updated"].(string)); err != nil {
		t.Errorf("updated: %v", err)
	}
}

func TestBucketErrors(t *testing.T) {
	srv := fakeGCS(t)
	ctx := ctxFor(t, time.Minute)
	_, err := callFn(t, ctx, "gcs_upload", gcsArgs(srv, "bucket", "nobucket", "blob", "x", "data", "x"))
	if err == nil || !strings.Contains(err.Error(), "gs://nobucket/x: not found: ") || !strings.Contains(err.Error(), "create_bucket=True") {
		t.Fatalf("upload to a missing bucket: err = %v", err)
	}
	t.Logf("upload to a missing bucket: %v", err)
	if _, err := callFn(t, ctx, "gcs_upload", gcsArgs(srv, "bucket", "newbucket", "blob", "x", "data", "x", "create_bucket", true, "project", "p")); err != nil {
		t.Fatal(err)
	}
	// Again: the bucket exists now, which is fine.
	if _, err := callFn(t, ctx, "gcs_upload", gcsArgs(srv, "bucket", "newbucket", "blob", "y", "data", "y", "create_bucket", true, "project", "p")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.GetObject("newbucket", "y"); err != nil {
		t.Error(err)
	}
	_, err = callFn(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "nobucket", "blob", "x"))
	if err == nil || !strings.Contains(err.Error(), "gs://nobucket/x: no such object") && !strings.Contains(err.Error(), "bucket does not exist") {
		t.Errorf("download from a missing bucket: err = %v", err)
	}
	_, err = callFn(t, ctx, "gcs_list", gcsArgs(srv, "bucket", "nobucket"))
	if err == nil || !strings.Contains(err.Error(), "gs://nobucket/:") {
		t.Errorf("list of a missing bucket: err = %v", err)
	}
}

func TestArgumentErrors(t *testing.T) {
	srv := fakeGCS(t)
	ctx := ctxFor(t, time.Minute)
	for _, tc := range []struct {
		fn   string
		args []any
		want string
	}{
		{"gcs_upload", []any{"bucket", "b", "blob", "x"}, "give either data= (a string or bytes) or path= (a local file)"},
		{"gcs_upload", []any{"bucket", "b", "blob", "x", "data", "a", "path", "/etc/hostname"}, "give either data="},
		{"gcs_upload", []any{"bucket", "b", "blob", "x", "data", int64(3)}, "data must be a string or bytes, got int"},
		{"gcs_upload", []any{"bucket", "gs://b", "blob", "x", "data", "a"}, `bucket "gs://b": give the bucket's name, without gs://`},
		{"gcs_download", []any{"bucket", "b", "blob", ""}, "blob must be a non-empty string"},
		{"gcs_list", []any{"bucket", "b", "max_results", "3"}, "max_results must be an int, 0 or more"},
		{"gcs_list", []any{"bucket", "b", "endpoint", "::nope"}, `endpoint: "http://::nope" is not a URL or host:port`},
		{"gcs_list", []any{"bucket", "b", "credentials", "{not json"}, `credentials: not valid JSON`},
	} {
		_, err := callFn(t, ctx, tc.fn, gcsArgs(srv, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: err = %v, want %q", tc.fn, tc.args, err, tc.want)
		}
	}
}

// TestUnreachable: a server that is not there is named in the error.
func TestUnreachable(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	_, err := callFn(t, ctx, "gcs_list", map[string]any{"bucket": "b", "endpoint": "http://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "gs://b/: cannot reach http://127.0.0.1:1: ") {
		t.Errorf("err = %v", err)
	}
}

// TestEmulatorEnv: STORAGE_EMULATOR_HOST points a plugin process at the
// emulator with no endpoint= in the flow; the upload's log line reaches the
// calling task.
func TestEmulatorEnv(t *testing.T) {
	srv := fakeGCS(t)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "b"})
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	ctx := ctxFor(t, time.Minute)
	_, lines, err := callPlugin(t, ctx, "gcs_upload", map[string]any{"bucket": "b", "blob": "hello.txt", "data": "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].text != "uploaded gs://b/hello.txt (5 bytes)" {
		t.Errorf("log lines %v", lines)
	}
	got, _, err := callPlugin(t, ctx, "gcs_download", map[string]any{"bucket": "b", "blob": "hello.txt"})
	if err != nil || got != "hello" {
		t.Errorf("download = %v, %v", got, err)
	}
}
