// Step: what a release would change in an environment. The rendered manifest is checked on the client first
// (labels, digests, namespace, required secrets), then every object is applied as a server-side dry run: the API
// server validates and admits it in full, and what it would store is compared with the live object.
import { inSpan } from '../adapters/tracing.js'
import { KubeError, type KubeClient, type KubeObject } from '../adapters/kubernetes.js'
import type { Environment } from '../config/environments.js'
import { PipelineError } from '../errors.js'
import { APP_LABELS, assertAppLabels, objectId, parseManifests, referencedSecrets, uncoveredSecrets, unpinnedImages, type K8sObject, type RequiredSecrets } from '../plan/manifests.js'
import { applyOrder, entryFor, forApply, hpaTargets, makePlan, mayPrune, prunable, refOf, type ObjectKey, type Plan } from '../plan/changes.js'

/** The field manager of every apply: the deploy owns exactly the fields it sets. */
export const FIELD_MANAGER = 'graphmemory-pipeline'

/** Client-side checks of a rendered manifest; returns its objects. Fails naming every problem, before any request. */
export function checkManifest(manifest: string, env: Environment, required: RequiredSecrets): K8sObject[] {
  const objects = parseManifests(manifest)
  assertAppLabels(objects)
  const unpinned = unpinnedImages(objects)
  if (unpinned.length) {
    throw new PipelineError('images without a digest in the rendered manifest', unpinned.map((c) => `${c.object} container ${c.container}: ${c.image}`).join('; '),
      'deploy pins every image by digest: pass each one (publish prints them) or let deploy build and publish them')
  }
  const elsewhere = objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== env.namespace)
  if (elsewhere.length) {
    throw new PipelineError(`objects outside namespace ${env.namespace}`, elsewhere.map(objectId).join(', '),
      `every object of ${env.name} lives in ${env.namespace}: set namespace: in k8s/overlays/${env.name}/kustomization.yaml`)
  }
  const uncovered = uncoveredSecrets(referencedSecrets(objects), required)
  if (uncovered.length) {
    throw new PipelineError(`the manifests of ${env.name} read secrets that are not in its required list`, uncovered.join(', '),
      `add them to k8s/overlays/${env.name}/required-secrets.yaml`)
  }
  return objects
}

/** True when the environment's namespace exists. */
export const namespaceExists = async (kube: KubeClient, env: Environment): Promise<boolean> =>
  (await kube.get({ apiVersion: 'v1', kind: 'Namespace', name: env.namespace })) !== undefined

/** What a deploy applies: the objects that change, in apply order, each as it is sent (see forApply). */
export interface Planned {
  plan: Plan
  /** The objects to apply, in order: only those the dry run found different (an unchanged one would be a no-op). */
  apply: KubeObject[]
  /** The objects of an earlier release to remove. */
  prune: ObjectKey[]
}

/**
 * Dry-runs `objects` (plus `extra`, e.g. Secrets) against the cluster and lists what changes; `inventory` is what the
 * current release applied, so that what it has and this one lacks is pruned (only if it still carries the
 * application's labels). Every object the server refuses is named in one error. One span, deploy.plan, of the run's trace.
 */
export function planChanges(kube: KubeClient, env: Environment, objects: K8sObject[], inventory: ObjectKey[], extra: K8sObject[] = []): Promise<Planned> {
  return inSpan('deploy.plan', { 'deploy.environment': env.name, 'deploy.objects': objects.length }, () => dryRun(kube, env, objects, inventory, extra))
}

/** planChanges' work: the dry runs and the comparison. */
async function dryRun(kube: KubeClient, env: Environment, objects: K8sObject[], inventory: ObjectKey[], extra: K8sObject[]): Promise<Planned> {
  const nsExists = await namespaceExists(kube, env)
  const scaled = hpaTargets(objects)
  const ordered = applyOrder([...objects, ...extra])
  const refused: string[] = []
  const results = await Promise.all(ordered.map(async (o) => {
    const live = await kube.get<KubeObject>(refOf(o))
    const send = forApply(o, live !== undefined, scaled) as KubeObject
    if (!nsExists && o.metadata.namespace) return { send, entry: entryFor(o, undefined, {}) }
    try {
      const stored = await kube.apply(send, { dryRun: true, fieldManager: FIELD_MANAGER })
      return { send, entry: entryFor(o, live as never, stored as never) }
    } catch (err) {
      refused.push(`${objectId(o)}: ${err instanceof KubeError ? err.detail : (err as Error).message}`)
      return undefined
    }
  }))
  if (refused.length) {
    throw new PipelineError(`the API server refused ${refused.length} object${refused.length > 1 ? 's' : ''} of ${env.name}`, refused.join('\n  '),
      'fix them in k8s/ (nothing was applied)')
  }
  const prune = (await Promise.all(prunable(inventory, objects).map(async (r) => (mayPrune(r, await kube.get<KubeObject>(r)) ? r : undefined))))
    .filter((r): r is ObjectKey => r !== undefined)
  const done = results as { send: KubeObject; entry: ReturnType<typeof entryFor> }[]
  const changed = done.filter((r) => r.entry.action !== 'unchanged')
  return { plan: makePlan(done.map((r) => r.entry), prune), apply: changed.map((r) => r.send), prune }
}
