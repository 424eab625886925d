package gcp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// storageFor resolves a call's connection and returns its client.
func (p *plugin) storageFor(ctx context.Context, c *sdk.Call) (*storage.Client, conn, error) {
	cn, err := p.connFor(c, envStorageEmulator)
	if err != nil {
		return nil, conn{}, err
	}
	cl, err := p.storageClient(ctx, cn)
	if err != nil {
		return nil, conn{}, errors.New(describeErr(err, jobRef{}))
	}
	return cl, cn, nil
}

// object reads bucket= and blob=.
func object(c *sdk.Call) (bucket, blob string, err error) {
	bucket, blob = c.String("bucket"), c.String("blob")
	if bucket == "" {
		return "", "", errors.New("bucket must be a non-empty string")
	}
	if strings.HasPrefix(bucket, "gs://") {
		return "", "", fmt.Errorf("bucket %q: give the bucket's name, without gs://", bucket)
	}
	if blob == "" {
		return "", "", errors.New("blob must be a non-empty string")
	}
	return bucket, blob, nil
}

// gcsErr describes a Cloud Storage failure on uri (gs://bucket/blob) in
// one line.
func gcsErr(uri string, err error) error {
	switch {
	case errors.Is(err, storage.ErrBucketNotExist):
		return fmt.Errorf("%s: the bucket does not exist (create it, or pass create_bucket=True to gcs_upload)", uri)
	case errors.Is(err, storage.ErrObjectNotExist):
		return fmt.Errorf("%s: no such object (gcs_list shows what there is)", uri)
	}
	kind, msg, hint := classify(err)
	switch kind {
	case "not found":
		hint = "check the bucket's name; gcs_upload(create_bucket=True) creates a missing bucket"
	case "permission denied":
		hint = "grant the account a Cloud Storage role on the bucket (roles/storage.objectAdmin, or objectViewer to read)"
	}
	return fmt.Errorf("%s: %s", uri, oneLine(joinKind(kind, msg, hint)))
}

// upload is gcs_upload: data= (a string or bytes, sent from the value
// itself) or path= (a local file, streamed), optionally gzipped on the way.
func (p *plugin) upload(ctx context.Context, c *sdk.Call) (any, error) {
	bucket, blob, err := object(c)
	if err != nil {
		return nil, err
	}
	src, size, err := uploadSource(c)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	cl, cn, err := p.storageFor(ctx, c)
	if err != nil {
		return nil, err
	}
	uri := "gs://" + bucket + "/" + blob
	if c.Bool("create_bucket") {
		if err := createBucket(ctx, cl, cn.project, bucket); err != nil {
			return nil, gcsErr("gs://"+bucket, err)
		}
	}
	n, err := write(ctx, c, cl.Bucket(bucket).Object(blob), src)
	if err != nil {
		return nil, gcsErr(uri, err)
	}
	if c.Bool("gzip") {
		c.Logf("uploaded %s (%d bytes, %d gzipped)", uri, size, n)
	} else {
		c.Logf("uploaded %s (%d bytes)", uri, n)
	}
	return uri, nil
}

// uploadSource opens data= or path=, and tells its size.
func uploadSource(c *sdk.Call) (io.ReadCloser, int64, error) {
	data, path := c.Args["data"], c.Args["path"]
	if (data == nil) == (path == nil) {
		return nil, 0, errors.New("give either data= (a string or bytes) or path= (a local file)")
	}
	switch d := data.(type) {
	case string:
		return io.NopCloser(strings.NewReader(d)), int64(len(d)), nil
	case []byte:
		return io.NopCloser(bytes.NewReader(d)), int64(len(d)), nil
	case nil:
	default:
		return nil, 0, fmt.Errorf("data must be a string or bytes, got %s", typeName(d))
	}
	name, ok := path.(string)
	if !ok || name == "" {
		return nil, 0, fmt.Errorf("path must be a file name, got %s", typeName(path))
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("path %s is a directory", name)
	}
	return f, st.Size(), nil
}

func createBucket(ctx context.Context, cl *storage.Client, project, bucket string) error {
	if project == "" {
		return fmt.Errorf("create_bucket needs a project: pass project=, credentials with a project_id, or set $%s", envProject)
	}
	err := cl.Bucket(bucket).Create(ctx, project, nil)
	if isConflict(err) {
		return nil // it exists already: that is what we wanted
	}
	return err
}

func isConflict(err error) bool {
	if err == nil {
		return false
	}
	kind, _, _ := classify(err)
	return kind == "already exists"
}

// write streams src into the object, gzipping it on the way with gzip=True;
// it returns the bytes stored. The storage client sends it in chunks of at
// most 16 MiB: src is never held whole a second time.
func write(ctx context.Context, c *sdk.Call, obj *storage.ObjectHandle, src io.Reader) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // an unfinished upload is abandoned, not committed
	w := obj.NewWriter(ctx)
	ct, err := optString(c, "content_type")
	if err != nil {
		return 0, err
	}
	if ct == "" {
		// By the name, as the content says little once gzipped; else the
		// client sniffs the first bytes.
		ct = mime.TypeByExtension(filepath.Ext(strings.TrimSuffix(obj.ObjectName(), ".gz")))
	}
	w.ContentType = ct
	counter := &countingWriter{w: w}
	var dst io.Writer = counter
	var zw *gzip.Writer
	if c.Bool("gzip") {
		w.ContentEncoding = "gzip"
		zw = gzip.NewWriter(counter)
		dst = zw
	}
	if _, err := io.Copy(dst, src); err != nil {
		return 0, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return 0, err
		}
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return counter.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

// download is gcs_download: the object as text or bytes, or into a file.
func (p *plugin) download(ctx context.Context, c *sdk.Call) (any, error) {
	bucket, blob, err := object(c)
	if err != nil {
		return nil, err
	}
	path, err := optString(c, "path")
	if err != nil {
		return nil, err
	}
	cl, _, err := p.storageFor(ctx, c)
	if err != nil {
		return nil, err
	}
	uri := "gs://" + bucket + "/" + blob
	r, err := cl.Bucket(bucket).Object(blob).ReadCompressed(!c.Bool("decompress")).NewReader(ctx)
	if err != nil {
		return nil, gcsErr(uri, err)
	}
	keep := false // r goes on in the returned stream
	defer func() {
		if !keep {
			r.Close()
		}
	}()
	if path != "" {
		n, err := toFile(r, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", uri, err)
		}
		c.Logf("downloaded %s to %s (%d bytes)", uri, path, n)
		return path, nil
	}
	size := r.Attrs.Size
	if r.Attrs.Decompressed {
		size = 0 // the stored (compressed) size says little
	}
	// The object passes through to wfsh in chunks as it is read: the
	// plugin never holds it whole. r is closed when the stream ends.
	keep = true
	return sdk.Stream{R: newDownload(r, uri, !c.Bool("as_bytes"), c), Size: size, Text: !c.Bool("as_bytes")}, nil
}

// toFile streams r into path through a temporary file in the same
// directory, renamed when complete: a failed download leaves no partial
// file behind.
func toFile(r io.Reader, path string) (int64, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return n, err
}

// list is gcs_list.
func (p *plugin) list(ctx context.Context, c *sdk.Call) (any, error) {
	bucket := c.String("bucket")
	if bucket == "" || strings.HasPrefix(bucket, "gs://") {
		return nil, fmt.Errorf("bucket must be a bucket's name (without gs://), got %q", bucket)
	}
	q := &storage.Query{}
	var err error
	for name, into := range map[string]*string{"prefix": &q.Prefix, "delimiter": &q.Delimiter, "match_glob": &q.MatchGlob} {
		if *into, err = optString(c, name); err != nil {
			return nil, err
		}
	}
	limit := int64(-1)
	if v := c.Args["max_results"]; v != nil {
		if _, ok := v.(int64); !ok || c.Int("max_results") < 0 {
			return nil, errors.New("max_results must be an int, 0 or more")
		}
		limit = c.Int("max_results")
	}
	cl, _, err := p.storageFor(ctx, c)
	if err != nil {
		return nil, err
	}
	details := c.Bool("details")
	if !details {
		_ = q.SetAttrSelection([]string{"Name"})
	}
	out := []any{}
	it := cl.Bucket(bucket).Objects(ctx, q)
	for limit < 0 || int64(len(out)) < limit {
		a, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, gcsErr("gs://"+bucket+"/"+q.Prefix, err)
		}
		out = append(out, listEntry(a, details))
	}
	return out, nil
}

// listEntry is a name (or, for a delimiter's sub-prefix, the prefix), or
// with details a dict of the object's attributes.
func listEntry(a *storage.ObjectAttrs, details bool) any {
	name := a.Name
	if name == "" {
		name = a.Prefix
	}
	if !details {
		return name
	}
	if a.Name == "" {
		return map[string]any{"name": a.Prefix, "prefix": true}
	}
	return map[string]any{
		"name":             a.Name,
		"size":             a.Size,
		"updated":          a.Updated.UTC().Format(time.RFC3339Nano),
		"content_type":     a.ContentType,
		"content_encoding": a.ContentEncoding,
		"md5":              hex.EncodeToString(a.MD5),
		"generation":       a.Generation,
	}
}
