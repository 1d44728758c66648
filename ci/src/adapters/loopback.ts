// Reaching a registry on the host's loopback (127.0.0.1:5001, localhost:5000) from inside a Dagger container.
// Containers have their own network namespace: 127.0.0.1 there is the container itself. A loopback registry is
// therefore bound into the container as a host service (the engine tunnels to the host's port) under an alias, and
// references to it are rewritten to that alias. Other registries are left alone.
import { dag, type Container, type Service } from '@dagger.io/dagger'

const LOOPBACK = /^(?:127(?:\.\d{1,3}){3}|localhost|\[::1\])(?::(\d{1,5}))?$/

/** A registry as a container sees it. */
export interface ReachedRegistry {
  /** The container, with the registry bound when it is on the host's loopback. */
  container: Container
  /** The registry host[:port] to use inside the container. */
  host: string
  /** True when the registry is reached through a tunnel to the host: it speaks plain HTTP, tools must allow it. */
  viaHost: boolean
}

/** True when a registry host[:port] names the host's loopback (127.x.x.x, localhost, [::1]). */
export function isLoopback(registry: string): boolean {
  return LOOPBACK.test(registry)
}

/** The alias a loopback registry gets inside containers, e.g. 127.0.0.1:5001 → host-registry-5001. */
export const aliasOf = (registry: string): string => `host-registry-${LOOPBACK.exec(registry)?.[1] ?? '80'}`

/** Makes `registry` (host[:port]) reachable from inside `container`; see ReachedRegistry. */
export function reachRegistry(container: Container, registry: string): ReachedRegistry {
  const m = LOOPBACK.exec(registry)
  if (!m) return { container, host: registry, viaHost: false }
  const port = Number(m[1] ?? 80)
  const hostname = registry.startsWith('[') ? '::1' : registry.split(':')[0]
  const tunnel = dag.host().service([{ frontend: port, backend: port }], { host: hostname })
  keepRunning(tunnel)
  const alias = aliasOf(registry)
  return { container: container.withServiceBinding(alias, tunnel), host: `${alias}:${port}`, viaHost: true }
}

/**
 * Starts the tunnel and keeps it for the session. Bound only by the containers that use it, it stops whenever the last
 * of them ends; the engine (v0.19.10, core/services.go StartWithIO) then dereferences a nil service when another
 * container binds it at that moment, and the whole engine panics: seen when verify ran its cosign checks in parallel.
 * An explicit start holds one binding until the session ends, so the tunnel is never stopping while in use.
 */
function keepRunning(tunnel: Service): void {
  tunnel.start().catch(() => undefined) // a failure shows where the tunnel is used, with the tool's own message
}

/** Rewrites the registry part of an image reference (`from/...` → `to/...`); other references are returned as they are. */
export function rehost(ref: string, from: string, to: string): string {
  return from !== to && ref.startsWith(`${from}/`) ? `${to}${ref.slice(from.length)}` : ref
}

/** Puts a loopback registry's alias back in a tool's message (host-registry-5001:5001 → the registry the caller named). */
export function unalias(text: string, registry: string): string {
  return isLoopback(registry) ? text.split(`${aliasOf(registry)}:${LOOPBACK.exec(registry)?.[1] ?? '80'}`).join(registry) : text
}
