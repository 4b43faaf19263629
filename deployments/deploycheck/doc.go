// Package deploycheck holds the tests that load docker-compose.yml and render the Kubernetes
// manifests, in a module of its own so the services and e2e never pull in Kubernetes.
package deploycheck
