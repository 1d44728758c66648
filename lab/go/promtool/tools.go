//go:build tools

// Package tools pins the commands this wrapper module builds; it is never compiled into anything.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
