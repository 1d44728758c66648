// The edge to cosign: sign and verify an image by digest with a key pair, signatures stored in the image's registry.
// The private key, its password and the registry password enter the container only as Dagger Secrets (environment
// variables of one exec); the registry credentials are written to a docker config on /dev/shm inside that same exec,
// so they are never in a layer, a file of the cache, an argument or a log.
import { dag, ExecError, type Container, type Directory, type File, type Secret } from '@dagger.io/dagger'
import { reachRegistry, rehost, unalias } from './loopback.js'
import { registryOf, type RegistryAuth } from './registry.js'

/**
 * The official cosign image, pinned: its `-dev` variant (distroless debug, nonroot), because the registry login
 * below needs a shell. The lab passes LAB_IMAGE_COSIGN (Debian, nonroot).
 */
export const DEFAULT_COSIGN_IMAGE = 'ghcr.io/sigstore/cosign/cosign:v3.1.3-dev'

/**
 * The docker config folder: on /dev/shm, the tmpfs every container has (writable by the image's non-root user; a
 * mounted tmpfs is root's). Its files die with the exec and are never part of a snapshot.
 */
const DOCKER_CONFIG = '/dev/shm/gmi-docker-config'

/**
 * Writes a docker config for one registry from environment variables (username, password secret), then runs cosign
 * with the script's arguments. Nothing is echoed; the file is only readable by the user and lives on a tmpfs.
 */
const LOGIN_THEN_COSIGN = [
  'set -eu',
  'umask 077',
  'mkdir -p "$DOCKER_CONFIG"',
  'if [ -n "${GMI_REGISTRY:-}" ]; then',
  '  auth=$(printf "%s:%s" "$GMI_REGISTRY_USERNAME" "$GMI_REGISTRY_PASSWORD" | base64 | tr -d "\\n")',
  '  printf \'{"auths":{"%s":{"auth":"%s"}}}\' "$GMI_REGISTRY" "$auth" > "$DOCKER_CONFIG/config.json"',
  'fi',
  'exec cosign "$@"',
].join('\n')

/** A cosign run against the registry of `ref`: the container, the reference as the container sees it, and flags. */
interface Prepared {
  container: Container
  ref: string
  flags: string[]
}

/** `name:tag@sha256:...` → `name@sha256:...`: cosign names the image by digest alone. */
export function digestOnly(ref: string): string {
  const [name, digest] = ref.split('@')
  const colon = name.lastIndexOf(':')
  return digest && colon > name.lastIndexOf('/') ? `${name.slice(0, colon)}@${digest}` : ref
}

/** Prepares cosign for `ref`: registry reached (a loopback registry through a host tunnel), credentials as secrets. */
function prepare(image: string, ref: string, auth?: RegistryAuth): Prepared {
  const registry = registryOf(ref)
  const base = dag.container().from(image)
    .withEnvVariable('DOCKER_CONFIG', DOCKER_CONFIG)
    // signing and verifying talk to a registry whose state changes: never reuse a cached result
    .withEnvVariable('GMI_COSIGN_RUN', `${Date.now()}-${Math.random().toString(36).slice(2)}`)
  const reached = reachRegistry(base, registry)
  let container = reached.container
  if (auth) {
    container = container
      .withEnvVariable('GMI_REGISTRY', auth.address === registry ? reached.host : auth.address)
      .withEnvVariable('GMI_REGISTRY_USERNAME', auth.username)
      .withSecretVariable('GMI_REGISTRY_PASSWORD', auth.password)
  }
  return {
    container,
    ref: rehost(digestOnly(ref), registry, reached.host),
    flags: reached.viaHost ? ['--allow-http-registry', '--allow-insecure-registry'] : [],
  }
}

const cosign = (c: Container, args: string[]): Container => c.withExec(['sh', '-c', LOGIN_THEN_COSIGN, 'cosign', ...args])

/**
 * What a failed cosign run said, for a message: its last meaningful line, deprecation notes dropped, the tunnel alias
 * of a loopback registry put back to the registry the caller named. Undefined when `err` is not a failed exec.
 */
export function cosignFailure(err: unknown, ref: string): string | undefined {
  if (!(err instanceof ExecError)) return undefined
  const registry = registryOf(ref)
  const lines = (err.stderr || err.stdout || err.message).split('\n')
    .map((l) => l.trim()).filter((l) => l && !/^Flag --\S+ has been deprecated|^WARNING/.test(l))
  const last = lines.pop() ?? `exit code ${err.exitCode}`
  return unalias(last.replace(/^error during command execution: /, ''), registry)
}

/**
 * Signs `ref` (a reference by digest) with a cosign private key (Secret, PEM as written by `cosign generate-key-pair`)
 * and its password (Secret); the signature is pushed beside the image. Offline: no transparency log upload, no
 * signing config from the public-good instance. Throws ExecError on failure.
 */
export async function signImage(image: string, ref: string, key: Secret, keyPassword: Secret, auth?: RegistryAuth): Promise<string> {
  const p = prepare(image, ref, auth)
  const c = p.container
    .withSecretVariable('COSIGN_PRIVATE_KEY', key)
    .withSecretVariable('COSIGN_PASSWORD', keyPassword)
  await cosign(c, ['sign', '--key', 'env://COSIGN_PRIVATE_KEY', '--tlog-upload=false', '--use-signing-config=false', '--yes', ...p.flags, p.ref]).sync()
  return ref
}

/**
 * Verifies the signatures of `ref` against a public key (File); returns cosign's JSON of the verified payloads.
 * The transparency log is not consulted (offline signatures are not in it). Throws ExecError when none verifies.
 */
export async function verifyImage(image: string, ref: string, publicKey: File, auth?: RegistryAuth): Promise<string> {
  const p = prepare(image, ref, auth)
  const c = p.container.withMountedFile('/tmp/gmi-cosign.pub', publicKey)
  return cosign(c, ['verify', '--key', '/tmp/gmi-cosign.pub', '--insecure-ignore-tlog=true', ...p.flags, p.ref]).stdout()
}

/**
 * Generates a key pair with cosign, the private key encrypted with `password` (a Secret): a folder holding
 * cosign.key and cosign.pub. For tests and first set-up; keep the private key in a secret store, never in git.
 */
export function generateKeyPair(image: string, password: Secret): Directory {
  return dag.container().from(image)
    .withWorkdir('/tmp/keys')
    .withUser('0')
    .withSecretVariable('COSIGN_PASSWORD', password)
    .withEnvVariable('GMI_COSIGN_RUN', `${Date.now()}-${Math.random().toString(36).slice(2)}`)
    .withExec(['cosign', 'generate-key-pair'])
    .directory('/tmp/keys')
}
