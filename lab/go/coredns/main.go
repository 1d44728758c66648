// Command coredns is the lab cluster's DNS server: CoreDNS with only the plugins a Kubernetes cluster DNS needs
// (CoreDNS's documented way to embed it: choose the directives, import their plugins, run coremain). Leaving out the
// cloud plugins (route53, azure, clouddns, ...) keeps the build small. Started by lab/components/node.mjs.
package main

import (
	"fmt"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"
)

// directives in execution order: the same relative order as CoreDNS's own plugin.cfg.
var directives = []string{
	"reload", "bind", "ready", "health", "errors", "log", "loadbalance", "cache",
	"hosts", "kubernetes", "loop", "forward", "whoami",
}

func main() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintln(os.Stderr, "coredns:", err)
		os.Exit(2)
	}
	coremain.Run()
}
