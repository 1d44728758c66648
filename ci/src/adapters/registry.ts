// The edge to container registries: publish and pull with credentials given as a Dagger Secret, errors explained.
import { dag, type Container, type Secret } from '@dagger.io/dagger'

/** Credentials for one registry; the password only ever travels as a Secret. */
export interface RegistryAuth {
  address: string
  username: string
  password: Secret
}

/** The registry host of an image reference ("127.0.0.1:5001/a/b:c" → "127.0.0.1:5001", "alpine" → "docker.io"). */
export function registryOf(ref: string): string {
  const first = ref.split('/')[0]
  const isHost = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
  return isHost ? first : 'docker.io'
}

/**
 * What a registry (or the client talking to it) says when credentials are missing, wrong or lack the right:
 * - 401/403 only as an HTTP status: "401 Unauthorized", "403 Forbidden", "status: 401", "status code 403", "HTTP 401"
 *   (not any 401 or 403 in the text: a tag `pr-403`, a size or a port is no auth failure);
 * - distribution's error messages: UNAUTHORIZED "authentication required" (docker-registry 2.8 with htpasswd answers
 *   every missing or wrong credential with it), DENIED "requested access to the resource is denied" (token registries
 *   such as Docker Hub), and clients' "unauthorized: …", "no basic auth credentials".
 * Other refusals — "permission denied" from a disk, 400 MANIFEST_INVALID, 404 MANIFEST_UNKNOWN, 405 in read-only mode,
 * 5xx — are not auth failures and must not be reported as one.
 */
export const AUTH_FAILURE = new RegExp([
  String.raw`\b40[13] (?:Unauthorized|Forbidden)\b`,
  String.raw`\b(?:status(?: code)?|HTTP(?:\/[\d.]+)?|response code)\s*[:=]?\s*40[13]\b`,
  String.raw`\bunauthori[sz]ed\b`,
  String.raw`\bauthentication required\b`,
  String.raw`\bno basic auth credentials\b`,
  String.raw`\bdenied: requested access to the resource is denied\b`,
].join('|'), 'i')

/** True when a registry error means the credentials were missing, wrong or insufficient. */
export const isAuthFailure = (detail: string): boolean => AUTH_FAILURE.test(detail)

/**
 * Turns a registry failure into one message naming the registry; auth failures say so and what to check.
 * `action` reads like "push of REF", followed by `preposition` ("to" for a push, "from" for a pull) and the registry.
 */
export function explainRegistryError(err: unknown, registry: string, action: string, preposition = 'to'): Error {
  const detail = err instanceof Error ? err.message : String(err)
  if (isAuthFailure(detail)) {
    return new Error(`${action} ${preposition} ${registry}: authentication failed. Check the username and the password secret given for ${registry}.`)
  }
  return new Error(`${action} ${preposition} ${registry} failed: ${detail.split('\n')[0]}`)
}

/** Publishes a container to ref (with auth when given) and returns the reference with its digest. */
export async function publish(container: Container, ref: string, auth?: RegistryAuth): Promise<string> {
  const authed = auth ? container.withRegistryAuth(auth.address, auth.username, auth.password) : container
  try {
    return await authed.publish(ref)
  } catch (err) {
    throw explainRegistryError(err, registryOf(ref), `push of ${ref}`)
  }
}

/** Pulls ref (e.g. by digest, with auth when given) and returns the container once the engine has resolved it. */
export async function pull(ref: string, auth?: RegistryAuth): Promise<Container> {
  const base = auth ? dag.container().withRegistryAuth(auth.address, auth.username, auth.password) : dag.container()
  try {
    return await base.from(ref).sync()
  } catch (err) {
    throw explainRegistryError(err, registryOf(ref), `pull of ${ref}`, 'from')
  }
}
