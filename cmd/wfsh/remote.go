package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wfsh/wfsh/store"
)

// remoteFlags name the server a command talks to: --server, else
// WFSH_SERVER, else the profile `wfsh login` wrote; the token likewise
// (--token, WFSH_TOKEN, the profile).
type remoteFlags struct {
	server, token string
}

func (r *remoteFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&r.server, "server", "", "the wfsh server (default $WFSH_SERVER, else the profile of wfsh login)")
	fl.StringVar(&r.token, "token", "", "the API token (default $WFSH_TOKEN, else the profile's)")
}

// profile is what `wfsh login` keeps: a server and its token.
type profile struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

func profilePath() (string, error) {
	p, err := store.DefaultPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), "profile.json"), nil
}

func readProfile() profile {
	var p profile
	path, err := profilePath()
	if err != nil {
		return p
	}
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &p)
	}
	return p
}

// resolve fills the server and token from the environment and profile.
func (r *remoteFlags) resolve() remoteFlags {
	out := *r
	if out.server == "" {
		out.server = os.Getenv("WFSH_SERVER")
	}
	if out.token == "" {
		out.token = os.Getenv("WFSH_TOKEN")
	}
	if out.server == "" || out.token == "" {
		p := readProfile()
		if out.server == "" {
			out.server = p.Server
		}
		if out.token == "" && out.server == p.Server {
			out.token = p.Token
		}
	}
	return out
}

// active reports whether a server is named: the commands that read the
// local store then read the server.
func (r *remoteFlags) active() bool { return r.resolve().server != "" }

// isDeploymentRef reports whether arg names a deployment, FLOW/NAME,
// rather than a flow file: it has one slash, is no .star file and no file
// of that name exists.
func isDeploymentRef(arg string) bool {
	if strings.HasSuffix(arg, ".star") || strings.Count(arg, "/") != 1 {
		return false
	}
	_, err := os.Stat(arg)
	return err != nil
}

// shortHash is the first 12 digits of a hash.
func shortHash(h string) string { return h[:min(12, len(h))] }
