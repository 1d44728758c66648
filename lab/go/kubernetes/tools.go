//go:build tools

// Package tools pins the commands this wrapper module builds; it is never compiled into anything.
// The control plane and etcd are built by lab/components/kubernetes.mjs; kubelet, kube-proxy and the lab's own
// pause program (./pause) by lab/components/node.mjs.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
