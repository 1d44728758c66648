// The disaster-recovery drill on the lab's real node, shared by lab/components/backup.test.ts (which asserts) and
// bench/dr.mjs (which prints the figures): a copy of dev deployed with the backup components, data written through
// the API (an API key, memories, links), a backup; then the disaster (the namespace deleted with its claims, so the
// volumes' folders go too), a fresh deploy, a restore from the latest backup, and the same data read back through
// the API with the same key. RPO: the disaster's time minus the restored backup's; RTO: the disaster to the API
// answering with the data again (redeploy included).
import fs from 'node:fs'
import path from 'node:path'
import { labVar } from '../env.js'
import { Kube, type KubeObject } from '../../ci/src/adapters/kubernetes.js'
import { backupNamespace, restoreNamespace } from '../../ci/src/steps/backup.js'
import { apiUrl, deployApp, type AppEnv } from './app-env.testkit.js'
import { BUCKET, DATA } from './object-store.mjs'
import { pollUntil } from '../lib/proc.mjs'

export const COMPONENTS = ['lab-real-node', 'lab-backup']

/** The API of a deployed copy, with a key. */
export class Api {
  constructor(readonly url: string, readonly key: string) {}

  async call<T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const r = await fetch(`${this.url}${p}`, {
      method, headers: { 'x-api-key': this.key, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(15000),
    })
    const text = await r.text()
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T }
  }

  /** Waits until the API answers /ready; on timeout fails with its last answer. */
  async ready(timeoutMs = 180000): Promise<void> {
    await pollUntil(async () => {
      const r = await fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(5000) })
      return { ok: r.ok, said: `HTTP ${r.status} ${(await r.text()).slice(0, 300)}` }
    }, {
      timeoutMs, everyMs: 1000, done: (r) => r.ok, describe: (r) => r.said,
      onTimeout: (_, seen) => new Error(`the API at ${this.url} not ready after ${timeoutMs / 1000} s: ${seen}`),
    })
  }
}

/** What the drill writes and reads back: three memories, two links, through a key it creates. */
export interface Written { key: string; ids: string[]; view: unknown }

/** Everything the API shows of the written data: each memory, and the first one's neighbours to depth 2. */
export async function view(api: Api, ids: string[]): Promise<unknown> {
  const memories = await Promise.all(ids.map(async (id) => (await api.call('GET', `/memories/${id}`)).body))
  const neighbors = (await api.call('GET', `/memories/${ids[0]}/neighbors?depth=2`)).body
  return { memories, neighbors }
}

/** Creates an API key with the bootstrap key, then memories and links with the new key. */
export async function writeData(app: AppEnv): Promise<Written> {
  const url = await apiUrl(app.admin, app.env.namespace)
  const boot = new Api(url, app.secrets['graphmemory-api']['bootstrap-api-key'])
  await boot.ready()
  const made = await boot.call<{ key: string }>('POST', '/api-keys', { name: 'dr-drill' })
  if (made.status !== 201) throw new Error(`creating an API key: HTTP ${made.status}`)
  const api = new Api(url, made.body.key)
  const ids: string[] = []
  for (const [text, tags] of [['the drill starts', ['dr']], ['a backup is taken', ['dr', 'backup']], ['the namespace is lost', ['dr']]] as const) {
    const r = await api.call<{ id: string }>('POST', '/memories', { text, tags, project: 'drill' })
    if (r.status !== 201) throw new Error(`creating a memory: HTTP ${r.status}`)
    ids.push(r.body.id)
  }
  for (const [a, b] of [[0, 1], [1, 2]]) {
    const r = await api.call('POST', `/memories/${ids[a]}/links`, { target_id: ids[b], kind: 'then' })
    if (r.status !== 201) throw new Error(`linking: HTTP ${r.status}`)
  }
  return { key: made.body.key, ids, view: await view(api, ids) }
}

/** Deletes a namespace and waits until it (with its claims) is gone. */
export async function deleteNamespace(admin: Kube, namespace: string, timeoutMs = 300000): Promise<void> {
  await admin.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace }).catch(() => undefined)
  await pollUntil(() => admin.get<KubeObject & { status?: { phase?: string } }>({ apiVersion: 'v1', kind: 'Namespace', name: namespace }), {
    timeoutMs, everyMs: 1000, done: (ns) => !ns, describe: (ns) => `phase ${ns?.status?.phase}`,
    onTimeout: (_, seen) => new Error(`namespace ${namespace} still there after ${timeoutMs / 1000} s: ${seen}`),
  })
}

/** The folder of a backup (or of a whole prefix) in the lab's object store, on the host. */
export const storeFolder = (prefix: string, name = ''): string => path.join(DATA, BUCKET, prefix, name)

/** Removes a prefix's backups from the lab's store (a drill's own, never an environment's). */
export function removePrefix(prefix: string): void {
  if (!prefix.startsWith('gmi-t-')) throw new Error(`will not remove the backups of ${prefix}`)
  fs.rmSync(storeFolder(prefix), { recursive: true, force: true })
}

/**
 * Runs one SQL statement against a namespace's Postgres, as a Job made from its backup CronJob's pg-dump container
 * (its image, password file, NetworkPolicy labels): how the drill damages the data. Resolves when it succeeded.
 */
export async function runSql(kube: Kube, namespace: string, sql: string, timeoutMs = 180000): Promise<void> {
  type Spec = { initContainers: { name: string; command?: string[]; env?: { name: string; value?: string }[] }[]; containers: unknown[] }
  const cron = await kube.get<KubeObject & { spec: { jobTemplate: { spec: { template: { metadata: { labels: Record<string, string> }; spec: Spec } } } } }>(
    { apiVersion: 'batch/v1', kind: 'CronJob', name: 'backup', namespace })
  if (!cron) throw new Error(`no backup CronJob in ${namespace}`)
  const template = cron.spec.jobTemplate.spec.template
  const pg = template.spec.initContainers.find((c) => c.name === 'pg-dump')!
  const name = `drill-sql-${Date.now().toString(36)}`
  const container = { ...pg, name: 'psql', env: [...(pg.env ?? []), { name: 'SQL', value: sql }],
    command: ['sh', '-c', 'for i in $(seq 60); do pg_isready -q -t 2 && break; sleep 1; done\nPGPASSWORD="$(cat /run/secrets/postgres/password)" exec psql -v ON_ERROR_STOP=1 -c "$SQL"'] }
  await kube.create({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace },
    spec: { backoffLimit: 0, template: { metadata: { labels: template.metadata.labels }, spec: { ...template.spec, initContainers: [], containers: [container] } } } } as KubeObject)
  type Job = KubeObject & { status?: { succeeded?: number; failed?: number } }
  try {
    const job = await pollUntil(() => kube.get<Job>({ apiVersion: 'batch/v1', kind: 'Job', name, namespace }), {
      timeoutMs, everyMs: 1000, done: (j) => Boolean(j?.status?.succeeded || j?.status?.failed),
      describe: (j) => JSON.stringify(j ? j.status : 'not found'),
      onTimeout: (_, seen) => new Error(`the SQL Job ${name} in ${namespace} not finished after ${timeoutMs / 1000} s: ${seen}`),
    })
    if (!job?.status?.succeeded) throw new Error(`the SQL Job ${name} in ${namespace} failed: ${JSON.stringify(job?.status)}`)
  } finally {
    await kube.delete({ apiVersion: 'batch/v1', kind: 'Job', name, namespace }, { propagationPolicy: 'Background' }).catch(() => undefined)
  }
}

/** The time a backup's name says it was taken (ms). */
export const backupTime = (name: string): number =>
  Date.parse(name.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'))

export interface DrillResult {
  source: AppEnv
  restored: AppEnv
  written: Written
  after: unknown
  backupName: string
  figures: { deploySeconds: number; backupSeconds: number; deleteSeconds: number; redeploySeconds: number; restoreSeconds: number; rpoSeconds: number; rtoSeconds: number }
}

/** The drill: deploy, write, back up, lose the namespace, redeploy, restore the latest, read back; with timings. */
export async function drill(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<DrillResult> {
  const deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
  const s = (a: number, b: number) => Number(((b - a) / 1000).toFixed(1))
  const t0 = Date.now()
  const source = await deployApp('dr', COMPONENTS)
  const tDeployed = Date.now()
  log(`deployed ${source.env.namespace} in ${s(t0, tDeployed)} s`)
  let restored: AppEnv | undefined
  try {
    const written = await writeData(source)
    const tB = Date.now()
    const backup = await backupNamespace(deployer, source.env.namespace, 900, log)
    const tBacked = Date.now()
    const backupName = String(backup.name)
    log(`backup ${backupName} in ${s(tB, tBacked)} s: ${JSON.stringify(backup)}`)

    // the disaster: the namespace and its claims are gone (the volumes' folders with them)
    const tDisaster = Date.now()
    await deleteNamespace(source.admin, source.env.namespace)
    const tDeleted = Date.now()
    log(`deleted ${source.env.namespace} in ${s(tDisaster, tDeleted)} s`)

    restored = await deployApp('dr', COMPONENTS)
    const tRedeployed = Date.now()
    log(`redeployed into ${restored.env.namespace} in ${s(tDeleted, tRedeployed)} s`)
    await restoreNamespace(deployer, { prefix: source.env.namespace, target: restored.env.namespace, from: 'latest', log })
    const tRestored = Date.now()
    const api = new Api(await apiUrl(restored.admin, restored.env.namespace), written.key)
    const after = await pollUntil(() => view(api, written.ids), {
      timeoutMs: 120000, everyMs: 500, done: (seen) => JSON.stringify(seen) === JSON.stringify(written.view),
      onTimeout: (_, seen) => new Error(`the restored API does not answer with the data written before the disaster after 120 s: ` +
        `${seen}; written: ${JSON.stringify(written.view)}`),
    })
    const tAnswered = Date.now()
    log(`restored in ${s(tRedeployed, tRestored)} s; the API answered with the data ${s(tRestored, tAnswered)} s later`)
    return {
      source, restored, written, after, backupName,
      figures: {
        deploySeconds: s(t0, tDeployed), backupSeconds: s(tB, tBacked), deleteSeconds: s(tDisaster, tDeleted),
        redeploySeconds: s(tDeleted, tRedeployed), restoreSeconds: s(tRedeployed, tRestored),
        rpoSeconds: s(backupTime(backupName), tDisaster), rtoSeconds: s(tDisaster, tAnswered),
      },
    }
  } catch (err) {
    await source.remove().catch(() => undefined)
    await restored?.remove().catch(() => undefined)
    removePrefix(source.env.namespace)
    throw err
  }
}
