// Pure: which image references a render may pin, checked before any work. A reference must carry a digest.
import { PipelineError } from '../errors.js'

/** A logical image name used in the manifests (graphmemory/api) and the digest reference it becomes. */
export interface ImagePin {
  /** The name in the manifests, e.g. graphmemory/api. */
  name: string
  /** registry/repository[:tag]@sha256:<64 hex>. */
  ref: string
}

const LOGICAL_NAME = /^[a-z0-9][a-z0-9._/-]*$/
const DIGEST_REF = /^[^\s@=]+@sha256:[0-9a-f]{64}$/

/** True when ref names an image by digest (repository[:tag]@sha256:<64 lowercase hex>). */
export const hasDigest = (ref: string): boolean => DIGEST_REF.test(ref)

/**
 * The pins of an images map (logical name → ref@sha256:digest), sorted by name. Every entry is checked first: one
 * error lists all refs without a digest and all malformed names, so nothing runs with a mutable tag.
 */
export function imagePins(images: Record<string, string>): ImagePin[] {
  const bad: string[] = []
  for (const [name, ref] of Object.entries(images)) {
    if (!LOGICAL_NAME.test(name)) bad.push(`"${name}" is not an image name (lowercase, e.g. graphmemory/api)`)
    else if (typeof ref !== 'string' || !hasDigest(ref)) bad.push(`${name}=${String(ref)} has no digest`)
  }
  if (bad.length) {
    throw new PipelineError('image references refused', bad.join('; '),
      'pass every image as <name>=<registry>/<repository>@sha256:<digest> (publish prints them; `docker buildx imagetools inspect` shows a tag\'s digest)')
  }
  return Object.entries(images).map(([name, ref]) => ({ name, ref })).sort((a, b) => a.name.localeCompare(b.name))
}

/** The arguments of `kustomize edit set image` for these pins: name=ref each. */
export const setImageArgs = (pins: ImagePin[]): string[] => pins.map((p) => `${p.name}=${p.ref}`)

/**
 * The images map from command-line style entries `<name>=<ref@sha256:...>` (a Dagger function cannot take a map, so
 * `dagger call render --images graphmemory/api=...,graphmemory/analytics=...` passes a list). A name given twice, or
 * an entry without `=`, fails naming it; digests are checked by imagePins.
 */
export function imagesFromArgs(entries: string[]): Record<string, string> {
  const images: Record<string, string> = {}
  const bad: string[] = []
  for (const entry of entries.flatMap((e) => e.split(',')).map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=')
    const name = entry.slice(0, eq)
    if (eq <= 0) bad.push(`"${entry}" is not <name>=<ref>`)
    else if (Object.hasOwn(images, name)) bad.push(`${name} is given twice`)
    else images[name] = entry.slice(eq + 1)
  }
  if (bad.length) {
    throw new PipelineError('image arguments refused', bad.join('; '),
      'pass each image once as <name>=<registry>/<repository>@sha256:<digest>, e.g. graphmemory/api=ghcr.io/acme/api@sha256:...')
  }
  return images
}

/**
 * The images map from `name=ref` entries or bare references by digest, comma-separated (what `ci`'s images.json
 * lists): a bare reference is named by the repository it is in, `<registry>/<known name>` (graphmemory/api), or the
 * repository itself. Digests are checked by imagePins.
 */
export function imagesFromRefs(list: string, known: readonly string[]): Record<string, string> {
  const entries = list.split(',').map((e) => e.trim()).filter(Boolean)
  const named = entries.filter((e) => e.indexOf('=') > 0)
  const images = imagesFromArgs(named)
  for (const ref of entries.filter((e) => !(e.indexOf('=') > 0))) {
    const repo = ref.split('@')[0].replace(/:[^:/]+$/, '')
    images[known.find((n) => repo.endsWith(`/${n}`)) ?? repo] = ref
  }
  return images
}
