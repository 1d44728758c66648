// recentEvents: the events a rollout failure shows (the in-memory list stands for the cluster's; no lab needed).
import { describe, expect, it } from 'vitest'
import type { KubeObject } from '../adapters/kubernetes.js'
import { recentEvents } from './rollout.js'

const event = (name: string, kind: string, reason: string, at: string, extra: Record<string, unknown> = {}) =>
  ({ apiVersion: 'v1', kind: 'Event', metadata: { name: `${name}.${reason}`, namespace: 'ns' }, involvedObject: { kind, name }, type: 'Warning', reason, message: `${reason} of ${name}`, lastTimestamp: at, ...extra })

/** A cluster whose only objects are these events; it checks what is listed. */
const cluster = (events: object[]) => ({
  list: async <T>(apiVersion: string, kind: string, opts?: { namespace?: string }): Promise<T[]> => {
    expect([apiVersion, kind, opts?.namespace]).toEqual(['v1', 'Event', 'ns'])
    return events as T[]
  },
})

describe('recentEvents', () => {
  it('keeps the workload\'s events and those of what it owns (named <workload>-…), oldest first, the last `count`', async () => {
    const events = [
      event('api-7d9c-x1', 'Pod', 'BackOff', '2026-12-05T10:00:05Z'),
      event('api', 'Deployment', 'ScalingReplicaSet', '2026-12-05T10:00:01Z', { type: 'Normal' }),
      event('apidocs', 'Deployment', 'Unrelated', '2026-12-05T10:00:02Z'), // a prefix without the dash is another workload
      event('dashboard-1', 'Pod', 'Failed', '2026-12-05T10:00:03Z'),
      event('api-7d9c', 'ReplicaSet', 'FailedCreate', '2026-12-05T10:00:03Z'),
    ]
    expect(await recentEvents(cluster(events), 'ns', 'api')).toEqual([
      'Normal ScalingReplicaSet Deployment/api: ScalingReplicaSet of api',
      'Warning FailedCreate ReplicaSet/api-7d9c: FailedCreate of api-7d9c',
      'Warning BackOff Pod/api-7d9c-x1: BackOff of api-7d9c-x1',
    ])
    expect(await recentEvents(cluster(events), 'ns', 'api', 1)).toEqual(['Warning BackOff Pod/api-7d9c-x1: BackOff of api-7d9c-x1'])
  })

  it('orders by the event time or creation time when an event has no lastTimestamp, and tolerates missing fields', async () => {
    const events = [
      { ...event('api', 'Deployment', 'Late', ''), lastTimestamp: undefined, eventTime: '2026-12-05T10:00:09Z' },
      { ...event('api', 'Deployment', 'Early', ''), lastTimestamp: undefined, metadata: { name: 'e', creationTimestamp: '2026-12-05T10:00:01Z' } },
      { apiVersion: 'v1', kind: 'Event', metadata: { name: 'bare' }, involvedObject: { name: 'api' } },
      { apiVersion: 'v1', kind: 'Event', metadata: { name: 'nobody' } },
    ] as KubeObject[]
    expect(await recentEvents(cluster(events), 'ns', 'api')).toEqual([
      '/api:', // no time counts as the oldest; no type, reason, kind or message leaves only the name
      'Warning Early Deployment/api: Early of api',
      'Warning Late Deployment/api: Late of api',
    ])
  })
})
