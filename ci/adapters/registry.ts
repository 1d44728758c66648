// The edge to container registries: publish with credentials given as a Dagger Secret, errors explained.
import type { Container, Secret } from '@dagger.io/dagger'

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

const AUTH_FAILURE = /\b(401|403)\b|unauthori[sz]ed|authentication required|denied|no basic auth credentials/i

/** Turns a registry failure into one message naming the registry; auth failures say so and what to check. */
export function explainRegistryError(err: unknown, registry: string, action: string): Error {
  const detail = err instanceof Error ? err.message : String(err)
  if (AUTH_FAILURE.test(detail)) {
    return new Error(`${action} to ${registry}: authentication failed. Check the username and the password secret given for ${registry}.`)
  }
  return new Error(`${action} to ${registry} failed: ${detail.split('\n')[0]}`)
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
