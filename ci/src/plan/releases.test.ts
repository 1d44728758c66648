// Release records: the ConfigMap round trip (as the API server returns it) and the choices made from the history.
import zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { PipelineError } from '../errors.js'
import {
  RELEASE_LABEL, current, formatHistory, manifestHash, manifestOf, newestFirst, nextRevision, releaseConfigMap, releaseName,
  releaseOf, rollbackTarget, type Release, type ReleaseStatus,
} from './releases.js'

const D1 = 'sha256:' + '1a'.repeat(32)
const D2 = 'sha256:' + '2b'.repeat(32)
const MANIFEST = `apiVersion: v1
kind: Namespace
metadata:
  name: graphmemory-staging
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: graphmemory-staging
spec:
  template:
    spec:
      containers:
        - name: api
          image: 127.0.0.1:5001/graphmemory/api@${D1}
          env: [{name: GREETING, value: "grüß dich ✓"}]
`

const release = (revision: number, status: ReleaseStatus, extra: Partial<Release> = {}): Release => ({
  revision,
  environment: 'staging',
  status,
  images: { 'graphmemory/api': `127.0.0.1:5001/graphmemory/api@${D1}`, 'graphmemory/analytics': `127.0.0.1:5001/graphmemory/analytics:1.2@${D2}` },
  manifestHash: manifestHash(MANIFEST),
  commit: '596c912e4f0b7a1d2c3e4f5a6b7c8d9e0f1a2b3c',
  time: `2024-05-0${revision}T10:00:00.000Z`,
  origin: 'deploy',
  inventory: [
    { apiVersion: 'v1', kind: 'Namespace', name: 'graphmemory-staging' },
    { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api', namespace: 'graphmemory-staging' },
  ],
  ...extra,
})

/** What a thrown PipelineError says. */
const failure = (fn: () => unknown): PipelineError => {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(PipelineError)
    return err as PipelineError
  }
  throw new Error('expected a PipelineError')
}

describe('release records', () => {
  it('names revisions and hashes manifests as sha256:<hex>', () => {
    expect(releaseName(12)).toBe('graphmemory-release-v12')
    expect(manifestHash('')).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(manifestHash(MANIFEST)).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(manifestHash(MANIFEST)).not.toBe(manifestHash(MANIFEST + ' '))
  })

  it('a release becomes a labelled ConfigMap with its fields as data and the manifest gzipped', () => {
    const r = release(3, 'deployed')
    const cm = releaseConfigMap(r, MANIFEST, 'graphmemory-staging')
    expect(cm.apiVersion).toBe('v1')
    expect(cm.kind).toBe('ConfigMap')
    expect(cm.metadata).toEqual({
      name: 'graphmemory-release-v3', namespace: 'graphmemory-staging',
      labels: { [RELEASE_LABEL]: 'staging', 'graphmemory.dev/release-status': 'deployed' },
    })
    expect(JSON.parse((cm.data as Record<string, string>).release)).toEqual(r)
    const gz = Buffer.from((cm.binaryData as Record<string, string>)['manifest.yaml.gz'], 'base64')
    expect([...gz.subarray(0, 2)]).toEqual([0x1f, 0x8b])
    expect(zlib.gunzipSync(gz).toString('utf8')).toBe(MANIFEST)
  })

  it('round-trips through the API server: the release and the manifest (UTF-8 intact) come back as written', () => {
    const r = release(3, 'superseded', { origin: 'rollback to 1' })
    const cm = releaseConfigMap(r, MANIFEST, 'graphmemory-staging')
    // what a GET returns: server-written metadata added, the rest as JSON
    const got = JSON.parse(JSON.stringify({ ...cm, metadata: { ...cm.metadata, uid: 'u', resourceVersion: '88', creationTimestamp: '2024-05-03T10:00:00Z' } }))
    expect(releaseOf(got)).toEqual(r)
    expect(manifestOf(got)).toBe(MANIFEST)
    expect(manifestHash(manifestOf(got))).toBe(r.manifestHash)
  })

  it('a record without its data or manifest is reported damaged, by name', () => {
    const e1 = failure(() => releaseOf({ metadata: { name: 'graphmemory-release-v7' }, binaryData: { 'manifest.yaml.gz': 'x' } }))
    expect(e1.message).toMatch(/^release record graphmemory-release-v7 is damaged: it has no release data/)
    const e2 = failure(() => releaseOf({ metadata: { name: 'graphmemory-release-v8' }, data: { release: '' } }))
    expect(e2.what).toBe('release record graphmemory-release-v8 is damaged')
    const e3 = failure(() => manifestOf({ metadata: { name: 'graphmemory-release-v7' }, data: { release: '{}' } }))
    expect(e3.message).toMatch(/^release record graphmemory-release-v7 is damaged: it has no manifest/)
    expect(e3.fix).toBe('deploy again from source or by digests')
    expect(failure(() => manifestOf({})).why).toBe('it has no manifest')
  })
})

describe('history choices', () => {
  const history = [release(2, 'superseded'), release(4, 'failed'), release(1, 'superseded'), release(3, 'deployed')]

  it('sorts newest first without touching its input', () => {
    expect(newestFirst(history).map((r) => r.revision)).toEqual([4, 3, 2, 1])
    expect(history.map((r) => r.revision)).toEqual([2, 4, 1, 3])
  })

  it('the next revision follows the highest, failed ones included', () => {
    expect(nextRevision([])).toBe(1)
    expect(nextRevision(history)).toBe(5)
    expect(nextRevision([release(9, 'failed'), release(2, 'deployed')])).toBe(10)
  })

  it('the current release is the newest deployed one, not a newer failed one', () => {
    expect(current(history)?.revision).toBe(3)
    expect(current([release(1, 'failed')])).toBeUndefined()
    expect(current([])).toBeUndefined()
  })

  it('rolls back to the good release before the current one, skipping failed ones', () => {
    expect(rollbackTarget(history, 'staging').revision).toBe(2)
    expect(rollbackTarget([release(1, 'superseded'), release(2, 'failed'), release(3, 'deployed'), release(4, 'failed')], 'staging').revision).toBe(1)
  })

  it('rolls back to a named revision that once became ready, even an older one', () => {
    expect(rollbackTarget(history, 'staging', 1)).toEqual(release(1, 'superseded'))
    expect(rollbackTarget(history, 'staging', 3).revision).toBe(3)
  })

  it('refuses a named revision that never became ready', () => {
    const e = failure(() => rollbackTarget(history, 'staging', 4))
    expect(e.what).toBe('release 4 of staging never became ready')
    expect(e.why).toBe('rolling back to it would deploy a known-bad release')
  })

  it('refuses a revision that does not exist, listing those that do, newest first', () => {
    const e = failure(() => rollbackTarget(history, 'staging', 9))
    expect(e.what).toBe('staging has no release 9')
    expect(e.why).toBe('its releases are 4, 3, 2, 1')
    expect(e.fix).toBe('pick one from `history --env staging`')
    expect(failure(() => rollbackTarget([], 'prod', 1)).why).toBe('its releases are none')
  })

  it('refuses when there is no earlier good release, saying why', () => {
    const first = failure(() => rollbackTarget([release(1, 'deployed'), release(2, 'failed')], 'staging'))
    expect(first.what).toBe('staging has no earlier good release to roll back to')
    expect(first.why).toBe('release 1 is the first that became ready')
    const onlyFailedBefore = failure(() => rollbackTarget([release(1, 'failed'), release(2, 'deployed')], 'staging'))
    expect(onlyFailedBefore.why).toBe('release 2 is the first that became ready')
    const none = failure(() => rollbackTarget([release(1, 'failed')], 'dev'))
    expect(none.what).toBe('dev has no earlier good release to roll back to')
    expect(none.why).toBe('nothing has been deployed there yet')
    expect(failure(() => rollbackTarget([], 'dev')).why).toBe('nothing has been deployed there yet')
  })
})

describe('formatHistory', () => {
  it('says when there is nothing', () => {
    expect(formatHistory([], 'prod')).toBe('prod: no releases yet\n')
  })

  it('one block per release, newest first: revision, status, time, short commit, origin, then each image digest', () => {
    const text = formatHistory([release(1, 'superseded'), release(2, 'deployed', { commit: '', origin: 'promote from staging', images: { x: `r/x@${D2}` } })], 'staging')
    expect(text).toBe([
      'REV  STATUS      TIME  COMMIT  ORIGIN',
      `   2  deployed   2024-05-02T10:00:00.000Z  -             promote from staging`,
      `        x sha256:2b2b2b2b2b2b`,
      `   1  superseded 2024-05-01T10:00:00.000Z  596c912e4f0b  deploy`,
      `        graphmemory/analytics sha256:2b2b2b2b2b2b`,
      `        graphmemory/api sha256:1a1a1a1a1a1a`,
      '',
    ].join('\n'))
  })
})

describe('a damaged release record', () => {
  it('is refused as damaged (not a raw parse error), so history can skip it', () => {
    expect(() => releaseOf({ metadata: { name: 'graphmemory-release-v3' }, data: { release: '{"revision": 3,' } }))
      .toThrow(/release record graphmemory-release-v3 is damaged: its release data is not JSON/)
  })
})
