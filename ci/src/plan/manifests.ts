// Pure (no I/O): reading a rendered multi-document manifest into objects, and the checks a deploy relies on —
// every object carries the application's labels, every image is pinned to a digest, and which Secrets (and keys)
// the objects need, compared with the environment's committed required-secrets.yaml.
import { parseAllDocuments, parse } from 'yaml'
import { PipelineError } from '../errors.js'
import { hasDigest } from './images.js'

/** One Kubernetes object as rendered. */
export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    [field: string]: unknown
  }
  [field: string]: unknown
}

/** The labels every object of the application carries; deploy selects (and prunes) by them. */
export const APP_LABELS: Readonly<Record<string, string>> = Object.freeze({
  'app.kubernetes.io/part-of': 'graphmemory-ide',
  'app.kubernetes.io/managed-by': 'graphmemory-pipeline',
})

/** "Kind namespace/name" (or "Kind name" for cluster-scoped objects), for messages and summaries. */
export const objectId = (o: K8sObject): string =>
  `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Parses a multi-document YAML manifest; empty documents are skipped, anything that is not an object fails. */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = []
  const docs = parseAllDocuments(text)
  const broken = docs.findIndex((d) => d.errors.length > 0)
  if (broken >= 0) {
    throw new PipelineError('the rendered manifest is not valid YAML', `document ${broken + 1}: ${docs[broken].errors[0].message}`,
      'run `kustomize build` on the overlay and fix the file it points at')
  }
  docs.forEach((doc, i) => {
    const where = `document ${i + 1}`
    const value: unknown = doc.toJS()
    if (value === null || value === undefined) return
    const meta = isMap(value) ? value.metadata : undefined
    if (!isMap(value) || typeof value.apiVersion !== 'string' || typeof value.kind !== 'string' || !isMap(meta) ||
        typeof meta.name !== 'string' || meta.name === '') {
      throw new PipelineError('the rendered manifest holds something that is not a Kubernetes object',
        `${where} lacks apiVersion, kind or metadata.name`, 'fix that resource in k8s/ (kustomize build shows it)')
    }
    objects.push(value as K8sObject)
  })
  return objects
}

/** Objects missing one of the labels (or carrying another value), with what each one lacks. */
export function missingLabels(objects: K8sObject[], labels: Readonly<Record<string, string>> = APP_LABELS):
  { object: string; missing: string[] }[] {
  return objects.flatMap((o) => {
    const have = o.metadata.labels ?? {}
    const missing = Object.entries(labels).filter(([k, v]) => have[k] !== v).map(([k, v]) => `${k}=${v}`)
    return missing.length ? [{ object: objectId(o), missing }] : []
  })
}

/** Fails naming every object without the application's labels (deploy could neither find nor prune it). */
export function assertAppLabels(objects: K8sObject[], labels: Readonly<Record<string, string>> = APP_LABELS): void {
  const bad = missingLabels(objects, labels)
  if (bad.length) {
    throw new PipelineError('objects without the application labels',
      bad.map((b) => `${b.object} lacks ${b.missing.join(', ')}`).join('; '),
      'add them through the `labels:` of k8s/base/kustomization.yaml, never by hand in one file')
  }
}

/** A pod spec inside an object: a Pod's own, a workload's template, a CronJob's job template. */
export interface PodSpecAt {
  /** The object holding it. */
  object: K8sObject
  /** The pod template's metadata (labels), if any. */
  metadata: Record<string, unknown>
  spec: Record<string, unknown>
}

/** Every pod spec the objects would create pods from. */
export function podSpecs(objects: K8sObject[]): PodSpecAt[] {
  const out: PodSpecAt[] = []
  for (const o of objects) {
    const spec = isMap(o.spec) ? o.spec : undefined
    let template: unknown
    if (o.kind === 'Pod') template = { metadata: o.metadata, spec }
    else if (o.kind === 'CronJob') template = isMap(spec?.jobTemplate) && isMap(spec.jobTemplate.spec) ? spec.jobTemplate.spec.template : undefined
    else template = spec?.template
    if (isMap(template) && isMap(template.spec)) {
      out.push({ object: o, metadata: isMap(template.metadata) ? template.metadata : {}, spec: template.spec })
    }
  }
  return out
}

/** One container of a pod spec and its image. */
export interface ContainerImage {
  object: string
  container: string
  image: string
}

const containersOf = (spec: Record<string, unknown>): Record<string, unknown>[] =>
  ['initContainers', 'containers', 'ephemeralContainers'].flatMap((k) => (Array.isArray(spec[k]) ? spec[k].filter(isMap) : []))

/** Every container image, by object and container. */
export function containerImages(objects: K8sObject[]): ContainerImage[] {
  return podSpecs(objects).flatMap(({ object, spec }) =>
    containersOf(spec).map((c) => ({ object: objectId(object), container: String(c.name), image: String(c.image ?? '') })))
}

/** Containers whose image is not pinned to a digest (a render that missed an image, or a hand-written tag). */
export const unpinnedImages = (objects: K8sObject[]): ContainerImage[] =>
  containerImages(objects).filter((c) => !hasDigest(c.image))

/** Secret name → the keys the objects read from it (sorted); a Secret read whole (envFrom) has the keys it is known to need, possibly none. */
export type SecretKeys = Record<string, string[]>

function add(into: Map<string, Set<string>>, name: unknown, keys: unknown[] = []): void {
  if (typeof name !== 'string' || name === '') return
  const set = into.get(name) ?? new Set<string>()
  for (const k of keys) if (typeof k === 'string') set.add(k)
  into.set(name, set)
}

/**
 * The Secrets the objects reference, with the keys they read: env secretKeyRef, envFrom secretRef, secret volumes
 * and projected sources (their items), imagePullSecrets (.dockerconfigjson) and Ingress TLS (tls.crt, tls.key).
 */
export function referencedSecrets(objects: K8sObject[]): SecretKeys {
  const found = new Map<string, Set<string>>()
  const itemKeys = (items: unknown) => (Array.isArray(items) ? items.filter(isMap).map((i) => i.key) : [])
  for (const { spec } of podSpecs(objects)) {
    for (const c of containersOf(spec)) {
      for (const e of Array.isArray(c.env) ? c.env.filter(isMap) : []) {
        const ref = isMap(e.valueFrom) && isMap(e.valueFrom.secretKeyRef) ? e.valueFrom.secretKeyRef : undefined
        if (ref) add(found, ref.name, [ref.key])
      }
      for (const e of Array.isArray(c.envFrom) ? c.envFrom.filter(isMap) : []) if (isMap(e.secretRef)) add(found, e.secretRef.name)
    }
    for (const v of Array.isArray(spec.volumes) ? spec.volumes.filter(isMap) : []) {
      if (isMap(v.secret)) add(found, v.secret.secretName, itemKeys(v.secret.items))
      const sources = isMap(v.projected) && Array.isArray(v.projected.sources) ? v.projected.sources.filter(isMap) : []
      for (const s of sources) if (isMap(s.secret)) add(found, s.secret.name, itemKeys(s.secret.items))
    }
    for (const p of Array.isArray(spec.imagePullSecrets) ? spec.imagePullSecrets.filter(isMap) : []) add(found, p.name, ['.dockerconfigjson'])
  }
  for (const o of objects.filter((o) => o.kind === 'Ingress' && isMap(o.spec))) {
    const tls = (o.spec as Record<string, unknown>).tls
    for (const t of Array.isArray(tls) ? tls.filter(isMap) : []) add(found, t.secretName, ['tls.crt', 'tls.key'])
  }
  return Object.fromEntries([...found].sort(([a], [b]) => a.localeCompare(b)).map(([n, keys]) => [n, [...keys].sort()]))
}

/** An environment's committed list of required Secrets (k8s/overlays/<env>/required-secrets.yaml). */
export interface RequiredSecrets {
  environment: string
  namespace: string
  secrets: Record<string, { type: string; keys: string[] }>
}

/** Parses and checks a required-secrets.yaml; `source` names the file in errors. */
export function parseRequiredSecrets(text: string, source = 'required-secrets.yaml'): RequiredSecrets {
  let doc: unknown
  try {
    doc = parse(text)
  } catch (err) {
    throw new PipelineError(`${source} is not valid YAML`, (err as Error).message, 'fix the file')
  }
  const bad = (why: string) => new PipelineError(`${source} is not a required-secrets list`, why,
    'keep its shape: environment, namespace, secrets: {<name>: {type, keys: [..]}}')
  if (!isMap(doc) || typeof doc.environment !== 'string' || typeof doc.namespace !== 'string' || !isMap(doc.secrets)) {
    throw bad('environment, namespace (strings) and secrets (a map) are required')
  }
  const secrets: RequiredSecrets['secrets'] = {}
  for (const [name, s] of Object.entries(doc.secrets)) {
    if (!isMap(s) || typeof s.type !== 'string' || !Array.isArray(s.keys) || s.keys.length === 0 ||
        !s.keys.every((k) => typeof k === 'string' && k !== '')) {
      throw bad(`secret ${name} needs a type and a non-empty list of keys`)
    }
    secrets[name] = { type: s.type, keys: [...(s.keys as string[])].sort() }
  }
  return { environment: doc.environment, namespace: doc.namespace, secrets }
}

/**
 * What the objects read that the required list does not provide, as "secret/key" (or "secret" for a whole Secret);
 * empty when the list covers every reference.
 */
export function uncoveredSecrets(referenced: SecretKeys, required: RequiredSecrets): string[] {
  return Object.entries(referenced).flatMap(([name, keys]) => {
    const have = required.secrets[name]
    if (!have) return [name]
    return keys.filter((k) => !have.keys.includes(k)).map((k) => `${name}/${k}`)
  })
}
