//go:build tools

// Package tools pins the command this wrapper module builds; it is never compiled into anything.
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
