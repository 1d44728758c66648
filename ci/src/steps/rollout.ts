// Step helper: wait until every Deployment and StatefulSet of a release has rolled out, or say which did not and why
// (its condition and its recent events, and those of its ReplicaSets and pods).
import type { KubeClient, KubeObject } from '../adapters/kubernetes.js'
import { poll } from '../adapters/poll.js'
import { objectId, type K8sObject } from '../plan/manifests.js'
import { WAITED_KINDS, podSelector, podsVerdict, revisionPods, rolloutVerdict, type PodLike, type RolloutVerdict, type Workload } from '../plan/rollout.js'

/** A workload that did not become ready. */
export interface RolloutFailure {
  object: string
  reason: string
  events: string[]
}

interface EventLike {
  involvedObject?: { kind?: string; name?: string }
  reason?: string
  message?: string
  type?: string
  lastTimestamp?: string | Date
  eventTime?: string | Date
  metadata?: { creationTimestamp?: string | Date }
}

const time = (e: EventLike) => new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0).getTime()

/** The last events of a workload and of what it owns (named <workload>-...), oldest first. */
export async function recentEvents(kube: Pick<KubeClient, 'list'>, namespace: string, name: string, count = 5): Promise<string[]> {
  const events = await kube.list<KubeObject & EventLike>('v1', 'Event', { namespace })
  return events
    .filter((e) => e.involvedObject?.name === name || e.involvedObject?.name?.startsWith(`${name}-`))
    .sort((a, b) => time(a) - time(b))
    .slice(-count)
    .map((e) => `${e.type ?? ''} ${e.reason ?? ''} ${e.involvedObject?.kind ?? ''}/${e.involvedObject?.name ?? ''}: ${e.message ?? ''}`.trim())
}

/** How a rollout is waited for. */
export interface WaitOptions {
  /** How long every rollout may take. */
  timeoutSeconds: number
  /** How often rollouts are read (default 300 ms: a few light GETs per workload and second). */
  pollMs?: number
  /** How often the pods of a workload still rolling out are read (default 1000 ms: two LISTs each). */
  podCheckMs?: number
  /** Where a line goes as each workload becomes ready. */
  log?: (line: string) => void
}

/** What the wait reads of a cluster. */
export type RolloutClient = Pick<KubeClient, 'get' | 'list'>

/** The verdict on a rolling workload's newest pods: failed when one cannot start (see podsVerdict), else undefined. */
async function podCheck(kube: RolloutClient, live: Workload & KubeObject): Promise<RolloutVerdict | undefined> {
  const namespace = live.metadata.namespace
  const labelSelector = podSelector(live)
  if (!labelSelector) return undefined
  const [replicaSets, pods] = await Promise.all([
    live.kind === 'Deployment' ? kube.list<KubeObject & PodLike>('apps/v1', 'ReplicaSet', { namespace, labelSelector }) : Promise.resolve([]),
    kube.list<KubeObject & PodLike>('v1', 'Pod', { namespace, labelSelector }),
  ])
  return podsVerdict(revisionPods(live, replicaSets, pods))
}

/**
 * Polls the workloads among `objects` until all are ready; returns the failures (empty when all became ready).
 * A workload fails on ProgressDeadlineExceeded, on a pod of its newest revision that cannot start (an image that
 * cannot be pulled, a container that keeps crashing: read every `podCheckMs`; the wait stops at the first failure),
 * or when it is still not ready at the timeout.
 */
export async function waitForRollout(kube: RolloutClient, objects: K8sObject[], options: WaitOptions): Promise<RolloutFailure[]> {
  const { timeoutSeconds, pollMs = 300, podCheckMs = 1000, log = () => {} } = options
  const waited = objects.filter((o) => WAITED_KINDS.includes(o.kind))
  const started = Date.now()
  const last = new Map<string, RolloutVerdict>()
  let pending = waited
  let podsReadAt = started
  // done when every workload is ready or one has failed; at the timeout the verdicts below name what was not ready
  const outcome = await poll(async () => {
    const readPods = Date.now() - podsReadAt >= podCheckMs
    if (readPods) podsReadAt = Date.now()
    const verdicts = await Promise.all(pending.map(async (o) => {
      const live = await kube.get<Workload & KubeObject>({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace })
      if (!live) return { o, v: { state: 'progressing' as const, reason: 'not found yet' } }
      const v = rolloutVerdict(live, started)
      return { o, v: (v.state === 'progressing' && readPods ? await podCheck(kube, live) : undefined) ?? v }
    }))
    for (const { o, v } of verdicts) {
      if (v.state === 'ready' && last.get(objectId(o))?.state !== 'ready') log(`ready: ${objectId(o)} (${v.reason})`)
      last.set(objectId(o), v)
    }
    pending = verdicts.filter(({ v }) => v.state !== 'ready').map(({ o }) => o)
    return verdicts.some(({ v }) => v.state === 'failed') || !pending.length ? 'done' : undefined
  }, { timeoutMs: timeoutSeconds * 1000, everyMs: pollMs, onTimeout: () => 'timed out' })
  const timedOut = outcome === 'timed out'
  const failed = waited.filter((o) => last.get(objectId(o))?.state === 'failed' || (timedOut && last.get(objectId(o))?.state !== 'ready'))
  return Promise.all(failed.map(async (o) => {
    const v = last.get(objectId(o))!
    const reason = v.state === 'failed' ? v.reason : `not ready after ${timeoutSeconds} s: ${v.reason}`
    return { object: objectId(o), reason, events: await recentEvents(kube, o.metadata.namespace ?? '', o.metadata.name) }
  }))
}

/** The failures as lines: each object, why, and its recent events. */
export const formatFailures = (failures: RolloutFailure[]): string =>
  failures.map((f) => `${f.object}: ${f.reason}${f.events.length ? `\n      ${f.events.join('\n      ')}` : ''}`).join('\n  ')
