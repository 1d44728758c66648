// Images in the lab's registries and in its Docker: what a registry serves for a tag (whatever the manifest's type)
// and which build a local image was made from. One place, so that no component reads an OCI image as missing.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { $ } from 'zx'
import { LabError } from './step.mjs'

/** Every manifest type a registry may hold for a tag: OCI and Docker, single-platform and index. */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ')

/** host, repository and tag of `host/repo:tag`; undefined for anything else. */
export function parseRef(ref) {
  const m = /^([^/]+)\/(.+):([^:@/]+)$/.exec(ref)
  return m ? { host: m[1], repo: m[2], tag: m[3] } : undefined
}

/**
 * The digest the registry at `host` serves for repo:tag (HEAD, any manifest type), or undefined when it has none or
 * does not answer; `headers` adds e.g. an authorization.
 */
export async function manifestDigest(host, repo, tag, headers = {}) {
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES, ...headers } })
    .catch(() => undefined)
  return r?.status === 200 ? r.headers.get('docker-content-digest') ?? undefined : undefined
}

/** True when the registry `ref` names (host/repo:tag) holds it. */
export const inRegistry = async (ref) => {
  const p = parseRef(ref)
  return p !== undefined && (await manifestDigest(p.host, p.repo, p.tag)) !== undefined
}

/** `ref` (host/repo:tag) with the digest its registry holds for it: `ref@sha256:…`; a LabError when it has none. */
export async function pinnedRef(ref) {
  const p = parseRef(ref)
  if (!p) throw new LabError(`${ref} is not an image reference host/repo:tag`, 'a lab image is named by its registry, repository and tag', 'fix the reference')
  const digest = await manifestDigest(p.host, p.repo, p.tag)
  if (!digest) throw new LabError(`${ref} is not in the registry ${p.host}`, 'a HEAD of its manifest found none', 'run `make lab-up` (the component that owns the image builds and pushes it)')
  return `${ref}@${digest}`
}

/** The org.gmi-lab.stamp label of a local Docker image (what it was built from), or '' when it has none. */
export const imageStamp = async (ref) =>
  (await $`docker image inspect -f ${'{{index .Config.Labels "org.gmi-lab.stamp"}}'} ${ref}`.nothrow().quiet()).stdout.trim()

/**
 * Builds an image from a folder of Go binaries (its build's `.stamp` inside), checks that it runs (`versionArgs` must
 * print `version`) and pushes it, unless the registry already holds this very build; true when it pushed.
 * `dockerfile(stamp)` gives the Dockerfile text with the stamp label set.
 */
export async function ensureBinaryImage({ image, binDir, dockerfile, versionArgs, version }) {
  const name = image.replace(/^[^/]+\//, '').replace(/:.*$/, '')
  const stamp = crypto.createHash('sha256').update(dockerfile('')).update(fs.readFileSync(path.join(binDir, '.stamp'))).digest('hex').slice(0, 16)
  if ((await imageStamp(image)) === stamp && (await inRegistry(image))) return false
  const r = await $({ input: dockerfile(stamp) })`docker build -q -t ${image} -f - ${binDir}`.nothrow().quiet()
  if (r.exitCode !== 0) throw new LabError(`building the ${name} image failed`, r.stderr.trim().split('\n').slice(-8).join('\n'), 'fix the error above, then run `make lab-up`')
  const v = await $`docker run --rm ${image} ${versionArgs}`.nothrow().quiet()
  if (!`${v.stdout}${v.stderr}`.includes(version)) throw new LabError(`the ${name} image does not run`, `${v.stdout}${v.stderr}`.trim(), `check its Go build under lab/go, then run \`make lab-up\``)
  const p = await $`docker push ${image}`.nothrow().quiet()
  if (p.exitCode !== 0) throw new LabError(`pushing ${image} failed`, p.stderr.trim(), 'run `make lab-status` (is the mirror up?), then `make lab-up`')
  return true
}
