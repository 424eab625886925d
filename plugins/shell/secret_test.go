//go:build unix

package shell

import (
	"slices"
	"strings"
	"testing"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
	"github.com/wfsh/wfsh/runtime"
)

// testKey is shaped like a service-account key's private_key: a PEM block.
const testKey = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj
MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu
NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ
-----END PRIVATE KEY-----
`

// TestMultiLineSecretMasked: a private key held in one secret, echoed by a
// real bash one line at a time to stdout and stderr (and so into the
// failure's stderr tail), shows no line of it once the run's redactor has
// masked what the plugin streamed, as the executor masks every log line.
func TestMultiLineSecretMasked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a plugin process")
	}
	red := &runtime.Redactor{}
	red.Add(testKey)
	_, lines, err := callPlugin(t, map[string]any{
		"env":     map[string]any{"KEY": testKey},
		"command": `printf '%s\n' "$KEY"; echo "key: $KEY" >&2; printf '%s' "$KEY" | sed 's/^/  > /' >&2; exit 3`})
	if err == nil {
		t.Fatal("the command's exit 3 was not an error")
	}
	if len(lines) < 3*5 {
		t.Fatalf("streamed %d lines, want the key's 5 lines three times", len(lines))
	}
	var shown, stdout []string
	for _, l := range lines {
		shown = append(shown, red.Redact(l.text))
		if l.level == pb.LogLine_INFO {
			stdout = append(stdout, red.Redact(l.text))
		}
	}
	shown = append(shown, red.Redact(err.Error()))
	for _, keyLine := range strings.Split(strings.TrimSpace(testKey), "\n") {
		for _, s := range shown {
			if strings.Contains(s, keyLine) {
				t.Errorf("a line of the key, %q, is shown: %q", keyLine, s)
			}
		}
	}
	// Stdout's lines come in order (stderr's may come between them): the
	// key's five, then the empty line after its final newline.
	if want := []string{runtime.Mask, runtime.Mask, runtime.Mask, runtime.Mask, runtime.Mask, ""}; !slices.Equal(stdout, want) {
		t.Errorf("stdout shows %q, want %q", stdout, want)
	}
}
