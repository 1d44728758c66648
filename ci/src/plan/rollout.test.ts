// Rollout verdicts, on Deployment and StatefulSet statuses shaped like what the API server returns.
import { describe, expect, it } from 'vitest'
import { WAITED_KINDS, rolloutVerdict, type Workload } from './rollout.js'

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

  it('ignores a ProgressDeadlineExceeded last updated before the wait began (an earlier rollout), not one from its second on', () => {
    const stale = deployment({ updatedReplicas: 1, conditions: [progressing('ProgressDeadlineExceeded', 'ReplicaSet "api-6f5b4c" has timed out progressing.')] })
    const updatedAt = Date.parse('2024-05-01T10:10:00Z')
    expect(rolloutVerdict(stale, updatedAt + 1500)).toEqual({ state: 'progressing', reason: '1 of 3 replicas updated' })
    expect(rolloutVerdict(stale, updatedAt + 500).state).toBe('failed') // same second: the timestamp cannot tell, so it counts
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
