// Step: deploy a rendered release to an environment, guarded. Under the environment's lock: plan (server-side dry
// run), create or update the given Secrets, server-side apply, wait for every rollout, then prune what the previous
// release had and this one lacks, and record the release. When anything fails after the first change, the previous
// good release is applied again and the command fails naming the object, its condition and its recent events.
import type { Kube, KubeObject } from '../adapters/kubernetes.js'
import type { Environment } from '../config/environments.js'
import { PipelineError } from '../errors.js'
import { APP_LABELS, parseManifests, type K8sObject, type RequiredSecrets } from '../plan/manifests.js'
import { formatPlan, refOf, type Plan } from '../plan/changes.js'
import { current, manifestHash, nextRevision, type Release } from '../plan/releases.js'
import { assertSecrets, secretObjects, type SecretValues } from '../plan/secrets.js'
import { markRelease, readManifest, readReleases, recordRelease } from './history.js'
import { holderIdentity, withLock } from './lock.js'
import { FIELD_MANAGER, checkManifest, namespaceExists, planChanges } from './plan.js'
import { formatFailures, waitForRollout } from './rollout.js'

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
async function liveSecretKeys(kube: Kube, req: ReleaseRequest, nsExists: boolean): Promise<Record<string, string[]>> {
  if (!nsExists) return {}
  const entries = await Promise.all(Object.keys(req.required.secrets).map(async (name) => {
    const s = await kube.get<KubeObject & { data?: Record<string, string> }>({ apiVersion: 'v1', kind: 'Secret', name, namespace: req.env.namespace })
    return [name, Object.keys(s?.data ?? {})] as const
  }))
  return Object.fromEntries(entries)
}

/** Applies objects in order (server-side apply, the pipeline's field manager), then deletes what is pruned. */
async function applyAndPrune(kube: Kube, apply: KubeObject[], prune: ReturnType<typeof refOf>[]): Promise<void> {
  for (const o of apply) await kube.apply(o, { fieldManager: FIELD_MANAGER })
  for (const r of prune) await kube.delete(r)
}

/** Applies the release again (no prune of its own objects) and removes what `failed` added: the way back. */
async function restore(kube: Kube, req: ReleaseRequest, good: Release, log: (line: string) => void): Promise<string> {
  const manifest = await readManifest(kube, req.env.namespace, good.revision)
  const objects = parseManifests(manifest)
  const planned = await planChanges(kube, req.env, objects, [...good.inventory, ...parseManifests(req.manifest).map(refOf)])
  await applyAndPrune(kube, planned.apply, planned.prune)
  const failures = await waitForRollout(kube, objects, req.timeoutSeconds, log)
  return failures.length ? `the rollback to release ${good.revision} did not become ready either:\n  ${formatFailures(failures)}` : `rolled back to release ${good.revision}`
}

/** Deploys one rendered release under the environment's lock; see the file's header for the steps. */
export async function deployRelease(kube: Kube, req: ReleaseRequest): Promise<DeployOutcome> {
  const log = req.log ?? (() => {})
  const objects = checkManifest(req.manifest, req.env, req.required)
  const given = req.secrets ?? {}
  const nsExisted = await namespaceExists(kube, req.env)
  assertSecrets(req.required, given, await liveSecretKeys(kube, req, nsExisted))
  const secrets = secretObjects(req.required, given, { ...APP_LABELS, 'graphmemory.dev/environment': req.env.name }) as K8sObject[]

  // the lock lives in the namespace: a first deploy creates it (and removes it again if the plan is refused)
  const namespace = objects.find((o) => o.kind === 'Namespace')
  if (!nsExisted && namespace) await kube.apply(namespace as KubeObject, { fieldManager: FIELD_MANAGER })
  return withLock(kube, req.env.namespace, holderIdentity(`${req.origin} ${req.env.name}`), async () => {
    const releases = await readReleases(kube, req.env.namespace)
    const running = current(releases)
    let planned
    try {
      planned = await planChanges(kube, req.env, objects, running?.inventory ?? [], secrets)
    } catch (err) {
      if (!nsExisted) await kube.delete({ apiVersion: 'v1', kind: 'Namespace', name: req.env.namespace })
      throw err
    }
    log(formatPlan(planned.plan, req.env.name, true).trimEnd())
    const hash = manifestHash(req.manifest)
    if (planned.plan.empty && running?.manifestHash === hash) {
      const failures = await waitForRollout(kube, objects, req.timeoutSeconds, log)
      if (failures.length) throw new PipelineError(`${req.env.name} runs release ${running.revision} unchanged, but it is not ready`, formatFailures(failures), 'look at the events above; `rollback` or deploy a fix')
      return { env: req.env.name, revision: running.revision, changed: false, plan: planned.plan }
    }
    const release: Release = {
      revision: nextRevision(releases), environment: req.env.name, status: 'deployed', images: req.images, manifestHash: hash,
      commit: req.commit, time: new Date().toISOString(), origin: req.origin, inventory: objects.map(refOf),
    }
    let failure: string
    try {
      for (const o of planned.apply) await kube.apply(o, { fieldManager: FIELD_MANAGER })
      const failures = await waitForRollout(kube, objects, req.timeoutSeconds, log)
      if (!failures.length) {
        for (const r of planned.prune) await kube.delete(r)
        await recordRelease(kube, req.env.namespace, release, req.manifest)
        if (running) await markRelease(kube, req.env.namespace, running, 'superseded')
        return { env: req.env.name, revision: release.revision, changed: true, plan: planned.plan }
      }
      failure = formatFailures(failures)
    } catch (err) {
      failure = (err as Error).message
    }
    await recordRelease(kube, req.env.namespace, { ...release, status: 'failed' }, req.manifest)
    const back = running ? await restore(kube, req, running, log) : 'nothing to roll back to: this was the first release of the environment'
    throw new PipelineError(`release ${release.revision} of ${req.env.name} failed and was rolled back`, `${failure}\n  ${back}`,
      `fix the cause above and deploy again; \`history --env ${req.env.name}\` lists the releases`)
  }, log)
}
