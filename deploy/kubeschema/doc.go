// Package kubeschema checks the Kubernetes manifests of deploy/kubernetes
// and the objects the Helm chart deploy/helm/countersign renders against
// the Kubernetes API types (k8s.io/api), decoding strictly: an unknown or
// misspelt field, a wrong type or an unknown kind fails. It is a module of
// its own so that the k8s.io modules stay out of Countersign's build;
// .ci/run runs its tests. kubeconform would check the published OpenAPI
// schemas instead, but it downloads them from GitHub, which CI cannot
// reach.
package kubeschema
