// Lab patch 1 (lab/components/ingress.mjs): the nested module github.com/traefik/traefik/dynamic/ext, which traefik
// v3.7.13's go.mod replaces with ./pkg/config/dynamic/ext, is missing from the module's zip and not served on its own.
// Upstream it declares empty extension points that the dynamic configuration embeds; this file declares the same.
package ext

// HTTP is embedded in dynamic.HTTPConfiguration: no extra fields.
type HTTP struct{}

// Router is embedded in dynamic.Router: no extra fields.
type Router struct{}

// RouterIng is a router's extension read from Ingress annotations: no extra fields.
type RouterIng struct{}

// ToRouter gives the router extension for these annotations (none).
func (r *RouterIng) ToRouter() Router { return Router{} }
