// Package helm holds the tests of the wfsh Helm chart (the chart is
// wfsh/ beside this file). They need a Kubernetes API server, so they
// are in the k8s tier (build tag k8s_integration, `make test-k8s`): the
// chart is linted, rendered for each value set and applied as a
// server-side dry run, installed, upgraded and uninstalled with the Helm
// SDK, and its workers' RBAC checked by SubjectAccessReview. The package
// itself has no code: the unit tier does not compile the Helm SDK.
package helm
