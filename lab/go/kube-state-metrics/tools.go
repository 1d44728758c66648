//go:build tools

// Package tools pins the command this wrapper module builds; it is never compiled into anything.
package tools

import _ "k8s.io/kube-state-metrics/v2"
