// The backup steps' decisions on an in-memory cluster (fake-kube.testkit.ts) whose "kubelet" ends each Job's pod as a
// test says: what is refused, what runs in which order, what the lock does. The real Jobs on the real node are
// proven by lab/components/backup.test.ts (the DR drill).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { describe, expect, it } from 'vitest'
import type { KubeObject } from '../adapters/kubernetes.js'
import { leaseSpec, LOCK_NAME } from '../plan/lock.js'
import { TASK_LABEL } from '../plan/backups.js'
import { backupNamespace, restoreNamespace } from './backup.js'
import { FakeKube } from './fake-kube.testkit.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const CRON = parseAllDocuments(fs.readFileSync(path.join(REPO, 'k8s/components/backup/cronjob.yaml'), 'utf8'))
  .map((d) => d.toJS()).find((o) => o.kind === 'CronJob') as KubeObject
const NS = 'graphmemory-dev'

type Ending = { container: string; exitCode: number; message: string }
/** A cluster whose Jobs' pods end as `end(task)` says (the last container that ran, its exit code and message). */
class Cluster extends FakeKube {
  readonly tasks: string[] = []
  constructor(private readonly end: (task: string, job: KubeObject) => Ending) { super() }

  async create<T extends KubeObject>(obj: T): Promise<T> {
    const made = await super.create(obj)
    if (obj.kind === 'Job') {
      const task = obj.metadata.labels?.[TASK_LABEL] ?? '?'
      this.tasks.push(task)
      const e = this.end(task, obj)
      const terminated = { exitCode: e.exitCode, message: e.message, reason: e.exitCode ? 'Error' : 'Completed' }
      const status = e.container === 'backup'
        ? { containerStatuses: [{ name: 'backup', state: { terminated } }] }
        : { initContainerStatuses: [{ name: e.container, state: { terminated } }] }
      await super.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${obj.metadata.name}-pod`, namespace: obj.metadata.namespace, labels: { 'job-name': obj.metadata.name } }, status } as KubeObject)
    }
    return made
  }
}

const withCron = async <C extends FakeKube>(c: C): Promise<C> => { await c.create({ ...CRON, metadata: { ...CRON.metadata, namespace: NS, uid: 'cron-uid' } } as KubeObject); return c }
const ok = (doc: object): Ending => ({ container: 'backup', exitCode: 0, message: JSON.stringify(doc) })
const VERIFIED = { name: '20261205T093000Z', size: 4681, verified: true, memories: 3, taken: { postgres: 'p', graph: 'g' } }
const quiet = () => {}

describe('restore', () => {
  it('refuses a corrupt backup after the verify Job: no restore Job runs, the lock is released', async () => {
    const c = await withCron(new Cluster((task) => (task === 'verify'
      ? { container: 'backup', exitCode: 4, message: JSON.stringify({ error: 'backup 20261205T093000Z is corrupt: postgres.dump do not match the sha256 in its manifest', code: 4 }) }
      : ok({}))))
    await expect(restoreNamespace(c, { prefix: NS, target: NS, from: 'latest', log: quiet }))
      .rejects.toThrow(/backup latest cannot be restored: backup 20261205T093000Z is corrupt.*nothing was changed/s)
    expect(c.tasks).toEqual(['verify'])
    expect(c.names('Lease', NS)).toEqual([])
    expect(c.names('Job', NS)).toEqual([]) // deleted once read
    expect(c.calls.filter((x) => x.verb === 'apply')).toEqual([]) // the schedule untouched
  })

  it('refuses while another deploy holds the environment\'s lock, before any Job', async () => {
    const c = await withCron(new Cluster(() => ok(VERIFIED)))
    await c.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: LOCK_NAME, namespace: NS }, spec: leaseSpec('someone@ci: deploy dev', Date.now()) } as KubeObject)
    await expect(restoreNamespace(c, { prefix: NS, target: NS, from: 'latest', log: quiet })).rejects.toThrow(/another deploy holds the lock of graphmemory-dev.*someone@ci/s)
    expect(c.tasks).toEqual([])
  })

  it('verifies, shows the plan, then restores the verified backup by name, from another prefix for a drill', async () => {
    const lines: string[] = []
    const c = await withCron(new Cluster((task) => ok(task === 'verify' ? VERIFIED : { memories: 3, links: 2 })))
    const r = await restoreNamespace(c, { prefix: 'graphmemory-prod', target: NS, from: 'latest', log: (l) => lines.push(l) })
    expect(r).toMatchObject({ name: '20261205T093000Z', memories: 3, links: 2 })
    expect(c.tasks).toEqual(['verify', 'restore'])
    // the schedule was suspended around the restore Job only, then put back
    const applied = c.calls.filter((x) => x.verb === 'apply' && x.id === `CronJob/${NS}/backup`).length
    expect(applied).toBe(2)
    expect((c.objects.get(`CronJob/${NS}/backup`)?.spec as { suspend?: boolean }).suspend).toBe(false)
    expect(lines.join('\n')).toMatch(/restore plan for graphmemory-dev \(a drill: graphmemory-prod's backups.*\n.*backup 20261205T093000Z: 4.6 KiB, checksums verified/)
  })

  it('the restore Job is refused by name when verify passed but Postgres refuses, naming the container and its last lines', async () => {
    const c = await withCron(new Cluster((task) => (task === 'verify' ? ok(VERIFIED)
      : { container: 'pg-restore', exitCode: 1, message: 'pg_restore: error: could not execute query\nERROR: permission denied' })))
    await expect(restoreNamespace(c, { prefix: NS, target: NS, from: '20261205T093000Z', log: quiet }))
      .rejects.toThrow(/restoring graphmemory-dev from 20261205T093000Z failed: pg-restore: exit 1 \(Error\): pg_restore: error: could not execute query \| ERROR: permission denied/)
    expect(c.names('Lease', NS)).toEqual([])
  })

  it('refuses a namespace deployed without the backup component, naming what to do', async () => {
    await expect(restoreNamespace(new Cluster(() => ok({})), { prefix: NS, target: NS, from: 'latest', log: quiet }))
      .rejects.toThrow(/no backups in graphmemory-dev: it has no CronJob backup.*components\/backup/s)
  })
})

describe('backup now', () => {
  it('runs the CronJob\'s pod as a Job it owns, kept for the CronJob to count', async () => {
    const c = await withCron(new Cluster(() => ok({ name: '20261205T093000Z', size: 10, memories: 1, expired: [], seconds: 1 })))
    expect(await backupNamespace(c, NS, 60, quiet)).toMatchObject({ name: '20261205T093000Z' })
    const [job] = [...c.objects.values()].filter((o) => o.kind === 'Job')
    expect(job.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'CronJob', name: 'backup', uid: 'cron-uid' })])
  })
})
