// Pure: the Jobs of the backup, backups and restore functions, made from the environment's backup CronJob
// (k8s/components/backup), and what their pods answer. Every Job runs the CronJob's own pod template (placement,
// security context, Secret mounts, NetworkPolicy labels), changed only in what its containers run.
import { PipelineError } from '../errors.js'

/** The CronJob the backup component deploys. */
export const CRONJOB = 'backup'
/** The label every Job of these functions carries: which task it runs. */
export const TASK_LABEL = 'graphmemory.dev/backup-task'
/** A backup's name: the UTC time it was taken. */
const NAME = /^\d{8}T\d{6}Z$/

export type Task =
  | { kind: 'run' }
  | { kind: 'list'; prefix?: string }
  | { kind: 'verify'; from: string; prefix?: string }
  | { kind: 'restore'; from: string; prefix?: string }

interface EnvVar { name: string; value?: string; valueFrom?: unknown }
interface Container { name: string; image: string; args?: string[]; command?: string[]; env?: EnvVar[]; [k: string]: unknown }
interface PodSpec { initContainers?: Container[]; containers: Container[]; [k: string]: unknown }
export interface CronJobLike {
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string> }
  spec?: { jobTemplate?: { metadata?: { labels?: Record<string, string> }; spec?: { template?: { metadata?: { labels?: Record<string, string> }; spec?: PodSpec }; [k: string]: unknown } } }
}
export interface JobObject {
  apiVersion: 'batch/v1'
  kind: 'Job'
  metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences?: Record<string, unknown>[] }
  spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec }; [k: string]: unknown }
}

/** `latest` or a backup's name (20261205T093000Z); anything else is refused before any work. */
export function checkBackupName(from: string): string {
  const name = from.trim()
  if (name === 'latest' || NAME.test(name)) return name
  throw new PipelineError(`"${from}" is not a backup name`, 'a backup is named by the UTC time it was taken, e.g. 20261205T093000Z, or `latest`',
    'pick one from `backups --env <env>` (make backups ENV=...)')
}

const withEnv = (c: Container, extra: EnvVar[]): Container =>
  ({ ...c, env: [...(c.env ?? []).filter((e) => !extra.some((x) => x.name === e.name)), ...extra] })

/**
 * The Job for a task in `namespace` (where it runs), from the CronJob's template. `prefix` (verify, list, restore)
 * reads another namespace's backups: a drill restores an environment's backup into a fresh namespace.
 */
export function jobFor(cron: CronJobLike, namespace: string, task: Task, id: string): JobObject {
  const template = cron.spec?.jobTemplate?.spec?.template
  const spec = template?.spec
  const main = spec?.containers.find((c) => c.name === 'backup')
  const dump = spec?.initContainers?.find((c) => c.name === 'pg-dump')
  if (!spec || !main || !dump) {
    throw new PipelineError(`the CronJob ${CRONJOB} in ${namespace} is not the backup component's`, 'its pod template lacks the pg-dump and backup containers',
      'deploy the environment with the backup component (k8s/components/backup) again')
  }
  const prefix = 'prefix' in task && task.prefix ? [{ name: 'BACKUP_S3_PREFIX', value: task.prefix }] : []
  const api = (name: string, args: string[]): Container => withEnv({ ...main, name, args }, prefix)
  let initContainers: Container[] = []
  let containers: Container[]
  if (task.kind === 'run') {
    initContainers = spec.initContainers ?? []
    containers = [main]
  } else if (task.kind === 'list') {
    containers = [api('backup', ['backup', 'list'])]
  } else if (task.kind === 'verify') {
    containers = [api('backup', ['backup', 'fetch', task.from])]
  } else {
    // download and verify everything first; then Postgres in one transaction; then the graph (already test-imported
    // by fetch), which the graph service swaps in: a refusal at any step leaves what follows it untouched
    const pgRestore: Container = {
      ...dump, name: 'pg-restore',
      command: ['sh', '-c', 'for i in $(seq 60); do pg_isready -q -t 2 && break; sleep 1; done\n' +
        'PGPASSWORD="$(cat /run/secrets/postgres/password)" exec pg_restore --clean --if-exists --single-transaction --no-owner --exit-on-error -d "$PGDATABASE" /work/postgres.dump'],
    }
    initContainers = [api('fetch', ['backup', 'fetch', task.from]), pgRestore]
    containers = [api('backup', ['backup', 'restore-graph'])]
  }
  const labels = { ...template?.metadata?.labels, [TASK_LABEL]: task.kind }
  const { template: _t, ...jobSpec } = cron.spec!.jobTemplate!.spec!
  // a backup run belongs to the CronJob (as `kubectl create job --from=cronjob/backup` makes it): its success moves
  // the CronJob's lastSuccessfulTime, which the alert BackupTooOld reads, and the CronJob's history limit expires it
  const owner = task.kind === 'run' && cron.metadata.uid
    ? { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cron.metadata.name, uid: cron.metadata.uid, controller: true }] } : {}
  return {
    apiVersion: 'batch/v1', kind: 'Job',
    metadata: { name: `backup-${task.kind}-${id}`, namespace, labels: { ...cron.spec?.jobTemplate?.metadata?.labels, [TASK_LABEL]: task.kind }, ...owner },
    spec: { ...jobSpec, backoffLimit: 0, template: { metadata: { labels }, spec: { ...spec, initContainers, containers } } },
  }
}

/** What a backup command printed as its result (app/backup.py: one JSON line, also the termination message). */
export type BackupResult = Record<string, unknown> & { error?: string; code?: number }

/** Reads a container's termination message; undefined when it is not JSON. */
export function resultOf(message: string | undefined): BackupResult | undefined {
  if (!message) return undefined
  try {
    const doc = JSON.parse(message.trim()) as unknown
    return doc && typeof doc === 'object' && !Array.isArray(doc) ? doc as BackupResult : undefined
  } catch {
    return undefined
  }
}

/** A failed task as one PipelineError: missing (3) and corrupt (4) backups named as such. */
export function taskError(task: Task, namespace: string, container: string, result: BackupResult | undefined, why: string): PipelineError {
  const what = task.kind === 'run' ? `the backup of ${namespace} failed` : task.kind === 'list' ? `listing the backups of ${namespace} failed`
    : task.kind === 'verify' ? `backup ${task.from} cannot be restored` : `restoring ${namespace} from ${task.from} failed`
  if (result?.code === 3 || result?.code === 4) {
    return new PipelineError(what, String(result.error), task.kind === 'restore' ? 'nothing was changed before that check; pick another backup' : 'nothing was changed; pick another backup from `backups --env <env>`')
  }
  return new PipelineError(what, result?.error ? `${container}: ${String(result.error)}` : `${container}: ${why}`,
    `look at the Job's pod (kubectl -n ${namespace} describe pod -l ${TASK_LABEL}=${task.kind}) and its logs, then try again`)
}

export interface BackupRow { name: string; time: string; size: number; status: string }

const human = (n: number): string => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`)

/** The backups as a table, newest first. */
export function formatBackups(rows: BackupRow[], env: string, where: string): string {
  if (!rows.length) return `${env}: no backups in ${where}\n`
  const lines = rows.map((r) => [r.name, r.time.replace('+00:00', 'Z'), human(r.size), r.status])
  const head = ['NAME', 'TIME', 'SIZE', 'STATUS']
  const width = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const fmt = (l: string[]) => l.map((c, i) => c.padEnd(width[i])).join('  ').trimEnd()
  return `${env}: ${rows.length} backup${rows.length > 1 ? 's' : ''} in ${where}\n${[head, ...lines].map(fmt).join('\n')}\n`
}

/** The restore's plan, shown before anything changes. */
export function restorePlan(env: string, namespace: string, verified: BackupResult, sourcePrefix: string): string {
  const taken = (verified.taken ?? {}) as Record<string, string>
  return [
    `restore plan for ${namespace}${namespace === sourcePrefix ? '' : ` (a drill: ${env}'s backups, prefix ${sourcePrefix})`}:`,
    `  backup ${String(verified.name)}: ${human(Number(verified.size))}, checksums verified, graph test-restored (${String(verified.memories)} memories)`,
    `  taken: postgres ${taken.postgres ?? '?'}, graph ${taken.graph ?? '?'}`,
    '  1. Postgres: pg_restore --clean --single-transaction (all or nothing)',
    '  2. the graph: imported beside the live database by the graph service, then swapped in (the old one kept in .before-restore)',
  ].join('\n')
}
