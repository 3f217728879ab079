// Package deploy holds the container and Kubernetes deployment files of
// Countersign (kubernetes/, ../Dockerfile); it has no code, only tests that
// check the manifests parse, carry the security settings, and agree with
// the configuration and the binary.
package deploy
