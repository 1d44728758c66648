// Images in the lab's registries and in its Docker: what a registry serves for a tag (whatever the manifest's type)
// and which build a local image was made from. One place, so that no component reads an OCI image as missing.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { $ } from 'zx'
import { LabError } from './step.mjs'
import { runOrExplain } from './proc.mjs'

/** Every manifest type a registry may hold for a tag: OCI and Docker, single-platform and index. */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ')

/** host, repository and tag of `host/repo:tag`; undefined for anything else. @param {string} ref */
export function parseRef(ref) {
  const m = /^([^/]+)\/(.+):([^:@/]+)$/.exec(ref)
  return m ? { host: m[1], repo: m[2], tag: m[3] } : undefined
}

/**
 * The digest the registry at `host` serves for repo:tag (HEAD, any manifest type), or undefined when it has none or
 * does not answer; `headers` adds e.g. an authorization.
 * @param {string} host
 * @param {string} repo
 * @param {string} tag
 * @param {Record<string, string>} [headers]
 * @returns {Promise<string | undefined>}
 */
export async function manifestDigest(host, repo, tag, headers = {}) {
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES, ...headers } })
    .catch(() => undefined)
  return r?.status === 200 ? r.headers.get('docker-content-digest') ?? undefined : undefined
}

/**
 * The tags of `repo` in the registry at `host` (none when it has none or does not answer); `headers` adds e.g. an
 * authorization.
 * @param {string} host
 * @param {string} repo
 * @param {Record<string, string>} [headers]
 * @returns {Promise<string[]>}
 */
export async function registryTags(host, repo, headers = {}) {
  const r = await fetch(`http://${host}/v2/${repo}/tags/list`, { headers }).catch(() => undefined)
  const body = r?.ok ? await r.json().catch(() => ({})) : {}
  return Array.isArray(body?.tags) ? body.tags : []
}

/**
 * Deletes from the registry at `host` the manifests that `repo`'s `tags` name (whatever their type; each digest once);
 * resolves to the digests it deleted. `headers` adds e.g. an authorization.
 * @param {string} host
 * @param {string} repo
 * @param {string[]} tags
 * @param {Record<string, string>} [headers]
 */
export async function deleteTags(host, repo, tags, headers = {}) {
  const digests = new Set()
  for (const tag of tags) {
    const d = await manifestDigest(host, repo, tag, headers)
    if (d) digests.add(d)
  }
  for (const d of digests) await fetch(`http://${host}/v2/${repo}/manifests/${d}`, { method: 'DELETE', headers })
  return [...digests]
}

/** True when the registry `ref` names (host/repo:tag) holds it. @param {string} ref */
export const inRegistry = async (ref) => {
  const p = parseRef(ref)
  return p !== undefined && (await manifestDigest(p.host, p.repo, p.tag)) !== undefined
}

/**
 * A lab image's row state: 'ok' when its registry holds `ref` (host/repo:tag), 'missing' when the registry answers
 * without it, 'down' when the registry does not answer.
 * @param {string} ref
 * @returns {Promise<'ok' | 'missing' | 'down'>}
 */
export async function imageState(ref) {
  const host = parseRef(ref)?.host
  const up = host !== undefined && (await fetch(`http://${host}/v2/`).then(() => true, () => false))
  return !up ? 'down' : (await inRegistry(ref)) ? 'ok' : 'missing'
}

/**
 * `ref` (host/repo:tag) with the digest its registry holds for it: `ref@sha256:…`; a LabError when it has none.
 * @param {string} ref
 */
export async function pinnedRef(ref) {
  const p = parseRef(ref)
  if (!p) throw new LabError(`${ref} is not an image reference host/repo:tag`, 'a lab image is named by its registry, repository and tag', 'fix the reference')
  const digest = await manifestDigest(p.host, p.repo, p.tag)
  if (!digest) throw new LabError(`${ref} is not in the registry ${p.host}`, 'a HEAD of its manifest found none', 'run `make lab-up` (the component that owns the image builds and pushes it)')
  return `${ref}@${digest}`
}

/**
 * The org.gmi-lab.stamp label of a local Docker image (what it was built from), or '' when it has none.
 * @param {string} ref
 */
export const imageStamp = async (ref) =>
  (await $`docker image inspect -f ${'{{index .Config.Labels "org.gmi-lab.stamp"}}'} ${ref}`.nothrow().quiet()).stdout.trim()

/**
 * The stamp of a Go build folder (lab/lib/gobuild.mjs writes `.stamp`), shortened: what an image of its binaries is
 * labelled with, so that a rebuilt binary makes a new image.
 * @param {string} binDir
 */
export const buildStamp = (binDir) => fs.readFileSync(path.join(binDir, '.stamp'), 'utf8').slice(0, 16)

/**
 * The lab's one build-and-push: builds `image` from the folder `context` (none: the Dockerfile alone) with the
 * Dockerfile `dockerfile(stamp)` (or the file `dockerfilePath` with `buildArgs`; a `context` function makes the folder
 * only when a build is needed) and pushes it, unless the local image already carries `stamp` (its
 * org.gmi-lab.stamp label) and the registry holds it. `check` runs between the build and the push (e.g. that the image
 * runs). True when it pushed.
 * @param {{ image: string, context?: string | (() => Promise<string>), stamp: string, dockerfile?: (stamp: string) => string, dockerfilePath?: string,
 *   buildArgs?: Record<string, string>, name?: string, check?: () => Promise<void> }} options
 */
export async function buildAndPush({ image, context, stamp, dockerfile, dockerfilePath, buildArgs = {}, name = image.replace(/^[^/]+\//, '').replace(/:.*$/, ''), check }) {
  if ((await imageStamp(image)) === stamp && (await inRegistry(image))) return false
  const args = Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`])
  const folder = typeof context === 'function' ? await context() : context
  const source = folder ? ['-f', dockerfilePath ?? '-', ...args, folder] : [...args, '-']
  await runOrExplain(['docker', 'build', '-q', '-t', image, ...source], {
    ...(dockerfile ? { input: dockerfile(stamp) } : {}), what: `building the ${name} image failed`, fix: 'fix the error above, then run `make lab-up`',
  })
  await check?.()
  await runOrExplain(['docker', 'push', image], { what: `pushing ${image} failed`, tail: 100, fix: 'run `make lab-status` (is the mirror up?), then `make lab-up`' })
  return true
}

/**
 * Builds an image from a folder of Go binaries (its build's `.stamp` inside), checks that it runs (`versionArgs` must
 * print `version`) and pushes it, unless the registry already holds this very build; true when it pushed.
 * `dockerfile(stamp)` gives the Dockerfile text with the stamp label set.
 * @param {{ image: string, binDir: string, dockerfile: (stamp: string) => string, versionArgs: string[], version: string }} options
 */
export async function ensureBinaryImage({ image, binDir, dockerfile, versionArgs, version }) {
  const stamp = crypto.createHash('sha256').update(dockerfile('')).update(fs.readFileSync(path.join(binDir, '.stamp'))).digest('hex').slice(0, 16)
  return buildAndPush({ image, context: binDir, stamp, dockerfile, check: () => imageRuns(image, versionArgs, version) })
}

/**
 * Fails unless `docker run image ...versionArgs` prints `version` (the image starts and is the build it should be).
 * @param {string} image
 * @param {string[]} versionArgs
 * @param {string} version
 */
export async function imageRuns(image, versionArgs, version) {
  const v = await $`docker run --rm ${image} ${versionArgs}`.nothrow().quiet()
  const name = image.replace(/^[^/]+\//, '').replace(/:.*$/, '')
  if (!`${v.stdout}${v.stderr}`.includes(version)) throw new LabError(`the ${name} image does not run`, `${v.stdout}${v.stderr}`.trim(), 'check its Go build under lab/go, then run `make lab-up`')
}
