package gcp

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// download is what gcs_download streams to wfsh when it returns the object
// as a value: the object's reader, with its errors made gcsErr's one line,
// the text checked as it passes (a string must be UTF-8), and the
// "downloaded" line logged at its end.
type download struct {
	r    io.ReadCloser
	uri  string
	text bool
	call *sdk.Call
	n    int64

	tail  [utf8.UTFMax]byte // a rune cut by the end of the last read
	ntail int
}

func newDownload(r io.ReadCloser, uri string, text bool, c *sdk.Call) *download {
	return &download{r: r, uri: uri, text: text, call: c}
}

func (d *download) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += int64(n)
	if d.text && !d.validText(p[:n], errors.Is(err, io.EOF)) {
		return n, fmt.Errorf("%s is not UTF-8 text: pass as_bytes=True (or path= to save it)", d.uri)
	}
	switch {
	case errors.Is(err, io.EOF):
		d.call.Logf("downloaded %s (%d bytes)", d.uri, d.n)
	case err != nil:
		err = gcsErr(d.uri, err)
	}
	return n, err
}

func (d *download) Close() error { return d.r.Close() }

// validText reports whether b, following what was read before, is still
// UTF-8 text. A rune cut at b's end is kept for the next read; at the end
// of the object (last) it is an error.
func (d *download) validText(b []byte, last bool) bool {
	// First finish the rune the previous read cut.
	for d.ntail > 0 && len(b) > 0 {
		d.tail[d.ntail] = b[0]
		d.ntail++
		b = b[1:]
		if utf8.FullRune(d.tail[:d.ntail]) {
			if _, size := utf8.DecodeRune(d.tail[:d.ntail]); size != d.ntail {
				return false // invalid, or a complete rune then a byte it did not take
			}
			d.ntail = 0
		}
	}
	if d.ntail > 0 { // b ended inside the rune
		return !last
	}
	// Keep a rune this read cuts for the next one.
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(b[:cut]) {
		return false
	}
	d.ntail = copy(d.tail[:], b[cut:])
	return !last || d.ntail == 0
}
