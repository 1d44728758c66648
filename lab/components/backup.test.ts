// The disaster-recovery drill on the lab's real node (lab/components/dr.testkit.ts): data written through the API,
// backed up to the lab's object store (rclone serve s3), the namespace deleted with its claims, a fresh deploy
// restored from the latest backup, the same data read back with the same key. Then, in the restored namespace, a
// restore from a missing and from a corrupt backup refused with nothing changed; the object store's credentials in
// no Job spec's env and in no log line. Needs `make lab-up` (with the object-store component).
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../env.js'
import { Kube, type KubeObject } from '../../ci/src/adapters/kubernetes.js'
import { backupNamespace, backupsOf, restoreNamespace } from '../../ci/src/steps/backup.js'
import { RELEASE_LABEL } from '../../ci/src/plan/releases.js'
import { apiUrl } from './app-env.testkit.js'
import { Api, drill, removePrefix, runSql, storeFolder, view, type DrillResult } from './dr.testkit.js'
import { credentials } from './object-store.mjs'
import { until } from '../lib/until.testkit.js'

let result: DrillResult
const lines: string[] = []
const log = (l: string) => { lines.push(l); process.stderr.write(`${l}\n`) }

beforeAll(async () => { result = await drill(log) }, 2_400_000)
afterAll(async () => {
  if (!result) return
  await result.restored.remove().catch(() => undefined)
  removePrefix(result.source.env.namespace)
  removePrefix(result.restored.env.namespace)
}, 300_000)

describe('disaster recovery on the real node', () => {
  it('reads back exactly the data written before the disaster, with the same API key', () => {
    expect(result.after).toEqual(result.written.view)
    expect((result.written.view as { memories: unknown[] }).memories).toHaveLength(3)
    expect((result.written.view as { neighbors: unknown[] }).neighbors).toHaveLength(2)
    console.log(`DR drill: ${JSON.stringify(result.figures)}`)
  })

  it('the restored API takes writes with the same key', async () => {
    const api = new Api(await apiUrl(result.restored.admin, result.restored.env.namespace), result.written.key)
    const r = await api.call<{ id: string }>('POST', '/memories', { text: 'after the restore', tags: [], project: 'drill' })
    expect(r.status).toBe(201)
    // and a key that never existed there is still refused
    expect((await new Api(api.url, 'not-a-key-of-this-environment').call('POST', '/memories', { text: 'x' })).status).toBe(401)
  })

  it('refuses a restore from a missing backup and from a corrupt one, with nothing changed', async () => {
    const deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
    const ns = result.restored.env.namespace
    const api = new Api(await apiUrl(result.restored.admin, ns), result.written.key)
    const before = await view(api, result.written.ids)
    const status = async () => (await api.call('GET', '/status')).body

    const counts = await status()
    const missing = restoreNamespace(deployer, { prefix: result.source.env.namespace, target: ns, from: '20000101T000000Z', log })
    await expect(missing).rejects.toThrow(/backup 20000101T000000Z does not exist/)
    await expect(missing).rejects.toThrow(/nothing was changed/)

    // a backup of the restored namespace, then one byte of its Postgres dump changed in the store
    const made = await backupNamespace(deployer, ns, 900, log)
    const dump = `${storeFolder(ns, String(made.name))}/postgres.dump`
    const bytes = fs.readFileSync(dump)
    bytes[bytes.length - 1] ^= 0xff
    fs.writeFileSync(dump, bytes)
    const corrupt = restoreNamespace(deployer, { prefix: ns, target: ns, from: String(made.name), log })
    // caught by the checksum the store recorded at upload, or by the manifest's sha256 where a store keeps none
    await expect(corrupt).rejects.toThrow(/backup \d{8}T\d{6}Z is corrupt: postgres.dump (does not match the checksum recorded at its upload|do not match the sha256 in its manifest)/)
    await expect(corrupt).rejects.toThrow(/nothing was changed/)
    expect(await status()).toEqual(counts)
    expect(await view(api, result.written.ids)).toEqual(before)
    // the list shows both backups of the namespace; the lock was released after each refusal
    expect((await backupsOf(deployer, ns)).map((b) => [b.name, b.status])).toEqual([[String(made.name), 'complete']])
    expect(await deployer.get<KubeObject>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: 'graphmemory-deploy', namespace: ns })).toBeUndefined()
  })

  it('brings back the Postgres data after it was damaged in place (the keys deleted), from the latest backup', async () => {
    const deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
    const ns = result.restored.env.namespace
    const api = new Api(await apiUrl(result.restored.admin, ns), result.written.key)
    await backupNamespace(deployer, ns, 900, log)
    await runSql(deployer, ns, 'DELETE FROM api_keys')
    expect((await api.call('POST', '/memories', { text: 'refused: the key is gone' })).status).toBe(401)
    const r = await restoreNamespace(deployer, { prefix: ns, target: ns, from: 'latest', log })
    expect(r.memories).toBe(4) // the three of the drill and the one written after the first restore
    expect((await api.call('POST', '/memories', { text: 'the key works again', tags: [], project: 'drill' })).status).toBe(201)
  })

  it('a backup run counts for its CronJob: lastSuccessfulTime, and kube-state-metrics\' series the alert reads', async () => {
    const admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
    const ns = result.restored.env.namespace
    type Cron = KubeObject & { spec?: { suspend?: boolean }; status?: { lastSuccessfulTime?: string } }
    // the restores suspended the schedule around their restore Jobs and put it back
    expect((await admin.get<Cron>({ apiVersion: 'batch/v1', kind: 'CronJob', name: 'backup', namespace: ns }))?.spec?.suspend).toBe(false)
    const last = await until(`CronJob ${ns}/backup's status.lastSuccessfulTime`,
      async () => (await admin.get<Cron>({ apiVersion: 'batch/v1', kind: 'CronJob', name: 'backup', namespace: ns }))?.status?.lastSuccessfulTime, 60000, 1000)
    expect(Date.now() - Date.parse(last)).toBeLessThan(20 * 60 * 1000)
    const svc = await admin.get<KubeObject & { spec: { clusterIP: string } }>({ apiVersion: 'v1', kind: 'Service', name: 'kube-state-metrics', namespace: 'graphmemory-kube-state-metrics' })
    const series = await until(`kube-state-metrics' kube_cronjob_status_last_successful_time of ${ns}/backup`, async () => {
      const text = await (await fetch(`http://${svc!.spec.clusterIP}:8080/metrics`)).text()
      return text.split('\n').find((l) => l.startsWith('kube_cronjob_status_last_successful_time{') && l.includes(`namespace="${ns}"`) && l.includes('cronjob="backup"'))
    }, 30000, 1000)
    expect(Number(series.split(' ').pop())).toBe(Math.floor(Date.parse(last) / 1000))
  })

  it('never shows the object store\'s credentials: not in the CronJob\'s or Jobs\' specs, release records, or a log line', async () => {
    const { accessKeyId, secretAccessKey } = credentials()
    const admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
    const namespace = result.restored.env.namespace
    const cron = await admin.get<KubeObject>({ apiVersion: 'batch/v1', kind: 'CronJob', name: 'backup', namespace })
    expect(JSON.stringify(cron)).toContain('graphmemory-backup-s3') // the Secret, mounted as files
    const jobs = await admin.list<KubeObject>('batch/v1', 'Job', { namespace })
    expect(jobs.length).toBeGreaterThan(0) // the backup runs, kept by their CronJob
    const records = await admin.list<KubeObject>('v1', 'ConfigMap', { namespace, labelSelector: RELEASE_LABEL })
    expect(records.length).toBeGreaterThan(0)
    const seen = [JSON.stringify(cron), JSON.stringify(jobs), JSON.stringify(records), lines.join('\n')]
    for (const secret of [accessKeyId, secretAccessKey]) for (const text of seen) expect(text).not.toContain(secret)
  })
})
