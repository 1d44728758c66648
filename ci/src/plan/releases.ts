// Pure: the release record a deploy leaves in the cluster (one ConfigMap per release, like Helm's), and the choices
// made from the history: the next revision, the last good release, what to roll back to.
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import { PipelineError } from '../errors.js'
import type { ObjectKey } from './changes.js'
import type { K8sObject } from './manifests.js'

/** deployed: it became ready; failed: it did not (and was rolled back); superseded: a later release replaced it. */
export type ReleaseStatus = 'deployed' | 'failed' | 'superseded'

/** One release of an environment. */
export interface Release {
  revision: number
  environment: string
  status: ReleaseStatus
  /** Logical image name → ref@sha256:digest. */
  images: Record<string, string>
  /** sha256 of the rendered manifest. */
  manifestHash: string
  commit: string
  /** ISO time the release was applied. */
  time: string
  /** Where it came from: "deploy", "promote from <env>" or "rollback to <revision>". */
  origin: string
  /** Every object the release applied: what a later release may prune. */
  inventory: ObjectKey[]
}

/** Label on every release record (never on the application's objects). */
export const RELEASE_LABEL = 'graphmemory.dev/release-of'
/** Name of the ConfigMap that records a revision. */
export const releaseName = (revision: number): string => `graphmemory-release-v${revision}`
/** The sha256 of a rendered manifest, as recorded. */
export const manifestHash = (manifest: string): string => `sha256:${crypto.createHash('sha256').update(manifest).digest('hex')}`

/** A release as a ConfigMap: the fields as data, the rendered manifest gzipped in binaryData (a rollback re-applies it as it was). */
export function releaseConfigMap(release: Release, manifest: string, namespace: string): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: releaseName(release.revision),
      namespace,
      labels: { [RELEASE_LABEL]: release.environment, 'graphmemory.dev/release-status': release.status },
    },
    data: { release: JSON.stringify(release) },
    binaryData: { 'manifest.yaml.gz': zlib.gzipSync(manifest).toString('base64') },
  }
}

interface ConfigMapLike {
  metadata?: { name?: string }
  data?: Record<string, string>
  binaryData?: Record<string, string>
}

/** The release recorded in a ConfigMap. */
export function releaseOf(cm: ConfigMapLike): Release {
  const text = cm.data?.release
  const damaged = (why: string) => new PipelineError(`release record ${cm.metadata?.name} is damaged`, why, 'delete that ConfigMap; history skips it')
  if (!text) throw damaged('it has no release data')
  try {
    return JSON.parse(text) as Release
  } catch {
    throw damaged('its release data is not JSON')
  }
}

/** The rendered manifest recorded in a release ConfigMap. */
export function manifestOf(cm: ConfigMapLike): string {
  const gz = cm.binaryData?.['manifest.yaml.gz']
  if (!gz) throw new PipelineError(`release record ${cm.metadata?.name} is damaged`, 'it has no manifest', 'deploy again from source or by digests')
  return zlib.gunzipSync(Buffer.from(gz, 'base64')).toString('utf8')
}

/** Releases newest first. */
export const newestFirst = (releases: Release[]): Release[] => [...releases].sort((a, b) => b.revision - a.revision)

/** The revision the next release gets. */
export const nextRevision = (releases: Release[]): number => Math.max(0, ...releases.map((r) => r.revision)) + 1

/** The release running now: the newest that became ready (later failed ones were rolled back). */
export const current = (releases: Release[]): Release | undefined => newestFirst(releases).find((r) => r.status === 'deployed')

/**
 * The release a rollback restores: revision `to` when given (it must exist and once have become ready), otherwise
 * the good release before the current one.
 */
export function rollbackTarget(releases: Release[], env: string, to?: number): Release {
  const now = current(releases)
  if (to) {
    const r = releases.find((x) => x.revision === to)
    if (!r) {
      throw new PipelineError(`${env} has no release ${to}`, `its releases are ${newestFirst(releases).map((x) => x.revision).join(', ') || 'none'}`,
        `pick one from \`history --env ${env}\``)
    }
    if (r.status === 'failed') throw new PipelineError(`release ${to} of ${env} never became ready`, 'rolling back to it would deploy a known-bad release', 'pick a release whose status is deployed or superseded')
    return r
  }
  const previous = newestFirst(releases).find((r) => r.status !== 'failed' && now !== undefined && r.revision < now.revision)
  if (!previous) {
    throw new PipelineError(`${env} has no earlier good release to roll back to`,
      now ? `release ${now.revision} is the first that became ready` : 'nothing has been deployed there yet', 'deploy a fixed version instead')
  }
  return previous
}

/** The history as lines, newest first. */
export function formatHistory(releases: Release[], env: string): string {
  if (!releases.length) return `${env}: no releases yet\n`
  const lines = newestFirst(releases).map((r) =>
    [`${String(r.revision).padStart(4)}  ${r.status.padEnd(10)} ${r.time}  ${(r.commit || '-').slice(0, 12).padEnd(12)}  ${r.origin}`,
      ...Object.entries(r.images).sort().map(([n, ref]) => `        ${n} ${ref.slice(ref.indexOf('@') + 1, ref.indexOf('@') + 20)}`)].join('\n'))
  return `${['REV', 'STATUS    ', 'TIME', 'COMMIT', 'ORIGIN'].join('  ')}\n${lines.join('\n')}\n`
}
