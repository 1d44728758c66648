// The pipeline class on the lab: its images, registries and scanners (what library mode's defaults give the
// Makefile), for tests that drive the module's functions the way a user calls them.
import crypto from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fs from 'node:fs'
import { dag, type Directory, type File } from '@dagger.io/dagger'
import { GraphmemoryIde } from '../ci/src/index.js'
import { labImageVariables, pinnedTags, type ImageOption } from '../ci/src/config/images.js'
import { SERVICES } from '../ci/src/config/services.js'
import { labVar } from './env.js'
import { pinnedRef } from './lib/images.mjs'

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The repository as the module's source (what defaultPath "/" gives under `dagger call`). */
export const repoSource = (): Directory => dag.host().directory(REPO, { exclude: ['**/node_modules', '.git', '.ci-out', '**/__pycache__'] })

/** The lab's image for each constructor option that names one (the images table's lab variables). */
const labImages = () => Object.fromEntries(Object.entries(labImageVariables()).map(([option, variable]) => [option, labVar(variable)])) as Record<ImageOption, string>

/** What a lab release pins from tags (see ImageSources.pinned): logical name → the lab image's tag. */
export const labPinned = (): Record<string, string> => pinnedTags(labImages())

/**
 * The components the lab's deploys render (LAB_DEPLOY_COMPONENTS, e.g. lab-real-node: the pods on the real node, data
 * on its volumes), as `make deploy` does: an environment lives in one place, and a test that deployed it elsewhere
 * (kwok) would meet claims the API server cannot change.
 */
export const labDeployComponents = (): string => process.env.LAB_DEPLOY_COMPONENTS ?? ''

/** The lab release registry's user and password (the password as a Secret), as publish and sign take them. */
export const labRegistryAuth = () => ({
  user: labVar('LAB_RELEASE_USER'),
  password: dag.setSecret('lab-release-password', fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim()),
})

/** Publishes the three services' images `pipeline` builds to the lab's release registry: logical name → ref@digest. */
export async function publishLabImages(pipeline: GraphmemoryIde, { user, password } = labRegistryAuth()): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s.image, await pipeline.publish(s.name, user, password)] as const)))
}

/** The lab's signing key pair (lab/components/signing.mjs): the key and its password as Secrets, the public key as a File. */
export function labSigning(): { key: ReturnType<typeof dag.secret>; password: ReturnType<typeof dag.secret>; publicKey: File } {
  return {
    key: dag.secret(`file://${labVar('LAB_SIGNING_KEY_FILE')}`),
    password: dag.secret(`file://${labVar('LAB_SIGNING_PASSWORD_FILE')}`),
    publicKey: dag.host().file(labVar('LAB_SIGNING_PUBLIC_KEY_FILE')),
  }
}

/**
 * The pipeline on the lab's images and release registry, for a commit id (default: a fresh one, so its tags are its
 * own), verifying with `publicKey` (default: the lab's signing key's).
 */
export function labPipeline(source: Directory, commit = crypto.randomBytes(20).toString('hex'), publicKey?: File): GraphmemoryIde {
  const o = labImages()
  return new GraphmemoryIde(source,
    o.builderImage, o.runtimeImage, o.postgresImage, o.redisImage,
    labVar('LAB_RELEASE_REGISTRY'), commit, 1700000000, o.trivyImage, labVar('LAB_TRIVY_DB_REPOSITORY'), 'CRITICAL,HIGH',
    o.cosignImage, o.kustomizeImage, o.prometheusImage, o.alertmanagerImage,
    o.otelcolImage, o.grafanaImage, labDeployComponents(), o.postgresExporterImage, o.redisExporterImage,
    publicKey ?? (process.env.LAB_SIGNING_PUBLIC_KEY_FILE && fs.existsSync(process.env.LAB_SIGNING_PUBLIC_KEY_FILE) ? labSigning().publicKey : undefined))
}

/** The digest the lab mirror serves for an image reference host/repo:tag, as ref@digest (a LabError when it has none). */
export const mirrorDigest = (ref: string): Promise<string> => pinnedRef(ref)

/**
 * A full image map for render tests: every image pinned from a tag by its real digest in the lab mirror; the three
 * services by well-formed digests of images nobody pulls (kwok runs no containers), new for every `run` so that
 * kustomize really runs instead of the engine answering from its cache.
 */
export async function labRenderImages(run = crypto.randomBytes(8).toString('hex')): Promise<Record<string, string>> {
  const pinned = await Promise.all(Object.entries(labPinned()).map(async ([name, tag]) => [name, await mirrorDigest(tag)] as const))
  const services = SERVICES.map((s) => [`graphmemory/${s.name}`,
    `127.0.0.1:5001/graphmemory/${s.name}@sha256:${crypto.createHash('sha256').update(s.name + run).digest('hex')}`] as const)
  return Object.fromEntries([...pinned, ...services])
}
