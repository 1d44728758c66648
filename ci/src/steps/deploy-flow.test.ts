// The deploy's loops without a lab: plan → operations → executor, the way back after a failure, the lock and the
// rollout wait, against an in-memory cluster (fake-kube.testkit.ts). The real API server's part (dry run, strict
// validation, RBAC, kwok and real pods) is in deploy.test.ts and deploy-real-node.test.ts.
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import type { KubeObject } from '../adapters/kubernetes.js'
import { environment, type Environment } from '../config/environments.js'
import { APP_LABELS, type K8sObject, type RequiredSecrets } from '../plan/manifests.js'
import { LOCK_NAME } from '../plan/lock.js'
import { describeOperation, releaseOperations, recoveryOperations, unchangedOperations, type Operation } from '../plan/operations.js'
import { deployRelease, type ReleaseRequest } from './deploy.js'
import { execute } from './execute.js'
import { FakeKube } from './fake-kube.testkit.js'
import { readReleases } from './history.js'
import { withLock } from './lock.js'
import { waitForRollout } from './rollout.js'

const NS = 'graphmemory-dev'
const env: Environment = environment('dev')
const required: RequiredSecrets = { environment: 'dev', namespace: NS, secrets: {} }
const FAST = { pollMs: 5, podCheckMs: 10 }

const meta = (name: string, namespace: string | null = NS) => ({ name, ...(namespace ? { namespace } : {}), labels: { ...APP_LABELS } })
const deployment = (name: string, version = '1'): K8sObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(name),
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: `r/${name}@sha256:${version.repeat(64).slice(0, 64)}` }] } } },
} as K8sObject)
const configMap = (name: string): K8sObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(name), data: { a: '1' } } as K8sObject)
const namespace: K8sObject = { apiVersion: 'v1', kind: 'Namespace', metadata: meta(NS, null) } as K8sObject
const manifest = (...objects: K8sObject[]) => [namespace, ...objects].map((o) => `---\n${stringify(o)}`).join('')

const request = (m: string, extra: Partial<ReleaseRequest> = {}): ReleaseRequest =>
  ({ env, required, manifest: m, images: {}, commit: 'c1', origin: 'deploy', timeoutSeconds: 1, wait: FAST, ...extra })

describe('deploy as a plan run by one executor (in-memory cluster)', () => {
  it('a first release applies, waits, records; the same release again changes nothing', async () => {
    const kube = new FakeKube()
    const lines: string[] = []
    const first = await deployRelease(kube, request(manifest(configMap('config'), deployment('api')), { log: (l) => lines.push(l) }))
    expect(first).toMatchObject({ revision: 1, changed: true })
    expect(kube.names('Deployment', NS)).toEqual(['api'])
    expect((await readReleases(kube, NS)).map((r) => [r.revision, r.status])).toEqual([[1, 'deployed']])
    expect(lines.some((l) => /ready: Deployment graphmemory-dev\/api/.test(l))).toBe(true)
    const again = await deployRelease(kube, request(manifest(configMap('config'), deployment('api'))))
    expect(again).toMatchObject({ revision: 1, changed: false })
    expect(kube.objects.has(`Lease/${NS}/${LOCK_NAME}`)).toBe(false) // released
  })

  it('prunes what the previous release had only after the new one is ready, and marks it superseded', async () => {
    const kube = new FakeKube()
    await deployRelease(kube, request(manifest(deployment('api'), deployment('old'))))
    const order: string[] = []
    const seen = kube.calls.length
    await deployRelease(kube, request(manifest(deployment('api', '2'))))
    for (const c of kube.calls.slice(seen)) if (c.verb === 'apply' || c.verb === 'delete') order.push(`${c.verb} ${c.id}`)
    expect(kube.names('Deployment', NS)).toEqual(['api'])
    expect(order.indexOf(`delete Deployment/${NS}/old`)).toBeGreaterThan(order.indexOf(`apply Deployment/${NS}/api`))
    expect((await readReleases(kube, NS)).sort((a, b) => a.revision - b.revision).map((r) => r.status)).toEqual(['superseded', 'deployed'])
  })

  it('re-reads an object just before pruning it: one relabelled (taken over) since the plan is kept', async () => {
    const kube = new FakeKube()
    await deployRelease(kube, request(manifest(deployment('api'), configMap('handed-over'))))
    const lines: string[] = []
    // between the plan and the prune (during the rollout wait) someone takes the ConfigMap over
    kube.rollout = (o) => {
      const cm = kube.objects.get(`ConfigMap/${NS}/handed-over`)
      if (cm && JSON.stringify(kube.objects.get(`Deployment/${NS}/api`)).includes('2'.repeat(64))) cm.metadata.labels = { team: 'theirs' } // once the new api is applied
      return o.kind ? 'ready' : 'ready'
    }
    await deployRelease(kube, request(manifest(deployment('api', '2')), { log: (l) => lines.push(l) }))
    expect(kube.names('ConfigMap', NS)).toContain('handed-over')
    expect(lines).toContain('kept: ConfigMap handed-over (gone, or no longer the application\'s)')
  })

  it('a failed release is recorded, the previous one restored, and what the failed run added removed', async () => {
    const kube = new FakeKube((o) => (o.metadata.name === 'worker' ? 'stalled' : 'ready'))
    await deployRelease(kube, request(manifest(deployment('api'))))
    const failed = deployRelease(kube, request(manifest(deployment('api', '2'), deployment('worker'))))
    await expect(failed).rejects.toThrow(/release 2 of dev failed and was rolled back[\s\S]*worker: ProgressDeadlineExceeded[\s\S]*rolled back to release 1/)
    expect(kube.names('Deployment', NS)).toEqual(['api']) // the worker the failed run added is gone
    const api = kube.objects.get(`Deployment/${NS}/api`) as KubeObject & { spec: { template: { spec: { containers: Array<{ image: string }> } } } }
    expect(api.spec.template.spec.containers[0].image).toMatch(/@sha256:1{64}$/)
    expect((await readReleases(kube, NS)).sort((a, b) => a.revision - b.revision).map((r) => r.status)).toEqual(['deployed', 'failed'])
    expect(kube.objects.has(`Lease/${NS}/${LOCK_NAME}`)).toBe(false) // released after the failure
  })

  it('a first release that fails has nothing to roll back to, and says so', async () => {
    const kube = new FakeKube(() => 'stalled')
    await expect(deployRelease(kube, request(manifest(deployment('api'))))).rejects.toThrow(/release 1 of dev failed[\s\S]*nothing to roll back to: this was the first release/)
    expect((await readReleases(kube, NS)).map((r) => r.status)).toEqual(['failed'])
  })

  it('a rollback that itself fails is named', async () => {
    let broken = false
    const kube = new FakeKube(() => (broken ? 'stalled' : 'ready'))
    await deployRelease(kube, request(manifest(deployment('api'))))
    broken = true // from now on nothing becomes ready: the new release and the way back both fail
    await expect(deployRelease(kube, request(manifest(deployment('api', '2'))))).rejects.toThrow(/the rollback to release 1 did not become ready either:\s+Deployment graphmemory-dev\/api: ProgressDeadlineExceeded/)
  })

  it('an apply the server refuses mid-way fails the release; the way back removes only what was applied', async () => {
    const kube = new FakeKube()
    await deployRelease(kube, request(manifest(deployment('api'))))
    kube.failures.push({ verb: 'apply', id: /Deployment\/.*\/zz-second/, error: new Error('admission webhook denied the request') })
    await expect(deployRelease(kube, request(manifest(deployment('api'), deployment('zz-first'), deployment('zz-second')))))
      .rejects.toThrow(/apply Deployment\/zz-second: admission webhook denied the request[\s\S]*rolled back to release 1/)
    expect(kube.names('Deployment', NS)).toEqual(['api'])
  })

  it('a first deploy whose plan is refused removes the namespace it created', async () => {
    const kube = new FakeKube()
    kube.failures.push({ verb: 'dry-run', id: /Deployment\/.*\/api/, error: new Error('spec.replicas: Invalid value') })
    await expect(deployRelease(kube, request(manifest(deployment('api'))))).rejects.toThrow(/refused 1 object of dev[\s\S]*spec.replicas: Invalid value/)
    expect(kube.objects.has(`Namespace//${NS}`)).toBe(false)
    expect(kube.objects.size).toBe(0)
  })

  it('creates the Secrets given, and reads which keys the cluster holds when none are given again', async () => {
    const kube = new FakeKube()
    const withSecret: RequiredSecrets = { ...required, secrets: { 'graphmemory-api': { type: 'Opaque', keys: ['token'] } } }
    await deployRelease(kube, request(manifest(deployment('api')), { required: withSecret, secrets: { 'graphmemory-api': { token: 't0ps3cret-value' } } }))
    expect(kube.names('Secret', NS)).toEqual(['graphmemory-api'])
    await expect(deployRelease(kube, request(manifest(deployment('api', '2')), { required: withSecret }))).resolves.toMatchObject({ revision: 2 })
    await expect(deployRelease(new FakeKube(), request(manifest(deployment('api')), { required: withSecret }))).rejects.toThrow(/missing required secrets: graphmemory-api\/token/)
  })

  it('an unchanged release that is not ready fails without applying anything', async () => {
    let broken = false
    const kube = new FakeKube(() => (broken ? 'stalled' : 'ready'))
    await deployRelease(kube, request(manifest(deployment('api'))))
    broken = true
    const applies = kube.calls.filter((c) => c.verb === 'apply').length
    await expect(deployRelease(kube, request(manifest(deployment('api'))))).rejects.toThrow(/dev runs release 1 unchanged, but it is not ready[\s\S]*ProgressDeadlineExceeded/)
    expect(kube.calls.filter((c) => c.verb === 'apply' && !c.id.startsWith('Lease')).length).toBe(applies)
  })

  it('the executor stops at the first failure and skips the rest', async () => {
    const kube = new FakeKube()
    kube.failures.push({ verb: 'apply', id: /ConfigMap\/.*\/b/, error: new Error('nope') })
    const ops: Operation[] = ['a', 'b', 'c'].map((n) => ({ kind: 'apply', object: configMap(n) as KubeObject }))
    const out = await execute(kube, ops, { namespace: NS })
    expect(out.map((o) => o.state)).toEqual(['done', 'failed', 'skipped'])
    expect(out[1].error).toBe('nope')
  })
})

describe('operations (pure)', () => {
  const release = { revision: 2, environment: 'dev', status: 'deployed' as const, images: {}, manifestHash: 'h', commit: 'c', time: 't', origin: 'deploy', inventory: [] }
  it('a release: applies, one wait, prunes, record, mark — in that order', () => {
    const ops = releaseOperations({ apply: [configMap('a') as KubeObject], objects: [configMap('a')], prune: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'old', namespace: NS }] }, release, 'm', 5, { ...release, revision: 1 })
    expect(ops.map((o) => o.kind)).toEqual(['apply', 'wait', 'prune', 'record', 'mark'])
    expect(unchangedOperations([], 3)).toEqual([{ kind: 'wait', objects: [], timeoutSeconds: 3 }])
  })
  it('names each operation for logs and messages', () => {
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'old', namespace: NS }
    expect([
      { kind: 'apply', object: configMap('a') as KubeObject }, { kind: 'wait', objects: [configMap('a')], timeoutSeconds: 5 }, { kind: 'prune', ref },
      { kind: 'record', release, manifest: 'm' }, { kind: 'mark', release, status: 'superseded' },
    ].map((o) => describeOperation(o as Operation))).toEqual([
      'apply ConfigMap/a', 'wait for 1 object to roll out (5 s)', 'prune ConfigMap/old', 'record release 2 (deployed)', 'mark release 2 superseded',
    ])
  })
  it('the way back never prunes a Namespace or a claim the failed run applied', () => {
    const applied = [namespace, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: meta('data') }, configMap('new')]
      .map((object) => ({ operation: { kind: 'apply', object } as Operation, state: 'done' as const }))
    const ops = recoveryOperations(release, 'm', applied, { changes: { apply: [], objects: [], prune: [] }, timeoutSeconds: 1 })
    expect(ops.filter((o) => o.kind === 'prune').map((o) => (o as { ref: { kind: string } }).ref.kind)).toEqual(['ConfigMap'])
  })
})

describe('the deploy lock (in-memory cluster)', () => {
  it('is renewed while a long deploy runs, and released when it fails', async () => {
    const kube = new FakeKube()
    await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })
    const renewals: string[] = []
    const work = withLock(kube, NS, 'me', async () => {
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 25))
        const lease = await kube.get<KubeObject & { spec: { renewTime: string } }>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: LOCK_NAME, namespace: NS })
        renewals.push(lease!.spec.renewTime)
      }
      throw new Error('the deploy failed')
    }, () => {}, 20)
    await expect(work).rejects.toThrow('the deploy failed')
    expect(new Set(renewals).size).toBeGreaterThanOrEqual(3)
    expect(kube.objects.has(`Lease/${NS}/${LOCK_NAME}`)).toBe(false)
  })
})

describe('the rollout wait (in-memory cluster)', () => {
  it('waits until a workload is ready, polling', async () => {
    let reads = 0
    const kube = new FakeKube(() => (++reads > 3 ? 'ready' : 'progressing'))
    await kube.apply(deployment('api') as KubeObject)
    expect(await waitForRollout(kube, [deployment('api')], { timeoutSeconds: 2, ...FAST })).toEqual([])
    expect(reads).toBeGreaterThan(3)
  })
  it('stops at ProgressDeadlineExceeded, and times out naming what is not ready', async () => {
    const kube = new FakeKube((o) => (o.metadata.name === 'stuck' ? 'stalled' : 'progressing'))
    await kube.apply(deployment('stuck') as KubeObject)
    await kube.apply(deployment('slow') as KubeObject)
    const [failure] = await waitForRollout(kube, [deployment('stuck')], { timeoutSeconds: 2, ...FAST })
    expect(failure.reason).toMatch(/ProgressDeadlineExceeded: stuck made no progress/)
    const t0 = Date.now()
    const [late] = await waitForRollout(kube, [deployment('slow')], { timeoutSeconds: 0.1, ...FAST })
    expect(late.reason).toMatch(/not ready after 0.1 s: 0 of 1 replicas updated/)
    expect(Date.now() - t0).toBeLessThan(1500)
  })
})
