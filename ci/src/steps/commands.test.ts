// The deploy commands as a user calls them (`deploy --env dev`, `promote`, `rollback`, `history`): the module's class
// in library mode against the lab's engine, release registry and cluster, as the deployer identity, in the lab's
// dev and staging namespaces. Images are really built and published from this repository.
import { connection, dag } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { labDeployComponents, labPipeline, labSigning, repoSource } from '../../../lab/pipeline.js'
import { withLabEnvironments } from '../../../lab/environments-lock.js'
import { Kube, type KubeObject } from '../adapters/kubernetes.js'
import { EnvironmentName } from '../config/environments.js'

/** Runs fn inside one Dagger session and returns its result. */
async function inSession<T>(fn: () => Promise<T>): Promise<T> {
  let result: T | undefined
  await connection(async () => { result = await fn() })
  return result as T
}

const kubeconfig = () => dag.secret(`file://${labVar('KUBECONFIG_DEPLOYER')}`)
const secrets = (env: string) => dag.secret(`file://${labVar('LAB_DEPLOY_SECRETS')}/${env}.yaml`)
const password = () => dag.secret(`file://${labVar('LAB_RELEASE_PASSWORD_FILE')}`)
const admin = () => Kube.fromFile(labVar('KUBECONFIG_LAB'))
/** The lab's signing key, as deploy from source and the verification of promote and rollback take it. */
const signingArgs = () => [labSigning().key, labSigning().password] as const
/** Two commits of the same tree: their images differ only in the revision label, so both are cheap to build. */
const COMMIT_A = 'a'.repeat(40)
const COMMIT_B = 'b'.repeat(40)

/** The image of every application Deployment and StatefulSet in a namespace. */
async function runningImages(namespace: string): Promise<Record<string, string>> {
  const kinds = await Promise.all(['Deployment', 'StatefulSet'].map((k) => admin().list<KubeObject>('apps/v1', k, { namespace })))
  return Object.fromEntries(kinds.flat().map((o) => [o.metadata.name,
    (o as unknown as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0].image]))
}

describe('deploy commands (library mode, lab engine, registry and cluster)', () => {
  it('refuses an unknown environment before any work, naming the valid ones', async () => {
    const message = await inSession(() => labPipeline(repoSource()).deploy('qa' as EnvironmentName, kubeconfig()).then(() => 'deployed', (e: Error) => e.message))
    expect(message).toMatch(/unknown environment "qa": valid environments are dev, staging, prod/)
  })

  it('deploys dev from source, rolls back, promotes dev to staging, and lists the history', async () => {
    const out = await withLabEnvironments(() => inSession(async () => {
      const deployA = await labPipeline(repoSource(), COMMIT_A).deploy(EnvironmentName.dev, kubeconfig(), secrets('dev'), '', labVar('LAB_RELEASE_USER'), password(), 180, undefined, ...signingArgs())
      const imagesA = await runningImages('graphmemory-dev')
      const again = await labPipeline(repoSource(), COMMIT_A).deploy(EnvironmentName.dev, kubeconfig(), undefined, '', labVar('LAB_RELEASE_USER'), password(), 180, undefined, ...signingArgs())
      await labPipeline(repoSource(), COMMIT_B).deploy(EnvironmentName.dev, kubeconfig(), undefined, '', labVar('LAB_RELEASE_USER'), password(), 180, undefined, ...signingArgs())
      const imagesB = await runningImages('graphmemory-dev')
      const rolledBack = await labPipeline(repoSource()).rollback(EnvironmentName.dev, kubeconfig(), 0, 180, undefined, labVar('LAB_RELEASE_USER'), password())
      const imagesAfterRollback = await runningImages('graphmemory-dev')
      const promoted = await labPipeline(repoSource()).promote(EnvironmentName.dev, EnvironmentName.staging, kubeconfig(), undefined, secrets('staging'), 180, undefined, labVar('LAB_RELEASE_USER'), password())
      const history = await labPipeline(repoSource()).history(EnvironmentName.dev, kubeconfig())
      const planSame = await labPipeline(repoSource()).plan(EnvironmentName.dev, kubeconfig())
      const newApi = `${labVar('LAB_RELEASE_REGISTRY')}/graphmemory/api@sha256:${'c'.repeat(64)}`
      const planApi = JSON.parse(await labPipeline(repoSource()).plan(EnvironmentName.dev, kubeconfig(), `graphmemory/api=${newApi}`, true))
      return { deployA, imagesA, again, imagesB, rolledBack, imagesAfterRollback, promoted, history, planSame, planApi,
        staging: await runningImages('graphmemory-staging'), devAfterPlan: await runningImages('graphmemory-dev') }
    }))
    expect(out.deployA).toMatch(/^deployed dev: release \d+ (is running|was already running)/)
    for (const s of ['api', 'analytics', 'dashboard']) expect(out.imagesA[s]).toMatch(new RegExp(`^${labVar('LAB_RELEASE_REGISTRY')}/graphmemory/${s}:${COMMIT_A.slice(0, 12)}@sha256:`))
    expect(out.again).toMatch(/was already running \(nothing applied\)/)
    expect(out.imagesB.api).not.toBe(out.imagesA.api)
    expect(out.rolledBack).toMatch(/^rolled back to release \d+ in dev: release \d+ is running/)
    expect(out.imagesAfterRollback).toEqual(out.imagesA)
    expect(out.promoted).toMatch(/^promoted dev release \d+ to staging/)
    // staging runs dev's digests, and the monitoring servers and exporters dev does not run, pinned from their tags at promotion
    expect(out.staging).toMatchObject(out.imagesA)
    // (on the lab's real node Grafana is left out: k8s/components/lab-real-node/left-out.yaml)
    const leftOut = labDeployComponents().includes('lab-real-node') ? ['prometheus'] : ['grafana', 'prometheus']
    expect(Object.keys(out.staging).sort()).toEqual([...Object.keys(out.imagesA), 'alertmanager', 'postgres-exporter', 'redis-exporter', ...leftOut].sort())
    expect(out.history).toMatch(/rollback to \d+/)
    expect(out.history).toMatch(/superseded/)
    // plan: against the running release nothing changes; another API digest changes exactly the image of the
    // containers that run it: the API's, the graph service's (the same image, run as `python -m app graph`) and the
    // backup CronJob's (`python -m app backup run`)
    expect(out.planSame).toMatch(/^plan for dev: no changes/)
    expect(out.planApi.empty).toBe(false)
    expect(out.planApi.entries.filter((e: { action: string }) => e.action !== 'unchanged')).toEqual([
      ...['api', 'graph'].map((name) => ({ object: `Deployment graphmemory-dev/${name}`, action: 'update', fields: ['spec.template.spec.containers[0].image'] })),
      { object: 'CronJob graphmemory-dev/backup', action: 'update', fields: ['spec.jobTemplate.spec.template.spec.containers[0].image'] },
    ])
    expect(out.devAfterPlan).toEqual(out.imagesA) // plan changed nothing
  }, 1_800_000)
})
