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
  metadata?: { generation?: number }
  spec?: { replicas?: number; updateStrategy?: { type?: string } }
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
 * condition last updated before that second belongs to an earlier rollout (the controller has not rewritten it yet)
 * and is ignored. A workload whose replicas are all updated and available is ready, whatever a stale condition says.
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
  const fresh = (c: Condition) => !c.lastUpdateTime || new Date(c.lastUpdateTime).getTime() >= Math.floor(since / 1000) * 1000
  const stalled = w.kind === 'Deployment'
    ? (s.conditions ?? []).find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded' && fresh(c))
    : undefined
  if (stalled) return { state: 'failed', reason: `ProgressDeadlineExceeded: ${stalled.message ?? 'the rollout made no progress in time'}` }
  return pending
}

/** Kinds whose rollout a deploy waits for. */
export const WAITED_KINDS = ['Deployment', 'StatefulSet']
