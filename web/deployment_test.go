package web

import (
	"strings"
	"testing"
)

// TestDeploymentPage: a deployment's page lists its Scheduled run as
// upcoming and its others as recent, through the API.
func TestDeploymentPage(t *testing.T) {
	f := newFixture(t)
	f.deploy(t)
	up := f.runOf(t, `{"who":"x"}`)
	c := f.browser(t)
	f.login(t, c, f.admin.Token)
	code, body := get(t, c, f.http.URL, "/deployments/F/nightly")
	if code != 200 || !strings.Contains(body, `<a href="/runs/`+up.ID+`">`) {
		t.Fatalf("%d\n%s", code, body)
	}
}
