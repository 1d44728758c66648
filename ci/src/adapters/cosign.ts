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
 * Writes a docker config for one registry from environment variables (username, password secret). Nothing is echoed;
 * the file is only readable by the user and lives on a tmpfs.
 */
const LOGIN = [
  'set -eu',
  'umask 077',
  'mkdir -p "$DOCKER_CONFIG"',
  'if [ -n "${GMI_REGISTRY:-}" ]; then',
  '  auth=$(printf "%s:%s" "$GMI_REGISTRY_USERNAME" "$GMI_REGISTRY_PASSWORD" | base64 | tr -d "\\n")',
  '  printf \'{"auths":{"%s":{"auth":"%s"}}}\' "$GMI_REGISTRY" "$auth" > "$DOCKER_CONFIG/config.json"',
  'fi',
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

/** A value that makes an exec run again rather than answer from the engine's cache. */
const fresh = (): string => `${Date.now()}-${Math.random().toString(36).slice(2)}`

/**
 * Signatures and attestations in cosign's classic layout (`sha256-<digest>.sig` / `.att` tags beside the image), the
 * one admission controllers (sigstore's policy-controller, Kyverno) read; `--replace` keeps one attestation per type.
 */
const CLASSIC = ['--new-bundle-format=false']
/** Offline signing: no transparency log upload, no signing config from the public-good instance. */
const OFFLINE_SIGNING = ['--tlog-upload=false', '--use-signing-config=false', '--yes']

/**
 * Prepares cosign for `ref`: registry reached (a loopback registry through a host tunnel), credentials as secrets.
 * `runKey` decides when the engine may answer from its cache: a new value each time (default) for anything that reads
 * the registry's changing state.
 */
function prepare(image: string, ref: string, auth?: RegistryAuth, runKey = fresh()): Prepared {
  const registry = registryOf(ref)
  const base = dag.container().from(image)
    .withEnvVariable('DOCKER_CONFIG', DOCKER_CONFIG)
    .withEnvVariable('GMI_COSIGN_RUN', runKey)
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

/** Logs in (see LOGIN), then runs cosign with `args`. */
const cosign = (c: Container, args: string[]): Container => c.withExec(['sh', '-c', `${LOGIN}\nexec cosign "$@"`, 'cosign', ...args])
/** Logs in (see LOGIN), then runs a shell script of cosign commands. */
const cosignScript = (c: Container, script: string[]): Container => c.withExec(['sh', '-c', [LOGIN, ...script].join('\n')])

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

/** What cosign says when the registry did not answer (a connection dropped, refused or cut), not what it holds. */
const UNANSWERED = /i\/o timeout|connection refused|connection reset|TLS handshake timeout|no such host|unexpected EOF/

/** True when a cosign message says the registry did not answer. */
export const registryUnanswered = (said: string): boolean => UNANSWERED.test(said)

/**
 * Runs a cosign exec once more when the registry did not answer it (the exec failed saying so, or `unanswered` finds
 * that in its result): a dropped or refused connection is worth a second try before a release is refused. Any other
 * failure, or a second one, is the caller's.
 */
export async function twiceIfUnanswered<T>(run: () => Promise<T>, unanswered: (result: T) => boolean = () => false): Promise<T> {
  let result: T
  try {
    result = await run()
  } catch (err) {
    if (!(err instanceof ExecError) || !registryUnanswered(`${err.stderr}\n${err.stdout}\n${err.message}`)) throw err
    return run()
  }
  return unanswered(result) ? run() : result
}

/**
 * Signs `ref` (a reference by digest) with a cosign private key (Secret, PEM as written by `cosign generate-key-pair`)
 * and its password (Secret); the signature is pushed beside the image. Offline: no transparency log upload, no
 * signing config from the public-good instance. Throws ExecError on failure.
 */
export async function signImage(image: string, ref: string, key: Secret, keyPassword: Secret, auth?: RegistryAuth): Promise<string> {
  await twiceIfUnanswered(() => {
    const p = prepare(image, ref, auth)
    const c = p.container
      .withSecretVariable('COSIGN_PRIVATE_KEY', key)
      .withSecretVariable('COSIGN_PASSWORD', keyPassword)
    return cosign(c, ['sign', '--key', 'env://COSIGN_PRIVATE_KEY', ...OFFLINE_SIGNING, ...CLASSIC, ...p.flags, p.ref]).sync()
  })
  return ref
}

/**
 * Verifies the signatures of `ref` against a public key (File); returns cosign's JSON of the verified payloads.
 * The transparency log is not consulted (offline signatures are not in it). Throws ExecError when none verifies.
 */
export async function verifyImage(image: string, ref: string, publicKey: File, auth?: RegistryAuth): Promise<string> {
  return twiceIfUnanswered(() => {
    const p = prepare(image, ref, auth)
    const c = p.container.withFile('/tmp/gmi-cosign.pub', publicKey, { permissions: 0o444 })
    return cosign(c, ['verify', '--key', '/tmp/gmi-cosign.pub', '--insecure-ignore-tlog=true', ...p.flags, p.ref]).stdout()
  })
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
    .withEnvVariable('GMI_COSIGN_RUN', fresh())
    .withExec(['cosign', 'generate-key-pair'])
    .directory('/tmp/keys')
}

/** One attestation to attach: cosign's `--type` and the predicate file. */
export interface Predicate {
  cosignType: string
  file: File
}

/**
 * Signs `ref` (by digest) and attaches each predicate as a signed in-toto attestation, in one exec. The exec is keyed
 * by its inputs (the digest, the predicates, the key) plus `present`: when the registry already holds the signature
 * and attestations (`present` true), the same inputs answer from the engine's cache and nothing is pushed again.
 */
export async function attestImage(image: string, ref: string, key: Secret, keyPassword: Secret, predicates: Predicate[],
  auth: RegistryAuth | undefined, present: boolean): Promise<string> {
  await twiceIfUnanswered(() => {
    const p = prepare(image, ref, auth, present ? 'present' : fresh())
    let c = p.container.withSecretVariable('COSIGN_PRIVATE_KEY', key).withSecretVariable('COSIGN_PASSWORD', keyPassword)
    const script = [`cosign sign --key env://COSIGN_PRIVATE_KEY ${[...OFFLINE_SIGNING, ...CLASSIC, ...p.flags].join(' ')} "$REF"`]
    predicates.forEach((pred, i) => {
      c = c.withMountedFile(`/tmp/gmi-predicates/${i}.json`, pred.file)
      script.push(`cosign attest --key env://COSIGN_PRIVATE_KEY --replace --type '${pred.cosignType}' --predicate /tmp/gmi-predicates/${i}.json ${[...OFFLINE_SIGNING, ...CLASSIC, ...p.flags].join(' ')} "$REF"`)
    })
    return cosignScript(c.withEnvVariable('REF', p.ref), script).sync()
  })
  return ref
}

/** The tags under which cosign's classic layout keeps the signature and the attestations of `ref` (by digest). */
export function classicTags(ref: string): { signature: string; attestations: string } {
  const [name, digest] = digestOnly(ref).split('@')
  const tag = digest.replace(':', '-')
  return { signature: `${name}:${tag}.sig`, attestations: `${name}:${tag}.att` }
}

/** What `cosign verify` and `verify-attestation` said about one image: exit status and output per check. */
export interface Inspection {
  signature: { ok: boolean; output: string }
  attestations: Record<string, { ok: boolean; output: string }>
}

/**
 * Checks `ref`'s signature and each attestation type against a public key, in one exec that never fails: each
 * check's exit status and output are collected for the caller to judge (checks the registry did not answer are run
 * once more first). Never answered from the cache.
 */
export async function inspectImage(image: string, ref: string, publicKey: File, cosignTypes: string[], auth?: RegistryAuth): Promise<Inspection> {
  return twiceIfUnanswered(() => inspectOnce(image, ref, publicKey, cosignTypes, auth),
    (seen) => [seen.signature, ...Object.values(seen.attestations)].some((c) => !c.ok && registryUnanswered(c.output)))
}

/** One run of inspectImage's checks. */
async function inspectOnce(image: string, ref: string, publicKey: File, cosignTypes: string[], auth?: RegistryAuth): Promise<Inspection> {
  const p = prepare(image, ref, auth)
  const flags = ['--key', '/tmp/gmi-cosign.pub', '--insecure-ignore-tlog=true', ...p.flags].join(' ')
  const check = (name: string, args: string) => `if cosign ${args} ${flags} "$REF" >/tmp/gmi-out/${name}.out 2>/tmp/gmi-out/${name}.err; then echo 0 >/tmp/gmi-out/${name}.rc; else echo 1 >/tmp/gmi-out/${name}.rc; fi`
  const script = ['set +e', 'mkdir -p /tmp/gmi-out', check('signature', 'verify'),
    ...cosignTypes.map((t, i) => check(`att${i}`, `verify-attestation --type '${t}'`))]
  const out = cosignScript(p.container.withFile('/tmp/gmi-cosign.pub', publicKey, { permissions: 0o444 }).withEnvVariable('REF', p.ref), script)
    .directory('/tmp/gmi-out')
  const read = async (name: string) => {
    const [rc, stdout, stderr] = await Promise.all(['rc', 'out', 'err'].map((x) => out.file(`${name}.${x}`).contents()))
    const said = unalias(stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^Flag --|^WARNING|^Verification for|^The following checks|^  - /.test(l)).pop() ?? '', registryOf(ref))
    return { ok: rc.trim() === '0', output: rc.trim() === '0' ? stdout : said.replace(/^Error: |^error during command execution: /, '') }
  }
  const [signature, ...atts] = await Promise.all(['signature', ...cosignTypes.map((_, i) => `att${i}`)].map(read))
  return { signature, attestations: Object.fromEntries(cosignTypes.map((t, i) => [t, atts[i]])) }
}

/** The public key of a cosign private key (Secret) and its password (Secret), as a PEM file. */
export function publicKeyOf(image: string, key: Secret, keyPassword: Secret): File {
  return dag.container().from(image)
    .withSecretVariable('COSIGN_PRIVATE_KEY', key)
    .withSecretVariable('COSIGN_PASSWORD', keyPassword)
    .withExec(['sh', '-c', 'cosign public-key --key env://COSIGN_PRIVATE_KEY > /tmp/gmi-cosign.pub'])
    .file('/tmp/gmi-cosign.pub')
}
