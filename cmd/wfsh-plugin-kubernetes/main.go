// Command wfsh-plugin-kubernetes serves the @kubernetes plugin: Kubernetes
// Jobs as tasks, and flow runs as Jobs (`wfsh run --on kubernetes`). wfsh
// starts it when a flow loads "@kubernetes"; it sits next to wfsh (`make
// build` puts both in bin/). See docs/kubernetes.md.
package main

import "github.com/wfsh/wfsh/plugins/kubernetes"

func main() { kubernetes.Main() }
