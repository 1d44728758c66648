// Pure: a deploy as data. A release becomes an ordered list of operations (apply what changes, wait for every rollout,
// prune what the previous release had and this one lacks, record the release, mark the previous one superseded); one
// executor (steps/execute.ts) runs any such list. When an operation fails, the way back is another list built from the
// outcomes so far, run by the same executor. No I/O here.
import type { KubeObject } from '../adapters/kubernetes.js'
import { keyOf, prunable, refOf, type ObjectKey } from './changes.js'
import type { K8sObject } from './manifests.js'
import type { Release, ReleaseStatus } from './releases.js'

/** One step of a deploy. */
export type Operation =
  /** Server-side apply of one object, as the plan sends it. */
  | { kind: 'apply'; object: KubeObject }
  /** Wait until every Deployment and StatefulSet among `objects` has rolled out. */
  | { kind: 'wait'; objects: K8sObject[]; timeoutSeconds: number }
  /** Delete an object of an earlier release (the plan checked it still carries the application's labels). */
  | { kind: 'prune'; ref: ObjectKey }
  /** Write a release record (ConfigMap) with its manifest. */
  | { kind: 'record'; release: Release; manifest: string }
  /** Change the status of a recorded release. */
  | { kind: 'mark'; release: Release; status: ReleaseStatus }

/** What happened to one operation: done, failed (with why), or not run because an earlier one failed. */
export interface Outcome {
  operation: Operation
  state: 'done' | 'failed' | 'skipped'
  error?: string
}

/** A short human name of an operation, for logs and messages. */
export function describeOperation(op: Operation): string {
  switch (op.kind) {
    case 'apply': return `apply ${op.object.kind}/${op.object.metadata.name}`
    case 'wait': return `wait for ${op.objects.length} object${op.objects.length === 1 ? '' : 's'} to roll out (${op.timeoutSeconds} s)`
    case 'prune': return `prune ${op.ref.kind}/${op.ref.name}`
    case 'record': return `record release ${op.release.revision} (${op.release.status})`
    case 'mark': return `mark release ${op.release.revision} ${op.status}`
  }
}

/** What a release deploys: the objects to send (changed ones, in apply order), all its objects, what to prune. */
export interface ReleaseChanges {
  apply: KubeObject[]
  objects: K8sObject[]
  prune: ObjectKey[]
}

/**
 * The operations of a release: apply, wait for every rollout, then (only once all are ready) prune, record it as
 * deployed and mark the release it replaces superseded. Pruning after the wait keeps the old objects serving until
 * the new ones are ready.
 */
export function releaseOperations(c: ReleaseChanges, release: Release, manifest: string, timeoutSeconds: number, running?: Release): Operation[] {
  return [
    ...c.apply.map((object): Operation => ({ kind: 'apply', object })),
    { kind: 'wait', objects: c.objects, timeoutSeconds },
    ...c.prune.map((ref): Operation => ({ kind: 'prune', ref })),
    { kind: 'record', release, manifest },
    ...(running ? [{ kind: 'mark', release: running, status: 'superseded' } as Operation] : []),
  ]
}

/** The operations of a release that changes nothing: only the wait (the cluster may still be rolling it out). */
export const unchangedOperations = (objects: K8sObject[], timeoutSeconds: number): Operation[] => [{ kind: 'wait', objects, timeoutSeconds }]

/** The objects a run actually created or changed: the applies that were done. */
export const appliedObjects = (outcomes: Outcome[]): ObjectKey[] =>
  outcomes.filter((o) => o.state === 'done' && o.operation.kind === 'apply')
    .map((o) => refOf((o.operation as { object: KubeObject }).object as K8sObject))

/** The first failure of a run, as the line a message shows. */
export function failureOf(outcomes: Outcome[]): string | undefined {
  const failed = outcomes.find((o) => o.state === 'failed')
  return failed && (failed.operation.kind === 'wait' ? failed.error : `${describeOperation(failed.operation)}: ${failed.error}`)
}

/**
 * The way back after a failed release: record it as failed, then — when there is a good release — apply that one's
 * changed objects again, wait for them, and prune what the failed run added that the good release lacks (only objects
 * the failed run did apply; `restore` holds the good release's own plan against the cluster as it is now).
 */
export function recoveryOperations(failed: Release, manifest: string, outcomes: Outcome[], restore?: { changes: ReleaseChanges; timeoutSeconds: number }): Operation[] {
  const record: Operation = { kind: 'record', release: { ...failed, status: 'failed' }, manifest }
  if (!restore) return [record]
  const planned = new Set(restore.changes.prune.map(keyOf))
  const added = prunable(appliedObjects(outcomes), restore.changes.objects).filter((r) => !planned.has(keyOf(r)))
  const prune = [...restore.changes.prune, ...added]
  return [
    record,
    ...restore.changes.apply.map((object): Operation => ({ kind: 'apply', object })),
    { kind: 'wait', objects: restore.changes.objects, timeoutSeconds: restore.timeoutSeconds },
    ...prune.map((ref): Operation => ({ kind: 'prune', ref })),
  ]
}
