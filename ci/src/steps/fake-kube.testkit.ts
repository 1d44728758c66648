// For unit tests only: an in-memory cluster behind the KubeClient interface, so the deploy's loops (plan, executor,
// rollout wait, lock) run in milliseconds without a lab. Objects are stored as applied; a Deployment or StatefulSet
// reports a status chosen by `rollout` (ready, stalled on ProgressDeadlineExceeded, or still progressing). The real
// API server's behaviour is proven by the lab suites (deploy.test.ts, deploy-real-node.test.ts).
import { KubeError, type KubeClient, type KubeObject, type ObjectRef } from '../adapters/kubernetes.js'

/** How a workload's rollout goes in the fake: decided per object each time it is read. */
export type RolloutBehaviour = (o: KubeObject) => 'ready' | 'stalled' | 'progressing'

/** One call the fake received, for assertions. */
export interface Call {
  verb: 'apply' | 'dry-run' | 'get' | 'list' | 'create' | 'replace' | 'delete'
  id: string
}

const idOf = (r: { kind?: string; namespace?: string; name?: string }) => `${r.kind}/${r.namespace ?? ''}/${r.name}`

/** An in-memory cluster; see the file's header. */
export class FakeKube implements KubeClient {
  readonly objects = new Map<string, KubeObject>()
  readonly calls: Call[] = []
  /** Make the next matching call fail with this error (once). */
  readonly failures: Array<{ verb: Call['verb']; id: RegExp; error: Error }> = []

  constructor(public rollout: RolloutBehaviour = () => 'ready') {}

  private fail(verb: Call['verb'], id: string): void {
    this.calls.push({ verb, id })
    const i = this.failures.findIndex((f) => f.verb === verb && f.id.test(id))
    if (i >= 0) throw this.failures.splice(i, 1)[0].error
  }

  /** The stored object, with the status its rollout behaviour gives a workload. */
  private view(o: KubeObject): KubeObject {
    if (o.kind !== 'Deployment' && o.kind !== 'StatefulSet') return structuredClone(o)
    const copy = structuredClone(o) as KubeObject & { spec?: { replicas?: number }; status?: object }
    const want = copy.spec?.replicas ?? 1
    const generation = copy.metadata.generation ?? 1
    const how = this.rollout(o)
    copy.status = how === 'ready'
      ? { observedGeneration: generation, replicas: want, updatedReplicas: want, readyReplicas: want, availableReplicas: want }
      : { observedGeneration: generation, replicas: want, updatedReplicas: 0, readyReplicas: 0, availableReplicas: 0,
          conditions: how === 'stalled' ? [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `${o.metadata.name} made no progress`, lastUpdateTime: new Date(Date.now() + 1000).toISOString() }] : [] }
    return copy
  }

  async apply<T extends KubeObject>(obj: T, opts: { dryRun?: boolean } = {}): Promise<T> {
    const id = idOf({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name })
    this.fail(opts.dryRun ? 'dry-run' : 'apply', id)
    const before = this.objects.get(id)
    const changed = !before || JSON.stringify({ ...before, metadata: { ...before.metadata, generation: undefined } }) !== JSON.stringify(obj)
    const stored = structuredClone(obj)
    stored.metadata.generation = (before?.metadata.generation ?? 0) + (changed ? 1 : 0)
    if (!opts.dryRun) this.objects.set(id, stored)
    return structuredClone(stored)
  }

  async get<T>(ref: ObjectRef): Promise<T | undefined> {
    const id = idOf(ref)
    this.fail('get', id)
    const o = this.objects.get(id)
    return (o ? this.view(o) : undefined) as T | undefined
  }

  async list<T>(_apiVersion: string, kind: string, opts: { namespace?: string; labelSelector?: string } = {}): Promise<T[]> {
    this.fail('list', `${kind}/${opts.namespace ?? ''}`)
    const [key, value] = (opts.labelSelector ?? '').split('=')
    return [...this.objects.values()]
      .filter((o) => o.kind === kind && (!opts.namespace || o.metadata.namespace === opts.namespace))
      .filter((o) => !key || (value === undefined ? key in (o.metadata.labels ?? {}) : o.metadata.labels?.[key] === value))
      .map((o) => this.view(o)) as T[]
  }

  async create<T extends KubeObject>(obj: T): Promise<T> {
    const id = idOf({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name })
    this.fail('create', id)
    if (this.objects.has(id)) throw new KubeError('conflict', `${id} already exists`, '409 AlreadyExists', 409, 'AlreadyExists')
    this.objects.set(id, structuredClone({ ...obj, metadata: { ...obj.metadata, resourceVersion: '1' } }))
    return structuredClone(this.objects.get(id)) as T
  }

  async replace<T extends KubeObject>(obj: T): Promise<T> {
    const id = idOf({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name })
    this.fail('replace', id)
    const before = this.objects.get(id)
    if (!before) throw new KubeError('not-found', `${id} not found`, '404 NotFound', 404, 'NotFound')
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== before.metadata.resourceVersion) throw new KubeError('conflict', `${id} changed`, '409 Conflict', 409, 'Conflict')
    this.objects.set(id, structuredClone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(Number(before.metadata.resourceVersion ?? 0) + 1) } }))
    return structuredClone(this.objects.get(id)) as T
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    const id = idOf(ref)
    this.fail('delete', id)
    if (ref.kind === 'Namespace') for (const k of [...this.objects.keys()]) if (k.split('/')[1] === ref.name) this.objects.delete(k)
    return this.objects.delete(id)
  }

  /** The names of the stored objects of a kind in a namespace, sorted. */
  names(kind: string, namespace?: string): string[] {
    return [...this.objects.values()].filter((o) => o.kind === kind && o.metadata.namespace === namespace).map((o) => o.metadata.name).sort()
  }
}
