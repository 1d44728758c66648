// Step helpers: what a release is made of before it is deployed: its images (given by digest, or built and
// published), its rendered manifest, and the environment's list of required Secrets.
import { dag, type Directory, type Secret } from '@dagger.io/dagger'
import { SERVICES } from '../config/services.js'
import type { Environment } from '../config/environments.js'
import { imagesFromArgs, imagePins } from '../plan/images.js'
import { parseManifests, parseRequiredSecrets, unpinnedImages, type RequiredSecrets } from '../plan/manifests.js'
import { PipelineError } from '../errors.js'
import { checkComponents, render } from './render.js'

/**
 * The environment's committed list of required Secrets (k8s/overlays/<env>/required-secrets.yaml), plus those of any
 * extra component that reads Secrets of its own (k8s/components/<name>/required-secrets.yaml, e.g. the lab's pull
 * secret): what the rendered pods read must be on the list, and present in the cluster or given.
 */
export async function requiredSecrets(source: Directory, env: Environment, components: string[] = []): Promise<RequiredSecrets> {
  const file = `k8s/${env.overlay}/required-secrets.yaml`
  const required = parseRequiredSecrets(await source.file(file).contents(), file)
  for (const c of components) {
    const extra = `k8s/components/${c}/required-secrets.yaml`
    if (await source.exists(extra)) Object.assign(required.secrets, parseRequiredSecrets(await source.file(extra).contents(), extra).secrets)
  }
  return required
}

/** What the extra components say about the environments they change (k8s/components/<name>/notes.txt), one line each. */
export async function componentNotes(source: Directory, components: string[] = []): Promise<string[]> {
  const notes = await Promise.all(checkComponents(components).map(async (c) => {
    const file = `k8s/components/${c}/notes.txt`
    return (await source.exists(file)) ? (await source.file(file).contents()).split('\n').map((l) => l.trim()).filter(Boolean) : []
  }))
  return notes.flat()
}

/** Where a release's images come from when the caller does not give them, and how a release is verified. */
export interface ImageSources {
  /**
   * Runs `ci`'s whole gate (build, tests with their backing services, scan, SBOM) for these services, then publishes,
   * signs and attests their images; returns logical name (graphmemory/api) → reference by digest. Publishes nothing
   * when a step fails.
   */
  gate: (services: string[]) => Promise<Record<string, string>>
  /**
   * The other images a release runs, logical name → tag (graphmemory/postgres, graphmemory/redis and the monitoring
   * servers): each pinned to the digest its tag has now.
   */
  pinned: Record<string, string>
  /** Verifies every image of a release under the environment's policy; fails naming what is refused. */
  verify: (images: Record<string, string>, env: Environment) => Promise<string>
}

/** The digest reference of an image tag, as the registry serves it now. */
export const pinTag = (ref: string): Promise<string> => dag.container().from(ref).imageRef()

/** `images` completed with every image of `tags` it lacks, each pinned to the digest its tag has now. */
async function pinMissing(images: Record<string, string>, tags: Record<string, string>): Promise<Record<string, string>> {
  const missing = Object.entries(tags).filter(([name]) => !images[name])
  const pinned = await Promise.all(missing.map(async ([name, tag]) => [name, await pinTag(tag)] as const))
  return { ...images, ...Object.fromEntries(pinned) }
}

/** The services a release builds from source: those whose image is not given. */
export const servicesToBuild = (given: Record<string, string>): string[] =>
  SERVICES.filter((s) => !given[s.image]).map((s) => s.name)

/**
 * The services' images of a release, by digest: those given (`name=ref@sha256:...`, comma-separated) as they are,
 * the others through the gate (built, tested, scanned, published, signed). Checked before any work.
 */
export async function releaseImages(given: string, sources: ImageSources): Promise<Record<string, string>> {
  const images = imagesFromArgs(given ? [given] : [])
  imagePins(images)
  const build = servicesToBuild(images)
  return build.length ? { ...images, ...(await sources.gate(build)) } : images
}

/** A release as it is applied: its manifest and the images it runs, by digest. */
export interface RenderedRelease {
  manifest: string
  images: Record<string, string>
}

/**
 * Renders a release: with `images`, plus, for the images of `tags` that the environment runs and `images` lacks (the
 * stores, and the monitoring servers in staging and prod, not in dev), the digest their tag has now. Nothing is
 * looked up for an image the environment does not run. Which names it runs comes from a render without images, the
 * same for every release of one tree (so the engine answers it from its cache after the first).
 */
export async function renderRelease(source: Directory, env: Environment, images: Record<string, string>, tags: Record<string, string>,
  kustomizeImage: string, components: string[] = []): Promise<RenderedRelease> {
  const names = new Set(unpinnedImages(parseManifests(await renderManifest(source, env, {}, kustomizeImage, components))).map((c) => c.image))
  const all = await pinMissing(images, Object.fromEntries(Object.entries(tags).filter(([name]) => names.has(name))))
  return { manifest: await renderManifest(source, env, all, kustomizeImage, components), images: all }
}

/**
 * Renders the environment's manifest with the images pinned, plus any extra components (folders of k8s/components,
 * e.g. `lab-real-node`); returns its text. A component that is not there fails naming it and those that are.
 */
export async function renderManifest(source: Directory, env: Environment, images: Record<string, string>, kustomizeImage: string, components: string[] = []): Promise<string> {
  const missing = []
  for (const c of checkComponents(components)) if (!(await source.exists(`k8s/components/${c}/kustomization.yaml`))) missing.push(c)
  if (missing.length) {
    const known = (await source.exists('k8s/components')) ? (await source.directory('k8s/components').entries()).map((e) => e.replace(/\/$/, '')) : []
    throw new PipelineError(`no component ${missing.join(', ')} in k8s/components`, `the components there are: ${known.join(', ') || 'none'}`,
      'name one of them, or add the folder with its kustomization.yaml (kind: Component)')
  }
  return render(source.directory('k8s'), env.name, images, kustomizeImage, components, source.directory('monitoring')).contents()
}

/** Reads a Secret argument's text, or undefined when none was given. */
export const secretText = async (s?: Secret): Promise<string | undefined> => (s ? s.plaintext() : undefined)
