// Step: deploy a rendered release to an environment, guarded. Under the environment's lock: plan (server-side dry
// run), then the release's operations (plan/operations.ts: apply, wait for every rollout, prune, record) run by the one
// executor (execute.ts). When an operation fails, the way back is another list of operations built from the outcomes
// so far (record the failure, apply the previous good release again, wait, prune what the failed run added), run by the
// same executor; the command fails naming the object, its condition and its recent events. Plan, release and recovery
// are spans of the run's trace (adapters/tracing.ts), each operation one span below them.
import type { KubeClient, KubeObject } from '../adapters/kubernetes.js'
import type { Environment } from '../config/environments.js'
import { PipelineError } from '../errors.js'
import { APP_LABELS, parseManifests, type K8sObject, type RequiredSecrets } from '../plan/manifests.js'
import { formatPlan, refOf, type Plan } from '../plan/changes.js'
import { failureOf, recoveryOperations, releaseOperations, unchangedOperations, type Outcome } from '../plan/operations.js'
import { current, manifestHash, nextRevision, type Release } from '../plan/releases.js'
import { assertSecrets, secretObjects, type SecretValues } from '../plan/secrets.js'
import { readManifest, readReleases } from './history.js'
import { holderIdentity, withLock } from './lock.js'
import { FIELD_MANAGER, checkManifest, namespaceExists, planChanges } from './plan.js'
import { execute, type ExecuteOptions } from './execute.js'
import { inSpan } from '../adapters/tracing.js'
import type { WaitOptions } from './rollout.js'

/** A release to deploy: the rendered manifest and where it came from. */
export interface ReleaseRequest {
  env: Environment
  manifest: string
  /** Logical image name → ref@sha256:digest, as recorded. */
  images: Record<string, string>
  commit: string
  /** "deploy", "promote from staging", "rollback to 3". */
  origin: string
  required: RequiredSecrets
  /** Secret values to create or update before the apply. */
  secrets?: SecretValues
  /** How long every rollout may take. */
  timeoutSeconds: number
  log?: (line: string) => void
  /** Poll intervals of the rollout wait (defaults: see WaitOptions). */
  wait?: Omit<WaitOptions, 'timeoutSeconds' | 'log'>
}

/** What a deploy did. */
export interface DeployOutcome {
  env: string
  /** The release running now. */
  revision: number
  /** False when the cluster already ran exactly this release (nothing was applied). */
  changed: boolean
  plan: Plan
}

/** The keys of the required Secrets that are in the cluster now (values are never read out). */
async function liveSecretKeys(kube: KubeClient, req: ReleaseRequest, nsExists: boolean): Promise<Record<string, string[]>> {
  if (!nsExists) return {}
  const entries = await Promise.all(Object.keys(req.required.secrets).map(async (name) => {
    const s = await kube.get<KubeObject & { data?: Record<string, string> }>({ apiVersion: 'v1', kind: 'Secret', name, namespace: req.env.namespace })
    return [name, Object.keys(s?.data ?? {})] as const
  }))
  return Object.fromEntries(entries)
}

/**
 * The way back after a failed run: the operations that record the failure and restore `good` (its recorded manifest
 * planned against the cluster as it is now), removing what the failed run added.
 */
async function recovery(kube: KubeClient, req: ReleaseRequest, failed: Release, outcomes: Outcome[], good?: Release) {
  if (!good) return recoveryOperations(failed, req.manifest, outcomes)
  const objects = parseManifests(await readManifest(kube, req.env.namespace, good.revision))
  const planned = await planChanges(kube, req.env, objects, good.inventory)
  return recoveryOperations(failed, req.manifest, outcomes, { changes: { ...planned, objects }, timeoutSeconds: req.timeoutSeconds })
}

/** Deploys one rendered release under the environment's lock; see the file's header for the steps. */
export async function deployRelease(kube: KubeClient, req: ReleaseRequest): Promise<DeployOutcome> {
  const log = req.log ?? (() => {})
  const objects = checkManifest(req.manifest, req.env, req.required)
  const given = req.secrets ?? {}
  const nsExisted = await namespaceExists(kube, req.env)
  assertSecrets(req.required, given, await liveSecretKeys(kube, req, nsExisted))
  const secrets = secretObjects(req.required, given, { ...APP_LABELS, 'graphmemory.dev/environment': req.env.name }) as K8sObject[]
  const run: ExecuteOptions = { namespace: req.env.namespace, log, wait: req.wait }

  // the lock lives in the namespace: a first deploy creates it (and removes it again if the plan is refused)
  const namespace = objects.find((o) => o.kind === 'Namespace')
  if (!nsExisted && namespace) await kube.apply(namespace as KubeObject, { fieldManager: FIELD_MANAGER })
  return withLock(kube, req.env.namespace, holderIdentity(`${req.origin} ${req.env.name}`), async () => {
    const releases = await readReleases(kube, req.env.namespace)
    const running = current(releases)
    const planned = await planChanges(kube, req.env, objects, running?.inventory ?? [], secrets).catch(async (err: unknown) => {
      if (!nsExisted) await kube.delete({ apiVersion: 'v1', kind: 'Namespace', name: req.env.namespace })
      throw err
    })
    log(formatPlan(planned.plan, req.env.name, true).trimEnd())
    const hash = manifestHash(req.manifest)
    if (planned.plan.empty && running?.manifestHash === hash) {
      const failure = failureOf(await execute(kube, unchangedOperations(objects, req.timeoutSeconds), run))
      if (failure) throw new PipelineError(`${req.env.name} runs release ${running.revision} unchanged, but it is not ready`, failure, 'look at the events above; `rollback` or deploy a fix')
      return { env: req.env.name, revision: running.revision, changed: false, plan: planned.plan }
    }
    const release: Release = {
      revision: nextRevision(releases), environment: req.env.name, status: 'deployed', images: req.images, manifestHash: hash,
      commit: req.commit, time: new Date().toISOString(), origin: req.origin, inventory: objects.map(refOf),
    }
    const outcomes = await inSpan('deploy.release', { 'deploy.revision': release.revision }, () =>
      execute(kube, releaseOperations({ ...planned, objects }, release, req.manifest, req.timeoutSeconds, running), run))
    const failure = failureOf(outcomes)
    if (!failure) return { env: req.env.name, revision: release.revision, changed: true, plan: planned.plan }
    const back = failureOf(await inSpan('deploy.recovery', { 'deploy.revision': running?.revision ?? 0 }, async () =>
      execute(kube, await recovery(kube, req, release, outcomes, running), run)))
    const how = !running ? 'nothing to roll back to: this was the first release of the environment'
      : back ? `the rollback to release ${running.revision} did not become ready either:\n  ${back}` : `rolled back to release ${running.revision}`
    throw new PipelineError(`release ${release.revision} of ${req.env.name} failed${running ? ' and was rolled back' : ''}`, `${failure}\n  ${how}`,
      `fix the cause above and deploy again; \`history --env ${req.env.name}\` lists the releases`)
  }, log)
}
