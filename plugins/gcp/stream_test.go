package gcp

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// pieces reads b in reads of at most k bytes, as a network body may come.
type pieces struct {
	b []byte
	k int
}

func (p *pieces) Read(out []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(out[:min(len(out), p.k)], p.b)
	p.b = p.b[n:]
	return n, nil
}

// TestDownloadTextCheck: the UTF-8 check of a streamed text download sees
// runes cut between reads anywhere, passes valid text unchanged, and
// fails invalid text wherever the bad bytes fall.
func TestDownloadTextCheck(t *testing.T) {
	valid := strings.Repeat("trip 42, héllo 世界 🚲 \uFFFD\n", 5)
	for _, tc := range []struct {
		name string
		text string
		ok   bool
	}{
		{"valid", valid, true},
		{"empty", "", true},
		{"invalid byte", valid + "\xff" + valid, false},
		{"cut at the end", valid + "世"[:2], false},
		{"start without continuation", valid + "\xe4A" + valid, false},
		{"stray continuation", "\x80" + valid, false},
		{"overlong", valid + "\xc0\xaf", false},
		{"surrogate", valid + "\xed\xa0\x80", false},
	} {
		for k := 1; k <= 9; k++ {
			d := newDownload(io.NopCloser(&pieces{[]byte(tc.text), k}), "gs://b/o", true, &sdk.Call{})
			got, err := io.ReadAll(d)
			if tc.ok {
				if err != nil || string(got) != tc.text {
					t.Errorf("%s in reads of %d: %v (%d of %d bytes)", tc.name, k, err, len(got), len(tc.text))
				}
				continue
			}
			if err == nil || !strings.Contains(err.Error(), "gs://b/o is not UTF-8 text: pass as_bytes=True") {
				t.Errorf("%s in reads of %d: err = %v, want the UTF-8 error", tc.name, k, err)
			}
		}
	}
}

// TestLargeDownloadThroughPlugin: objects of several chunks come back
// through a real plugin process whole: text with runes cut at every chunk
// boundary, bytes, and a binary object asked for as text fails with the
// hint.
func TestLargeDownloadThroughPlugin(t *testing.T) {
	text := strings.Repeat("ä世🚲x", 3<<20/10) // 4-, 3-, 2- and 1-byte runes across every boundary
	bin := bytes.Repeat([]byte{0, 1, 0xff, 0xfe, 7}, 3<<20/5)
	srv := fakeGCS(t,
		fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: "big.txt"}, Content: []byte(text)},
		fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: "big.bin"}, Content: bin},
	)
	ctx := ctxFor(t, time.Minute)
	got, lines, err := callPlugin(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "b", "blob", "big.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := got.(string); s != text {
		t.Errorf("text download: got %T of %d bytes, want the %d bytes stored", got, len(s), len(text))
	}
	if want := fmt.Sprintf("downloaded gs://b/big.txt (%d bytes)", len(text)); len(lines) != 1 || lines[0].text != want {
		t.Errorf("log lines %v, want %q", lines, want)
	}
	got, _, err = callPlugin(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "b", "blob", "big.bin", "as_bytes", true))
	if b, _ := got.([]byte); err != nil || !bytes.Equal(b, bin) {
		t.Errorf("bytes download: %v, %d bytes, want %d", err, len(b), len(bin))
	}
	_, _, err = callPlugin(t, ctx, "gcs_download", gcsArgs(srv, "bucket", "b", "blob", "big.bin"))
	if err == nil || !strings.Contains(err.Error(), "gs://b/big.bin is not UTF-8 text: pass as_bytes=True") {
		t.Errorf("binary as text: err = %v", err)
	}
}
