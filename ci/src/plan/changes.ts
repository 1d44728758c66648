// Pure: what a deploy would change. Each rendered object is compared, as the API server would store it (its
// server-side dry run), with the live object; objects of an earlier release that are no longer rendered are pruned.
import { isDeepStrictEqual } from 'node:util'
import { APP_LABELS, objectId, type K8sObject } from './manifests.js'

export type Action = 'create' | 'update' | 'unchanged' | 'prune'

/** One line of a plan: an object and what happens to it. */
export interface PlanEntry {
  object: string
  action: Action
  /** For updates: the changed field paths, e.g. spec.template.spec.containers[0].image. */
  fields?: string[]
}

/** A plan: every object once, in apply order, then the prunes. */
export interface Plan {
  entries: PlanEntry[]
  /** True when applying would change nothing. */
  empty: boolean
}

/** What identifies an object across renders and the cluster: apiVersion's group, kind, namespace and name. */
export interface ObjectKey {
  apiVersion: string
  kind: string
  name: string
  namespace?: string
}

/** The key of an object (its group/kind/namespace/name as a string): the same object in any version. */
export const keyOf = (o: ObjectKey): string => {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''
  return `${group}/${o.kind}/${o.namespace ?? ''}/${o.name}`
}

/** The reference of a rendered object. */
export const refOf = (o: K8sObject): ObjectKey => ({
  apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name,
  ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
})

/** Metadata the server writes on every request: never a change of ours. */
const VOLATILE_METADATA = ['managedFields', 'resourceVersion', 'generation', 'uid', 'creationTimestamp', 'selfLink']
/** Annotations controllers write (a Deployment's revision): not ours either. */
const VOLATILE_ANNOTATIONS = ['deployment.kubernetes.io/revision']

/** An object without status and server-written metadata: what a deploy can change. */
export function comparable(o: Record<string, unknown>): Record<string, unknown> {
  const { status: _status, ...rest } = o
  const metadata = { ...(o.metadata as Record<string, unknown>) }
  for (const k of VOLATILE_METADATA) delete metadata[k]
  const annotations = { ...(metadata.annotations as Record<string, string> | undefined) }
  for (const k of VOLATILE_ANNOTATIONS) delete annotations[k]
  if (Object.keys(annotations).length) metadata.annotations = annotations
  else delete metadata.annotations
  return { ...rest, metadata }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The paths where two values differ (maps by key, lists by index), sorted. */
export function changedPaths(before: unknown, after: unknown, at = ''): string[] {
  if (isDeepStrictEqual(before, after)) return []
  if (isMap(before) && isMap(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    return keys.flatMap((k) => changedPaths(before[k], after[k], at ? `${at}.${k}` : k))
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => changedPaths(b, after[i], `${at}[${i}]`))
  }
  return [at || '(whole object)']
}

/**
 * The entry of one rendered object: `live` is what the cluster holds (undefined when absent), `stored` what the
 * server-side dry run of the apply returned.
 */
export function entryFor(object: K8sObject, live: Record<string, unknown> | undefined, stored: Record<string, unknown>): PlanEntry {
  if (!live) return { object: objectId(object), action: 'create' }
  const fields = changedPaths(comparable(live), comparable(stored))
  return fields.length ? { object: objectId(object), action: 'update', fields } : { object: objectId(object), action: 'unchanged' }
}

/** Builds a plan from the rendered objects' entries and the references to prune. */
export function makePlan(entries: PlanEntry[], prunes: ObjectKey[]): Plan {
  const pruned = prunes.map((p): PlanEntry => ({
    object: objectId({ apiVersion: p.apiVersion, kind: p.kind, metadata: { name: p.name, namespace: p.namespace } }),
    action: 'prune',
  }))
  const all = [...entries, ...pruned]
  return { entries: all, empty: all.every((e) => e.action === 'unchanged') }
}

/** Kinds a deploy never deletes, whatever an inventory says: a Namespace takes all it holds along, a claim its data. */
export const NEVER_PRUNED: readonly string[] = Object.freeze(['Namespace', 'PersistentVolumeClaim'])

/**
 * What to prune: objects an earlier release applied (its inventory) that this render no longer has. Never anything
 * outside the inventory, whatever it is labelled, and never a kind of NEVER_PRUNED.
 */
export function prunable(inventory: ObjectKey[], rendered: K8sObject[]): ObjectKey[] {
  const keep = new Set(rendered.map((o) => keyOf(refOf(o))))
  const seen = new Set<string>()
  return inventory.filter((ref) => {
    const k = keyOf(ref)
    if (keep.has(k) || seen.has(k) || NEVER_PRUNED.includes(ref.kind)) return false
    seen.add(k)
    return true
  })
}

/** What a live read of an object gives: enough to decide whether it may be deleted. */
export interface LiveObject {
  kind?: string
  metadata?: { labels?: Record<string, string> }
}

/**
 * The last check before a prune deletes `ref`: its live object, read just before, still exists and still carries every
 * application label (someone who took it over by relabelling keeps it), and its kind is never a NEVER_PRUNED one.
 */
export function mayPrune(ref: ObjectKey, live: LiveObject | undefined): boolean {
  if (!live || NEVER_PRUNED.includes(ref.kind) || (live.kind !== undefined && NEVER_PRUNED.includes(live.kind))) return false
  return Object.entries(APP_LABELS).every(([k, v]) => live.metadata?.labels?.[k] === v)
}

/** The order kinds are applied in: what others depend on first (namespace, policy, config, storage), workloads, then what points at them. */
const APPLY_ORDER = [
  'Namespace', 'ResourceQuota', 'LimitRange', 'ServiceAccount', 'Role', 'RoleBinding', 'NetworkPolicy', 'Secret',
  'ConfigMap', 'PersistentVolumeClaim', 'Service', 'StatefulSet', 'Deployment', 'HorizontalPodAutoscaler',
  'PodDisruptionBudget', 'Ingress',
]

/** The objects in apply order (unknown kinds after the known ones, each group in render order). */
export function applyOrder<T extends { kind: string }>(objects: T[]): T[] {
  const rank = (k: string) => (APPLY_ORDER.includes(k) ? APPLY_ORDER.indexOf(k) : APPLY_ORDER.length)
  return objects.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || a.i - b.i).map((x) => x.o)
}

/**
 * Workloads an HorizontalPodAutoscaler scales: the deploy must leave their live replica count to it (re-applying
 * spec.replicas would undo every scale-out). On create the rendered count is the starting point.
 */
export function hpaTargets(objects: K8sObject[]): Set<string> {
  const out = new Set<string>()
  for (const o of objects.filter((x) => x.kind === 'HorizontalPodAutoscaler')) {
    const ref = isMap(o.spec) && isMap(o.spec.scaleTargetRef) ? o.spec.scaleTargetRef : undefined
    if (ref && typeof ref.kind === 'string' && typeof ref.name === 'string') out.add(`${ref.kind}/${o.metadata.namespace ?? ''}/${ref.name}`)
  }
  return out
}

/** The object as it should be applied: without spec.replicas when it exists already and an HPA scales it. */
export function forApply(object: K8sObject, exists: boolean, scaled: Set<string>): K8sObject {
  if (!exists || !scaled.has(`${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`) || !isMap(object.spec)) return object
  const { replicas: _replicas, ...spec } = object.spec
  return { ...object, spec }
}

const SIGN: Record<Action, string> = { create: '+', update: '~', unchanged: '=', prune: '-' }

/** The human form: the counts, then one line per object (changed fields under updates); `changesOnly` leaves out unchanged ones. */
export function formatPlan(plan: Plan, env: string, changesOnly = false): string {
  const lines = plan.entries.filter((e) => !changesOnly || e.action !== 'unchanged').map((e) =>
    `${SIGN[e.action]} ${e.action.padEnd(9)} ${e.object}${e.fields ? `\n${e.fields.map((f) => `      ${f}`).join('\n')}` : ''}`)
  const count = (a: Action) => plan.entries.filter((e) => e.action === a).length
  const totals = `${count('create')} to create, ${count('update')} to update, ${count('prune')} to prune, ${count('unchanged')} unchanged`
  return [`plan for ${env}: ${plan.empty ? 'no changes' : totals}`, ...lines, ''].join('\n')
}
