// Steps: backup (now), backups (list) and restore of an environment, as Jobs made from its backup CronJob
// (k8s/components/backup) and run in its namespace: the object store's credentials stay in the cluster's Secret, the
// pipeline needs only the kubeconfig. Restore is guarded like a deploy: under the environment's lock, a plan first
// (the backup downloaded and verified by a Job of its own), refused with nothing changed when the backup is missing
// or corrupt.
import crypto from 'node:crypto'
import type { Secret, Service } from '@dagger.io/dagger'
import type { Kube, KubeClient, KubeObject } from '../adapters/kubernetes.js'
import { poll } from '../adapters/poll.js'
import { environment } from '../config/environments.js'
import { PipelineError } from '../errors.js'
import {
  CRONJOB, checkBackupName, formatBackups, jobFor, restorePlan, resultOf, taskError,
  type BackupResult, type BackupRow, type CronJobLike, type Task,
} from '../plan/backups.js'
import { Progress } from '../progress.js'
import { connectCluster } from './cluster.js'
import { holderIdentity, withLock } from './lock.js'

interface ContainerStatus { name: string; state?: { terminated?: { exitCode: number; message?: string; reason?: string }; waiting?: { reason?: string; message?: string } } }
interface PodLike extends KubeObject { status?: { phase?: string; initContainerStatuses?: ContainerStatus[]; containerStatuses?: ContainerStatus[] } }
interface JobLike extends KubeObject { status?: { succeeded?: number; failed?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } }

/** Waiting reasons that never resolve by themselves: the Job is failed at once, naming them. */
const STUCK = /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError|CreateContainerError/

/** The backup CronJob of the namespace; refused, naming what to do, when the environment was deployed without it. */
export async function backupCronJob(kube: KubeClient, namespace: string): Promise<CronJobLike> {
  const cron = await kube.get<KubeObject>({ apiVersion: 'batch/v1', kind: 'CronJob', name: CRONJOB, namespace })
  if (!cron) {
    throw new PipelineError(`no backups in ${namespace}`, `it has no CronJob ${CRONJOB}: it was deployed without the backup component`,
      'deploy it again from this repository (every overlay renders ../../components/backup), or add that component to its overlay')
  }
  return cron as unknown as CronJobLike
}

/**
 * Runs a task's Job to its end and returns the result its last container printed; a failed container fails it with
 * that container's message (the Job is deleted then, but a backup run, which its CronJob keeps).
 */
export async function runTask(kube: KubeClient, namespace: string, cron: CronJobLike, task: Task, timeoutMs = 900000): Promise<BackupResult> {
  const job = jobFor(cron, namespace, task, `${Date.now().toString(36)}-${crypto.randomBytes(2).toString('hex')}`)
  await kube.create(job as unknown as KubeObject)
  const ref = { apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, namespace }
  try {
    let phase = 'not created'
    return await poll(async () => {
      const [pod] = await kube.list<PodLike>('v1', 'Pod', { namespace, labelSelector: `job-name=${job.metadata.name}` })
      phase = pod?.status?.phase ?? 'not created'
      const statuses = [...(pod?.status?.initContainerStatuses ?? []), ...(pod?.status?.containerStatuses ?? [])]
      const failed = statuses.find((s) => s.state?.terminated && s.state.terminated.exitCode !== 0)
      if (failed) {
        const t = failed.state!.terminated!
        // a command of app/backup.py ends with a JSON result; anything else (pg_dump, pg_restore) with its last log lines
        const said = resultOf(t.message) ? '' : `: ${(t.message ?? '').trim().split('\n').slice(-5).join(' | ').slice(0, 600)}`
        throw taskError(task, namespace, failed.name, resultOf(t.message), `exit ${t.exitCode} (${t.reason ?? 'failed'})${said}`)
      }
      const stuck = statuses.find((s) => STUCK.test(s.state?.waiting?.reason ?? ''))
      if (stuck) throw taskError(task, namespace, stuck.name, undefined, `${stuck.state?.waiting?.reason}: ${stuck.state?.waiting?.message ?? ''}`.trim())
      const last = pod?.status?.containerStatuses?.find((s) => s.name === 'backup')
      if (last?.state?.terminated?.exitCode === 0) return resultOf(last.state.terminated.message) ?? {}
      const state = await kube.get<JobLike>(ref)
      const gone = state?.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True')
      if (gone) throw taskError(task, namespace, 'the Job', undefined, `${gone.reason ?? 'failed'}: ${gone.message ?? ''}`.trim())
      return undefined
    }, {
      timeoutMs, everyMs: 1000,
      onTimeout: () => { throw taskError(task, namespace, 'the Job', undefined, `not finished after ${timeoutMs / 1000} s (pod ${phase})`) },
    })
  } finally {
    // a backup run stays for the CronJob's controller to count (its history limit removes it); the others go now
    if (task.kind !== 'run') await kube.delete(ref, { propagationPolicy: 'Background' }).catch(() => undefined)
  }
}

/** The namespace, reachable with this kubeconfig, or a refusal naming it. */
async function namespaceOf(kube: Kube, namespace: string): Promise<void> {
  if (!(await kube.get({ apiVersion: 'v1', kind: 'Namespace', name: namespace }))) {
    throw new PipelineError(`namespace ${namespace} does not exist`, 'backups run as Jobs in the environment\'s namespace',
      'deploy the environment first (with the backup component), then run this again')
  }
}

/** Backup now in a namespace: a Job from its CronJob, as the schedule would run it; the backup's name, size and duration. */
export async function backupNamespace(kube: KubeClient, namespace: string, timeoutSeconds = 900, log?: (line: string) => void): Promise<BackupResult> {
  const cron = await backupCronJob(kube, namespace)
  return new Progress(log).step('backup', namespace, () => runTask(kube, namespace, cron, { kind: 'run' }, timeoutSeconds * 1000))
}

/** Backup now: the environment's backup, verified; one line with its name, size and duration. */
export async function backupNow(kube: Kube, envName: string, timeoutSeconds = 900, log?: (line: string) => void): Promise<string> {
  const env = environment(envName)
  await namespaceOf(kube, env.namespace)
  const r = await backupNamespace(kube, env.namespace, timeoutSeconds, log)
  const expired = (r.expired as string[] | undefined) ?? []
  return `backed up ${env.name}: ${String(r.name)} (${String(r.size)} bytes, ${String(r.memories)} memories, verified) in ${String(r.seconds)} s` +
    `${expired.length ? `; expired ${expired.join(', ')}` : ''}`
}

/** The backups under a prefix (default: the namespace's own), newest first. */
export async function backupsOf(kube: KubeClient, namespace: string, prefix?: string): Promise<BackupRow[]> {
  const r = await runTask(kube, namespace, await backupCronJob(kube, namespace), { kind: 'list', prefix }, 300000)
  return (r.backups as BackupRow[] | undefined) ?? []
}

/** The backups of an environment, newest first: name, time, size, status; JSON with `json`. */
export async function listBackups(kube: Kube, envName: string, json = false): Promise<string> {
  const env = environment(envName)
  await namespaceOf(kube, env.namespace)
  const rows = await backupsOf(kube, env.namespace)
  return json ? `${JSON.stringify({ environment: env.name, backups: rows }, null, 2)}\n` : formatBackups(rows, env.name, `the ${env.namespace} prefix`)
}

/** A drill's namespace: a fresh one named by the caller, never another environment's. */
function targetNamespace(envNamespace: string, namespace: string): string {
  if (!namespace || namespace === envNamespace) return envNamespace
  const others = ['dev', 'staging', 'prod'].map((e) => environment(e).namespace)
  if (others.includes(namespace)) {
    throw new PipelineError(`will not restore into ${namespace}`, 'it is another environment\'s namespace',
      'restore an environment into its own namespace (no --namespace), or into a fresh one for a drill')
  }
  return namespace
}

export interface RestoreOptions {
  /** Where the backups are: the prefix in the bucket (the namespace that made them). */
  prefix: string
  /** The namespace restored into (deployed, with the backup component). */
  target: string
  /** `latest` or a backup's name. */
  from: string
  timeoutSeconds?: number
  log?: (line: string) => void
}

/**
 * Restores a namespace under its lock: the backup downloaded and verified by a Job (a missing or corrupt one refused,
 * nothing changed), the plan shown, then Postgres and the graph restored by a Job. Returns the restored counts.
 */
export async function restoreNamespace(kube: KubeClient, o: RestoreOptions): Promise<{ name: string; memories: number; links: number; plan: string }> {
  const name = checkBackupName(o.from)
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`))
  const timeoutMs = (o.timeoutSeconds ?? 900) * 1000
  const cron = await backupCronJob(kube, o.target)
  const progress = new Progress(log)
  return withLock(kube, o.target, holderIdentity(`restore ${o.target} from ${o.prefix}/${name}`), async () => {
    const verified = await progress.step('verify', name, () => runTask(kube, o.target, cron, { kind: 'verify', from: name, prefix: o.prefix }, timeoutMs))
    const plan = restorePlan(o.prefix, o.target, verified, o.prefix)
    log(plan)
    // no scheduled backup starts while the stores are being replaced (it could capture one restored and one not)
    const resume = await suspendSchedule(kube, o.target)
    try {
      const restored = await progress.step('restore', String(verified.name), () =>
        runTask(kube, o.target, cron, { kind: 'restore', from: String(verified.name), prefix: o.prefix }, timeoutMs))
      return { name: String(verified.name), memories: Number(restored.memories), links: Number(restored.links), plan }
    } finally {
      await resume().catch((err: Error) => log(`could not resume the backup schedule of ${o.target}: ${err.message}; run \`kubectl -n ${o.target} patch cronjob ${CRONJOB} -p '{"spec":{"suspend":false}}'\``))
    }
  }, log)
}

/** The field manager of the restore's suspension of the schedule (apart from the deploy's, which never sets it). */
const SUSPENDER = 'graphmemory-restore'

/** Suspends the backup CronJob's schedule unless it already is; returns how to put it back as it was. */
async function suspendSchedule(kube: KubeClient, namespace: string): Promise<() => Promise<void>> {
  const live = await kube.get<KubeObject & { spec?: { suspend?: boolean } }>({ apiVersion: 'batch/v1', kind: 'CronJob', name: CRONJOB, namespace })
  if (live?.spec?.suspend) return async () => {}
  const set = (suspend: boolean) => kube.apply({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: CRONJOB, namespace }, spec: { suspend } } as KubeObject,
    { fieldManager: SUSPENDER })
  await set(true)
  return async () => { await set(false) }
}

/**
 * Restore an environment (`from`: latest or a backup's name) into its namespace, or into `namespace` (a fresh,
 * deployed one: a drill).
 */
export async function restoreEnvironment(kube: Kube, envName: string, from: string, namespace = '', timeoutSeconds = 900,
  log?: (line: string) => void): Promise<string> {
  const env = environment(envName)
  checkBackupName(from)
  const target = targetNamespace(env.namespace, namespace)
  await namespaceOf(kube, target)
  const r = await restoreNamespace(kube, { prefix: env.namespace, target, from, timeoutSeconds, log })
  return `restored ${target} from ${env.name}'s backup ${r.name}: ${r.memories} memories, ${r.links} links, and Postgres`
}

/** The client of an environment's cluster, from a kubeconfig Secret (see cluster.ts). */
export const backupCluster = (kubeconfig: Secret, service?: Service): Promise<Kube> => connectCluster(kubeconfig, service)
