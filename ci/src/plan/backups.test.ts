import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { describe, expect, it } from 'vitest'
import { PipelineError } from '../errors.js'
import { checkBackupName, formatBackups, jobFor, resultOf, taskError, TASK_LABEL, type CronJobLike } from './backups.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
/** The backup component's own CronJob, as committed. */
const cron = parseAllDocuments(fs.readFileSync(path.join(REPO, 'k8s/components/backup/cronjob.yaml'), 'utf8'))
  .map((d) => d.toJS()).find((o) => o.kind === 'CronJob') as CronJobLike

const names = (cs: { name: string }[] | undefined) => (cs ?? []).map((c) => c.name)

describe('the backup Jobs, made from the CronJob', () => {
  it('run: the CronJob\'s own pod, no retries, labelled with its task', () => {
    const job = jobFor(cron, 'ns1', { kind: 'run' }, 'x')
    expect(job.metadata).toMatchObject({ name: 'backup-run-x', namespace: 'ns1', labels: { [TASK_LABEL]: 'run', 'app.kubernetes.io/name': 'backup' } })
    expect(job.spec.backoffLimit).toBe(0)
    expect(job.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('backup') // the NetworkPolicies select it
    expect(names(job.spec.template.spec.initContainers)).toEqual(['pg-dump'])
    expect(job.spec.template.spec.containers[0].args).toEqual(['backup', 'run'])
    expect(job.spec.template.spec.securityContext).toEqual(cron.spec!.jobTemplate!.spec!.template!.spec!.securityContext)
    // owned by the live CronJob, so that its lastSuccessfulTime (the alert's metric) counts it
    const owned = jobFor({ ...cron, metadata: { ...cron.metadata, uid: 'u1' } }, 'ns1', { kind: 'run' }, 'x')
    expect(owned.metadata.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'backup', uid: 'u1', controller: true }])
    expect(jobFor({ ...cron, metadata: { ...cron.metadata, uid: 'u1' } }, 'ns1', { kind: 'list' }, 'x').metadata.ownerReferences).toBeUndefined()
  })

  it('restore: fetch and verify, then pg_restore in one transaction, then the graph; another prefix for a drill', () => {
    const spec = jobFor(cron, 'fresh', { kind: 'restore', from: '20261205T093000Z', prefix: 'graphmemory-dev' }, 'y').spec.template.spec
    expect(names(spec.initContainers)).toEqual(['fetch', 'pg-restore'])
    expect(spec.initContainers![0].args).toEqual(['backup', 'fetch', '20261205T093000Z'])
    expect(spec.initContainers![0].env).toContainEqual({ name: 'BACKUP_S3_PREFIX', value: 'graphmemory-dev' })
    expect(spec.initContainers![1].command!.join(' ')).toMatch(/pg_restore --clean --if-exists --single-transaction .*--exit-on-error/)
    expect(spec.containers.map((c) => c.args)).toEqual([['backup', 'restore-graph']])
    // the CronJob is not changed by making a Job from it
    expect(names(cron.spec!.jobTemplate!.spec!.template!.spec!.initContainers)).toEqual(['pg-dump'])
  })

  it('list and verify run the API image alone', () => {
    for (const task of [{ kind: 'list' as const }, { kind: 'verify' as const, from: 'latest' }]) {
      const spec = jobFor(cron, 'ns', task, 'z').spec.template.spec
      expect(spec.initContainers).toEqual([])
      expect(spec.containers.map((c) => c.image)).toEqual(['graphmemory/api'])
    }
  })

  it('refuses a CronJob that is not the component\'s', () => {
    expect(() => jobFor({ metadata: { name: 'backup' }, spec: {} }, 'ns', { kind: 'run' }, 'x')).toThrow(/is not the backup component's/)
  })
})

describe('backup names and results', () => {
  it('takes latest or a UTC time name, nothing else', () => {
    expect(checkBackupName('latest')).toBe('latest')
    expect(checkBackupName(' 20261205T093000Z ')).toBe('20261205T093000Z')
    for (const bad of ['', 'yesterday', '2026-12-05', '../20261205T093000Z']) expect(() => checkBackupName(bad)).toThrow(PipelineError)
  })

  it('reads a termination message as JSON, or nothing', () => {
    expect(resultOf('{"name":"a","size":3}\n')).toEqual({ name: 'a', size: 3 })
    expect(resultOf('Traceback (most recent call last)')).toBeUndefined()
    expect(resultOf(undefined)).toBeUndefined()
  })

  it('a missing or corrupt backup says nothing was changed; another failure names the container', () => {
    const task = { kind: 'restore' as const, from: 'latest' }
    const missing = taskError(task, 'ns', 'fetch', { error: 'no backup to restore', code: 3 }, 'exit 3')
    expect(missing.message).toMatch(/restoring ns from latest failed/)
    expect(missing.message).toMatch(/no backup to restore/)
    expect(missing.message).toMatch(/nothing was changed/)
    expect(taskError({ kind: 'run' }, 'ns', 'pg-dump', undefined, 'exit 1 (Error)').message).toMatch(/pg-dump: exit 1/)
  })

  it('lists backups as a table, newest first as given', () => {
    const out = formatBackups([
      { name: '20261205T093000Z', time: '2026-12-05T09:30:00+00:00', size: 2048, status: 'complete' },
      { name: '20261205T083000Z', time: '2026-12-05T08:30:00+00:00', size: 10, status: 'incomplete' },
    ], 'dev', 'x')
    expect(out.split('\n').slice(1, 4)).toEqual([
      'NAME              TIME                  SIZE     STATUS',
      '20261205T093000Z  2026-12-05T09:30:00Z  2.0 KiB  complete',
      '20261205T083000Z  2026-12-05T08:30:00Z  10 B     incomplete',
    ])
    expect(formatBackups([], 'dev', 'x')).toBe('dev: no backups in x\n')
  })
})
