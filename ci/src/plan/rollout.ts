// Pure: is a workload's rollout done, still going, or failed? Read from the object's own status, as
// `kubectl rollout status` reads it, for Deployments and StatefulSets.

export type RolloutState = 'ready' | 'progressing' | 'failed'

/** The verdict on one workload, with the reason a person reads. */
export interface RolloutVerdict {
  state: RolloutState
  reason: string
}

interface Condition {
  type?: string
  status?: string
  reason?: string
  message?: string
  lastUpdateTime?: string | Date
}

/** The fields of a workload the verdict reads (a Deployment or a StatefulSet as the API returns it). */
export interface Workload {
  kind: string
  metadata?: { name?: string; generation?: number; annotations?: Record<string, string> }
  spec?: { replicas?: number; updateStrategy?: { type?: string }; selector?: { matchLabels?: Record<string, string> } }
  status?: {
    observedGeneration?: number
    replicas?: number
    updatedReplicas?: number
    readyReplicas?: number
    availableReplicas?: number
    currentRevision?: string
    updateRevision?: string
    conditions?: Condition[]
  }
}

/**
 * The verdict on a Deployment or StatefulSet rollout. `since` (ms) is when the wait began: a ProgressDeadlineExceeded
 * condition last updated in that second or before belongs to an earlier rollout (the controller has not rewritten it
 * yet) and is ignored: a deadline of this rollout expires at least a second after it began. (Counting the same second
 * failed a rollback that began the moment the failed release's deadline was written.) A workload whose replicas are
 * all updated and available is ready, whatever a stale condition says.
 */
export function rolloutVerdict(w: Workload, since = 0): RolloutVerdict {
  const s = w.status ?? {}
  const want = w.spec?.replicas ?? 1
  if ((s.observedGeneration ?? 0) < (w.metadata?.generation ?? 0)) {
    return { state: 'progressing', reason: 'the controller has not seen the new spec yet' }
  }
  const updated = s.updatedReplicas ?? 0
  const ready = s.readyReplicas ?? 0
  const available = w.kind === 'Deployment' ? s.availableReplicas ?? 0 : ready
  const progress = (): RolloutVerdict | undefined => {
    if (updated < want) return { state: 'progressing', reason: `${updated} of ${want} replicas updated` }
    if ((s.replicas ?? 0) > updated) return { state: 'progressing', reason: `${(s.replicas ?? 0) - updated} old replicas still running` }
    if (ready < want || available < want) return { state: 'progressing', reason: `${Math.min(ready, available)} of ${want} replicas ready` }
    if (w.kind === 'StatefulSet' && (w.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate' &&
        s.updateRevision && s.currentRevision !== s.updateRevision) {
      return { state: 'progressing', reason: `revision ${s.updateRevision} not rolled out to every pod yet` }
    }
    return undefined
  }
  const pending = progress()
  if (!pending) return { state: 'ready', reason: `${want} of ${want} replicas ready` }
  const fresh = (c: Condition) => !c.lastUpdateTime || new Date(c.lastUpdateTime).getTime() >= (Math.floor(since / 1000) + 1) * 1000
  const stalled = w.kind === 'Deployment'
    ? (s.conditions ?? []).find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded' && fresh(c))
    : undefined
  if (stalled) return { state: 'failed', reason: `ProgressDeadlineExceeded: ${stalled.message ?? 'the rollout made no progress in time'}` }
  return pending
}

/** Kinds whose rollout a deploy waits for. */
export const WAITED_KINDS = ['Deployment', 'StatefulSet']

/** What a pod's container reports, as far as the verdict reads it. */
interface ContainerState {
  waiting?: { reason?: string; message?: string }
  running?: object
  terminated?: { exitCode?: number; reason?: string; message?: string }
}

/** The fields of a pod (or a ReplicaSet: metadata only) the pod verdict reads. */
export interface PodLike {
  metadata?: {
    name?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    deletionTimestamp?: string | Date
    ownerReferences?: { kind?: string; name?: string }[]
  }
  status?: {
    /** Failed or Succeeded: the pod ended for good (evicted, or stopped by a node shutdown); its owner replaces it. */
    phase?: string
    containerStatuses?: { name: string; ready?: boolean; restartCount?: number; state?: ContainerState; lastState?: ContainerState }[]
  }
}

/**
 * A container that has exited this many times in a row fails the rollout. Not 1: a service may exit once while what
 * it needs starts beside it (its Postgres in a first deploy) and come up at the next start. Three exits take about
 * 30 s under the kubelet's back-off (10 s, then 20 s).
 */
export const CRASH_EXITS = 3
/** Waiting reasons that do not go away by waiting: the image cannot be had, or the container cannot be made. */
export const STUCK_REASONS = ['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']

const REVISION = 'deployment.kubernetes.io/revision'
/** Pod phases from which no container runs again. */
const ENDED = ['Failed', 'Succeeded']

/** The label selector of a workload's pods (its matchLabels), for a list call. */
export const podSelector = (w: Workload): string =>
  Object.entries(w.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',')

/**
 * The pods of a workload's newest revision that are not being deleted and have not ended: for a Deployment, those of
 * the ReplicaSet carrying its revision; for a StatefulSet, those labelled with its update revision. The rollback's wait
 * therefore never judges the failed release's pods still going away, nor a pod that ended for good (phase Failed or
 * Succeeded: evicted under disk pressure, or stopped by a node shutdown), which the kubelet never restarts and the
 * controller has already replaced; its exits are history, not the rollout's (seen: an evicted exporter's three exits
 * failed a prod deploy and its rollback, with the replacement pod Ready).
 */
export function revisionPods(w: Workload, replicaSets: PodLike[], pods: PodLike[]): PodLike[] {
  let matches: (p: PodLike) => boolean
  if (w.kind === 'Deployment') {
    const revision = w.metadata?.annotations?.[REVISION]
    const rs = replicaSets.find((r) => revision && r.metadata?.annotations?.[REVISION] === revision &&
      (r.metadata?.ownerReferences ?? []).some((o) => o.kind === 'Deployment' && o.name === w.metadata?.name))
    const hash = rs?.metadata?.labels?.['pod-template-hash']
    if (!hash) return []
    matches = (p) => p.metadata?.labels?.['pod-template-hash'] === hash
  } else {
    const revision = w.status?.updateRevision
    if (!revision) return []
    matches = (p) => p.metadata?.labels?.['controller-revision-hash'] === revision
  }
  return pods.filter((p) => !p.metadata?.deletionTimestamp && !ENDED.includes(p.status?.phase ?? '') && matches(p))
}

/**
 * A failed verdict when a container of these pods cannot start: stuck on a reason of STUCK_REASONS (image pull,
 * container config), or exited CRASH_EXITS times in a row (CrashLoopBackOff, or the kubelet's terminated state between
 * two back-offs). The reason names the pod, the container, the condition and the last exit code. Undefined otherwise.
 */
export function podsVerdict(pods: PodLike[]): RolloutVerdict | undefined {
  for (const p of pods) {
    for (const c of p.status?.containerStatuses ?? []) {
      const waiting = c.state?.waiting
      const where = `pod ${p.metadata?.name ?? '?'} container ${c.name}`
      if (waiting?.reason && STUCK_REASONS.includes(waiting.reason)) {
        return { state: 'failed', reason: `${waiting.reason}: ${where}: ${waiting.message ?? 'no message'}` }
      }
      const exit = c.state?.terminated ?? c.lastState?.terminated
      const exits = (c.restartCount ?? 0) + (c.state?.running ? 0 : 1)
      if (!c.ready && exit && exits >= CRASH_EXITS) {
        // between two back-offs this kubelet shows the last exit (terminated), not the waiting reason: the same loop
        const condition = waiting?.reason ?? 'CrashLoopBackOff'
        return { state: 'failed', reason: `${condition}: ${where} exited ${exits} times, last with code ${exit.exitCode ?? '?'} (${exit.reason ?? 'no reason'})${exit.message ? `: ${exit.message.trim()}` : ''}` }
      }
    }
  }
  return undefined
}
