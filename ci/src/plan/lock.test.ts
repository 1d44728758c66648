// The deploy lock's decisions, on Lease objects shaped like what the API server returns (MicroTime strings or Dates).
import { describe, expect, it } from 'vitest'
import { LOCK_NAME, LOCK_SECONDS, leaseSpec, lockState, type LeaseLike } from './lock.js'

const ACQUIRED = '2024-05-01T10:00:00.250000Z'
const RENEWED = '2024-05-01T10:00:20.500000Z'
const at = (iso: string): number => Date.parse(iso)

/** A Lease as `kubectl get lease -o json` shows it. */
const lease = (spec: LeaseLike['spec']) => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: 'graphmemory-deploy', namespace: 'graphmemory-staging', resourceVersion: '912' },
  spec,
})
const held = lease({ holderIdentity: 'deploy-staging-ci-4711', leaseDurationSeconds: 30, acquireTime: ACQUIRED, renewTime: RENEWED })

describe('lock state', () => {
  it('no Lease, no spec or no holder (a released lock) is free', () => {
    expect(lockState(undefined, at(RENEWED))).toEqual({ state: 'free' })
    expect(lockState({}, at(RENEWED))).toEqual({ state: 'free' })
    expect(lockState(lease({ leaseDurationSeconds: 30, renewTime: RENEWED }), at(RENEWED))).toEqual({ state: 'free' })
    expect(lockState(lease({ holderIdentity: '', leaseDurationSeconds: 30, renewTime: RENEWED }), at(RENEWED))).toEqual({ state: 'free' })
  })

  it('is held from its renewal until the last millisecond of its duration, counting seconds left up', () => {
    expect(lockState(held, at(RENEWED))).toEqual({ state: 'held', holder: 'deploy-staging-ci-4711', since: '2024-05-01T10:00:00.250Z', expiresIn: 30 })
    expect(lockState(held, at(RENEWED) + 1)).toMatchObject({ state: 'held', expiresIn: 30 })
    expect(lockState(held, at(RENEWED) + 1000)).toMatchObject({ state: 'held', expiresIn: 29 })
    expect(lockState(held, at('2024-05-01T10:00:50.499Z'))).toMatchObject({ state: 'held', expiresIn: 1 })
  })

  it('expires exactly at renewal plus its duration, keeping the holder for the log', () => {
    expect(lockState(held, at('2024-05-01T10:00:50.500Z'))).toEqual({ state: 'expired', holder: 'deploy-staging-ci-4711' })
    expect(lockState(held, at('2024-05-01T11:00:00Z'))).toEqual({ state: 'expired', holder: 'deploy-staging-ci-4711' })
  })

  it('measures from the renewal, not the acquisition', () => {
    // acquired 30.25 s before `now`, renewed 10 s before: still held
    expect(lockState(held, at('2024-05-01T10:00:30.500Z'))).toMatchObject({ state: 'held', expiresIn: 20 })
  })

  it('without a renewal measures from the acquisition, and reports it as the start', () => {
    const l = lease({ holderIdentity: 'h', leaseDurationSeconds: 30, acquireTime: ACQUIRED })
    expect(lockState(l, at('2024-05-01T10:00:30.249Z'))).toEqual({ state: 'held', holder: 'h', since: '2024-05-01T10:00:00.250Z', expiresIn: 1 })
    expect(lockState(l, at('2024-05-01T10:00:30.250Z'))).toEqual({ state: 'expired', holder: 'h' })
  })

  it('without an acquisition reports the renewal as the start', () => {
    const l = lease({ holderIdentity: 'h', leaseDurationSeconds: 30, renewTime: RENEWED })
    expect(lockState(l, at(RENEWED))).toMatchObject({ state: 'held', since: '2024-05-01T10:00:20.500Z' })
  })

  it('a holder without any time has long expired', () => {
    expect(lockState(lease({ holderIdentity: 'h' }), at(RENEWED))).toEqual({ state: 'expired', holder: 'h' })
  })

  it('honours the Lease duration, defaulting to LOCK_SECONDS', () => {
    const short = lease({ holderIdentity: 'h', leaseDurationSeconds: 5, renewTime: RENEWED })
    expect(lockState(short, at(RENEWED) + 4999)).toMatchObject({ state: 'held', expiresIn: 1 })
    expect(lockState(short, at(RENEWED) + 5000)).toEqual({ state: 'expired', holder: 'h' })
    const unset = lease({ holderIdentity: 'h', renewTime: RENEWED })
    expect(LOCK_SECONDS).toBe(30)
    expect(lockState(unset, at(RENEWED) + 29_999)).toMatchObject({ state: 'held', expiresIn: 1 })
    expect(lockState(unset, at(RENEWED) + 30_000)).toEqual({ state: 'expired', holder: 'h' })
  })

  it('reads Date times (as @kubernetes/client-node deserializes them) like strings', () => {
    const l = lease({ holderIdentity: 'h', leaseDurationSeconds: 30, acquireTime: new Date(ACQUIRED), renewTime: new Date(RENEWED) })
    expect(lockState(l, at(RENEWED) + 10_000)).toEqual(lockState(lease({ ...held.spec, holderIdentity: 'h' }), at(RENEWED) + 10_000))
    expect(lockState(l, at(RENEWED) + 10_000)).toEqual({ state: 'held', holder: 'h', since: '2024-05-01T10:00:00.250Z', expiresIn: 20 })
  })
})

describe('lease spec', () => {
  const MICRO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/

  it('writes MicroTime (six fractional digits) and the lock duration', () => {
    const now = at('2024-05-01T10:00:20.123Z')
    const spec = leaseSpec('deploy-prod-ci-1', now)
    expect(spec).toEqual({
      holderIdentity: 'deploy-prod-ci-1', leaseDurationSeconds: 30,
      acquireTime: '2024-05-01T10:00:20.123000Z', renewTime: '2024-05-01T10:00:20.123000Z',
    })
    expect(spec.acquireTime).toMatch(MICRO)
    expect(leaseSpec('h', at('2024-05-01T10:00:00Z')).renewTime).toBe('2024-05-01T10:00:00.000000Z')
  })

  it('a renewal keeps the acquisition time', () => {
    const spec = leaseSpec('h', at('2024-05-01T10:00:10Z'), at('2024-05-01T10:00:00.007Z'))
    expect(spec.acquireTime).toBe('2024-05-01T10:00:00.007000Z')
    expect(spec.renewTime).toBe('2024-05-01T10:00:10.000000Z')
  })

  it('what it writes reads back as held by the writer for the full duration', () => {
    const now = at('2024-05-01T10:00:10.001Z')
    const spec = leaseSpec('h', now, at('2024-05-01T10:00:00Z')) as LeaseLike['spec']
    expect(lockState({ spec }, now)).toEqual({ state: 'held', holder: 'h', since: '2024-05-01T10:00:00.000Z', expiresIn: LOCK_SECONDS })
    expect(lockState({ spec }, now + LOCK_SECONDS * 1000)).toEqual({ state: 'expired', holder: 'h' })
  })

  it('the Lease has a fixed name', () => {
    expect(LOCK_NAME).toBe('graphmemory-deploy')
  })
})
