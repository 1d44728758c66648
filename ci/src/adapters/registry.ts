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
  try {
    return await (await resolver(ref, auth)).from(ref).sync()
  } catch (err) {
    throw explainRegistryError(err, registryOf(ref), `pull of ${ref}`, 'from')
  }
}

const loadedSecrets = new WeakMap<Secret, Promise<unknown>>()

/**
 * Makes the engine hold a secret given by reference (`file:`/`env:`) before an image resolution uses it. Dagger
 * v0.19.10 fetches such a secret from the client only when an exec or a push needs it; the image resolver behind `from`
 * does not, so a pull with registry auth whose secret was not used yet goes out without it (401). Asking for the
 * plaintext loads it; the value is dropped at once, never logged, stored or passed on.
 */
export function loaded(secret: Secret): Promise<unknown> {
  if (!loadedSecrets.has(secret)) {
    loadedSecrets.set(secret, secret.plaintext().then(() => undefined, (err: unknown) => {
      loadedSecrets.delete(secret) // not kept: the next caller asks again
      throw err
    }))
  }
  return loadedSecrets.get(secret)!
}

/** How the engine says a registry has no such manifest (containerd's resolver: "<ref>: not found"). */
const NOT_FOUND = /: not found\b|MANIFEST_UNKNOWN|NAME_UNKNOWN/

/**
 * Whether the registry serves `ref` (a tag or a digest), asked through the engine with the credentials given. Only a
 * "not found" answer is false; any other failure (registry down, credentials refused) is thrown as it is, never read
 * as a missing image.
 */
export async function imageExists(ref: string, auth?: RegistryAuth): Promise<boolean> {
  return (await resolver(ref, auth)).from(ref).imageRef().then(() => true, (err: unknown) => {
    if (NOT_FOUND.test(err instanceof Error ? err.message : String(err))) return false
    throw err
  })
}

/** A container that resolves `ref` with `auth` when it is for ref's registry, its password loaded first (see loaded). */
async function resolver(ref: string, auth?: RegistryAuth): Promise<Container> {
  if (!auth || auth.address !== registryOf(ref)) return dag.container()
  await loaded(auth.password)
  return dag.container().withRegistryAuth(auth.address, auth.username, auth.password)
}
