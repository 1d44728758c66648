// Rollout verdicts, on Deployment and StatefulSet statuses shaped like what the API server returns.
import { describe, expect, it } from 'vitest'
import { CRASH_EXITS, WAITED_KINDS, podSelector, podsVerdict, revisionPods, rolloutVerdict, type PodLike, type Workload } from './rollout.js'

const progressing = (reason: string, message: string) => ({
  type: 'Progressing', status: reason === 'ProgressDeadlineExceeded' ? 'False' : 'True', reason, message,
  lastUpdateTime: '2024-05-01T10:10:00Z', lastTransitionTime: '2024-05-01T10:10:00Z',
})
const available = { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }

/** A Deployment at generation 4 with 3 replicas wanted; `status` overrides the fields of a finished rollout. */
const deployment = (status: Partial<NonNullable<Workload['status']>> = {}, replicas: number | null = 3): Workload => ({
  kind: 'Deployment',
  metadata: { generation: 4 },
  spec: replicas === null ? {} : { replicas },
  status: {
    observedGeneration: 4, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3,
    conditions: [available, progressing('NewReplicaSetAvailable', 'ReplicaSet "api-7c9d8f" has successfully progressed.')],
    ...status,
  },
})

const statefulSet = (status: Partial<NonNullable<Workload['status']>> = {}, strategy?: string): Workload => ({
  kind: 'StatefulSet',
  metadata: { generation: 2 },
  spec: { replicas: 1, ...(strategy ? { updateStrategy: { type: strategy } } : {}) },
  status: {
    observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1,
    currentRevision: 'postgres-5d8c7b9f6', updateRevision: 'postgres-5d8c7b9f6', ...status,
  },
})

describe('Deployment rollouts', () => {
  it('a finished rollout is ready', () => {
    expect(rolloutVerdict(deployment())).toEqual({ state: 'ready', reason: '3 of 3 replicas ready' })
  })

  it('ProgressDeadlineExceeded fails with the controller message', () => {
    const v = rolloutVerdict(deployment({
      updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2, replicas: 4,
      conditions: [available, progressing('ProgressDeadlineExceeded', 'ReplicaSet "api-6f5b4c" has timed out progressing.')],
    }))
    expect(v).toEqual({ state: 'failed', reason: 'ProgressDeadlineExceeded: ReplicaSet "api-6f5b4c" has timed out progressing.' })
  })

  it('ProgressDeadlineExceeded without a message still fails, with a reason of its own', () => {
    const v = rolloutVerdict(deployment({ availableReplicas: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }))
    expect(v).toEqual({ state: 'failed', reason: 'ProgressDeadlineExceeded: the rollout made no progress in time' })
  })

  it('a rollout whose replicas are all updated and available is ready, even under a ProgressDeadlineExceeded not rewritten yet', () => {
    const v = rolloutVerdict(deployment({ conditions: [available, progressing('ProgressDeadlineExceeded', 'ReplicaSet "api-6f5b4c" has timed out progressing.')] }))
    expect(v).toEqual({ state: 'ready', reason: '3 of 3 replicas ready' })
  })

  it('ignores a ProgressDeadlineExceeded last updated before the wait began or in its first second (an earlier rollout), not one after', () => {
    const stale = deployment({ updatedReplicas: 1, conditions: [progressing('ProgressDeadlineExceeded', 'ReplicaSet "api-6f5b4c" has timed out progressing.')] })
    const updatedAt = Date.parse('2024-05-01T10:10:00Z')
    expect(rolloutVerdict(stale, updatedAt + 1500)).toEqual({ state: 'progressing', reason: '1 of 3 replicas updated' })
    expect(rolloutVerdict(stale, updatedAt + 500).state).toBe('progressing') // same second: no deadline of this wait expires in it
    expect(rolloutVerdict(stale, updatedAt - 1).state).toBe('failed') // the second after the wait's first
    expect(rolloutVerdict(stale, updatedAt - 2000).state).toBe('failed')
  })

  it('a stale ProgressDeadlineExceeded of the previous generation is not a failure of the new spec', () => {
    const v = rolloutVerdict(deployment({
      observedGeneration: 3, conditions: [progressing('ProgressDeadlineExceeded', 'ReplicaSet "api-6f5b4c" has timed out progressing.')],
    }))
    expect(v).toEqual({ state: 'progressing', reason: 'the controller has not seen the new spec yet' })
  })

  it('other conditions with the same reason or type do not fail it', () => {
    expect(rolloutVerdict(deployment({ conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'ProgressDeadlineExceeded' }] })).state).toBe('ready')
    expect(rolloutVerdict(deployment({ conditions: [progressing('ReplicaSetUpdated', 'ReplicaSet "api-6f5b4c" is progressing.')] })).state).toBe('ready')
  })

  it('counts updated, old and ready replicas in that order', () => {
    expect(rolloutVerdict(deployment({ updatedReplicas: 1, replicas: 4 }))).toEqual({ state: 'progressing', reason: '1 of 3 replicas updated' })
    expect(rolloutVerdict(deployment({ replicas: 4 }))).toEqual({ state: 'progressing', reason: '1 old replicas still running' })
    expect(rolloutVerdict(deployment({ readyReplicas: 2, availableReplicas: 2 }))).toEqual({ state: 'progressing', reason: '2 of 3 replicas ready' })
    expect(rolloutVerdict(deployment({ availableReplicas: 1 }))).toEqual({ state: 'progressing', reason: '1 of 3 replicas ready' })
    expect(rolloutVerdict(deployment({ readyReplicas: undefined, availableReplicas: undefined }))).toEqual({ state: 'progressing', reason: '0 of 3 replicas ready' })
  })

  it('a Deployment the controller has not touched yet is progressing', () => {
    expect(rolloutVerdict({ kind: 'Deployment', metadata: { generation: 1 }, spec: { replicas: 2 } }))
      .toEqual({ state: 'progressing', reason: 'the controller has not seen the new spec yet' })
    expect(rolloutVerdict({ kind: 'Deployment', spec: { replicas: 2 } })).toEqual({ state: 'progressing', reason: '0 of 2 replicas updated' })
    expect(rolloutVerdict({ kind: 'Deployment', spec: { replicas: 2 }, status: { updatedReplicas: 2 } }))
      .toEqual({ state: 'progressing', reason: '0 of 2 replicas ready' })
  })

  it('wants one replica when spec.replicas is unset, and none when scaled to zero', () => {
    expect(rolloutVerdict(deployment({ replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 }, null)))
      .toEqual({ state: 'ready', reason: '1 of 1 replicas ready' })
    expect(rolloutVerdict(deployment({ replicas: 0, updatedReplicas: 0, readyReplicas: 0, availableReplicas: 0 }, null))).toEqual({ state: 'progressing', reason: '0 of 1 replicas updated' })
    expect(rolloutVerdict(deployment({ replicas: undefined, updatedReplicas: undefined, readyReplicas: undefined, availableReplicas: undefined }, 0)))
      .toEqual({ state: 'ready', reason: '0 of 0 replicas ready' })
  })
})

describe('StatefulSet rollouts', () => {
  it('a finished rollout is ready, read from readyReplicas (availableReplicas does not count)', () => {
    expect(rolloutVerdict(statefulSet())).toEqual({ state: 'ready', reason: '1 of 1 replicas ready' })
    expect(rolloutVerdict(statefulSet({ availableReplicas: 0 }))).toEqual({ state: 'ready', reason: '1 of 1 replicas ready' })
    expect(rolloutVerdict(statefulSet({ readyReplicas: 0 }))).toEqual({ state: 'progressing', reason: '0 of 1 replicas ready' })
  })

  it('is not ready until the update revision is the current one (RollingUpdate, the default)', () => {
    const rolling = { currentRevision: 'postgres-5d8c7b9f6', updateRevision: 'postgres-6b7f9c4d8' }
    const expected = { state: 'progressing', reason: 'revision postgres-6b7f9c4d8 not rolled out to every pod yet' }
    expect(rolloutVerdict(statefulSet(rolling))).toEqual(expected)
    expect(rolloutVerdict(statefulSet(rolling, 'RollingUpdate'))).toEqual(expected)
    expect(rolloutVerdict(statefulSet({ currentRevision: undefined, updateRevision: 'postgres-6b7f9c4d8' }))).toEqual(expected)
  })

  it('with OnDelete, or without an update revision, the revisions are not waited for', () => {
    expect(rolloutVerdict(statefulSet({ currentRevision: 'postgres-5d8c7b9f6', updateRevision: 'postgres-6b7f9c4d8' }, 'OnDelete')).state).toBe('ready')
    expect(rolloutVerdict(statefulSet({ currentRevision: undefined, updateRevision: undefined })).state).toBe('ready')
  })

  it('a progress deadline does not apply to StatefulSets', () => {
    const v = rolloutVerdict(statefulSet({ conditions: [progressing('ProgressDeadlineExceeded', 'x')] }))
    expect(v.state).toBe('ready')
  })

  it('a new generation not yet observed is progressing', () => {
    expect(rolloutVerdict(statefulSet({ observedGeneration: 1 })).reason).toBe('the controller has not seen the new spec yet')
  })
})

describe('waited kinds', () => {
  it('are the workloads with a rollout status', () => {
    expect(WAITED_KINDS).toEqual(['Deployment', 'StatefulSet'])
  })
})

// Pods as the kubelet of the lab's real node reported them (containerStatuses trimmed to the fields read).
type Status = NonNullable<NonNullable<PodLike['status']>['containerStatuses']>[number]
const pod = (name: string, status: Partial<Status>, labels: Record<string, string> = { 'pod-template-hash': 'new' }): PodLike => ({
  metadata: { name, labels }, status: { containerStatuses: [{ name: 'api', ready: false, restartCount: 0, ...status }] },
})
const exited = (exitCode: number) => ({ terminated: { exitCode, reason: 'Error' } })

describe('pods of a rollout that cannot start', () => {
  it('a container that keeps exiting fails after CRASH_EXITS exits: CrashLoopBackOff, or terminated between back-offs', () => {
    expect(CRASH_EXITS).toBe(3)
    const backoff = { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container=api' } }
    expect(podsVerdict([pod('api-1', { restartCount: 2, state: backoff, lastState: exited(3) })])).toEqual({
      state: 'failed', reason: 'CrashLoopBackOff: pod api-1 container api exited 3 times, last with code 3 (Error)',
    })
    expect(podsVerdict([pod('api-1', { restartCount: 2, state: exited(1) })])?.reason)
      .toBe('CrashLoopBackOff: pod api-1 container api exited 3 times, last with code 1 (Error)')
  })

  it('one or two exits are not yet a verdict (a service may wait for its database once), nor is a running container', () => {
    expect(podsVerdict([pod('api-1', { restartCount: 0, state: exited(1) })])).toBeUndefined()
    expect(podsVerdict([pod('api-1', { restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: exited(1) })])).toBeUndefined()
    expect(podsVerdict([pod('api-1', { restartCount: 2, state: { running: {} }, lastState: exited(1) })])).toBeUndefined()
    expect(podsVerdict([pod('api-1', { ready: true, restartCount: 5, state: { running: {} }, lastState: exited(137) })])).toBeUndefined()
    expect(podsVerdict([pod('api-1', { state: { waiting: { reason: 'ContainerCreating' } } })])).toBeUndefined()
  })

  it('an image that cannot be pulled or a container that cannot be made fails at once, with the kubelet message', () => {
    const notFound = 'failed to pull and unpack image "127.0.0.1:5001/graphmemory/api@sha256:00": not found'
    expect(podsVerdict([pod('api-1', { state: { waiting: { reason: 'ErrImagePull', message: notFound } } })])).toEqual({
      state: 'failed', reason: `ErrImagePull: pod api-1 container api: ${notFound}`,
    })
    expect(podsVerdict([pod('api-1', { state: { waiting: { reason: 'ImagePullBackOff' } } })])?.reason).toBe('ImagePullBackOff: pod api-1 container api: no message')
    expect(podsVerdict([pod('api-1', { state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "x" not found' } } })])?.reason)
      .toMatch(/^CreateContainerConfigError: .*secret "x" not found/)
  })
})

describe('the pods of a workload\'s newest revision', () => {
  const deploy: Workload = {
    kind: 'Deployment', metadata: { name: 'api', annotations: { 'deployment.kubernetes.io/revision': '4' } },
    spec: { selector: { matchLabels: { 'app.kubernetes.io/name': 'api' } } },
  }
  const rs = (hash: string, revision: string, owner = 'api'): PodLike => ({
    metadata: { name: `api-${hash}`, labels: { 'pod-template-hash': hash }, annotations: { 'deployment.kubernetes.io/revision': revision }, ownerReferences: [{ kind: 'Deployment', name: owner }] },
  })
  const crashing = { restartCount: 4, state: exited(3) }

  it('a Deployment: only the pods of the ReplicaSet with its revision, none being deleted', () => {
    const old = pod('api-old-1', crashing, { 'pod-template-hash': 'old' })
    const current = pod('api-new-1', {}, { 'pod-template-hash': 'new' })
    const leaving = { ...pod('api-new-2', crashing), metadata: { name: 'api-new-2', labels: { 'pod-template-hash': 'new' }, deletionTimestamp: '2026-11-27T10:00:00Z' } }
    expect(revisionPods(deploy, [rs('old', '3'), rs('new', '4'), rs('other', '4', 'web')], [old, current, leaving])).toEqual([current])
    expect(podsVerdict(revisionPods(deploy, [rs('old', '3'), rs('new', '4')], [old, current, leaving]))).toBeUndefined()
    expect(revisionPods(deploy, [rs('old', '3')], [old])).toEqual([]) // the new ReplicaSet not made yet
  })

  it('leaves out a pod that ended for good (evicted, or stopped by a node shutdown): the controller replaced it', () => {
    const evicted = { ...pod('api-new-1', crashing), status: { ...pod('api-new-1', crashing).status, phase: 'Failed' } }
    const replacement = pod('api-new-2', { ready: true, state: { running: {} } })
    expect(podsVerdict([evicted])?.state).toBe('failed') // its exits alone would fail the rollout
    expect(revisionPods(deploy, [rs('new', '4')], [evicted, replacement])).toEqual([replacement])
    const finished = { ...evicted, status: { ...evicted.status, phase: 'Succeeded' } }
    expect(revisionPods(deploy, [rs('new', '4')], [finished])).toEqual([])
    const running = { ...evicted, status: { ...evicted.status, phase: 'Running' } }
    expect(revisionPods(deploy, [rs('new', '4')], [running])).toEqual([running])
  })

  it('a StatefulSet: the pods labelled with its update revision', () => {
    const sts: Workload = { kind: 'StatefulSet', status: { updateRevision: 'postgres-2' } }
    const a = pod('postgres-0', {}, { 'controller-revision-hash': 'postgres-2' })
    expect(revisionPods(sts, [], [a, pod('postgres-1', {}, { 'controller-revision-hash': 'postgres-1' })])).toEqual([a])
  })

  it('the selector of its pods, for a list call', () => {
    expect(podSelector(deploy)).toBe('app.kubernetes.io/name=api')
    expect(podSelector({ kind: 'Deployment' })).toBe('')
  })
})
