// A thin typed wrapper over @kubernetes/client-node: load a kubeconfig, server-side apply, get/list/delete, and
// errors a person can act on. No rollout policy lives here: that belongs to the pipeline steps that use it.
import * as k8s from '@kubernetes/client-node'
import { ObjectApi } from './object-api.mjs'

export type KubeObject = k8s.KubernetesObject & {
  metadata: k8s.V1ObjectMeta & { name: string }
  [field: string]: unknown
}

/** What identifies one object in the API. */
export interface ObjectRef {
  apiVersion: string
  kind: string
  name: string
  namespace?: string
}

export interface ApplyOptions {
  /** The field manager recorded in managedFields (default: graphmemory-ci). */
  fieldManager?: string
  /** Take over fields owned by other managers (default: true, as a pipeline owns what it deploys). */
  force?: boolean
  /** Server-side dry run: validation and admission run in full, nothing is stored (default: false). */
  dryRun?: boolean
  /** What the server does with unknown or duplicated fields (default: Strict, refuse them). */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore'
}

export interface LoadOptions {
  /** Context of the kubeconfig to use (default: its current-context). */
  context?: string
  /** Bearer token used instead of the kubeconfig user's credentials. */
  token?: string
}

/** The rollout-relevant fields of a Deployment, read as they are (no judgement made here). */
export interface DeploymentState {
  name: string
  namespace: string
  generation: number
  observedGeneration: number
  replicas: number
  updatedReplicas: number
  readyReplicas: number
  availableReplicas: number
  unavailableReplicas: number
  conditions: k8s.V1DeploymentCondition[]
  /** The deployment.kubernetes.io/revision annotation: bumped by the controller for each new ReplicaSet. */
  revision?: string
}

/**
 * What the deploy steps use of a cluster: read, list, apply (server-side), create, replace, delete. The Kube class is
 * the real one; tests pass an in-memory one.
 */
export type KubeClient = Pick<Kube, 'get' | 'list' | 'apply' | 'create' | 'replace' | 'delete'>

/**
 * What a Kubernetes call met, as steps decide on it (never by the message's text):
 * - `unauthorized`: the credentials were not accepted (401);
 * - `forbidden`: RBAC denies the identity that action (403 naming the user);
 * - `rejected`: admission refused the object (403 from Pod Security, a quota, a webhook);
 * - `invalid`: the object is malformed or fails validation (400, 422);
 * - `not-found` (404), `conflict` (409: exists already, or changed since it was read);
 * - `unreachable`: no answer from the API server (refused, unknown host, timeout);
 * - `failed`: anything else.
 */
export type KubeErrorKind = 'unauthorized' | 'forbidden' | 'rejected' | 'invalid' | 'not-found' | 'conflict' | 'unreachable' | 'failed'

/** A failed Kubernetes call: its kind, a message for people, and the API server's own words. */
export class KubeError extends Error {
  constructor(
    readonly kind: KubeErrorKind,
    message: string,
    /** The API server's answer as it gave it (`409 Conflict: …`), or the network error; no advice added. */
    readonly detail: string,
    /** The HTTP status (0 when the server did not answer). */
    readonly status = 0,
    readonly reason?: string,
  ) {
    super(message)
    this.name = 'KubeError'
  }
}

/** True when `err` is a Kubernetes error of that kind. */
export const isKubeError = (err: unknown, kind: KubeErrorKind): err is KubeError => err instanceof KubeError && err.kind === kind

const KIND_BY_STATUS: Record<number, KubeErrorKind> = { 400: 'invalid', 401: 'unauthorized', 404: 'not-found', 409: 'conflict', 422: 'invalid' }

interface StatusBody {
  message?: string
  reason?: string
}

function statusBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody
    } catch {
      return { message: body }
    }
  }
  return (body ?? {}) as StatusBody
}

const describe = (ref: Partial<ObjectRef>) =>
  `${ref.kind ?? 'object'} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name ?? ''}`.trim()

export class Kube {
  private readonly objects: ObjectApi

  private constructor(
    readonly config: k8s.KubeConfig,
    /** Where the configuration came from, for error messages. */
    readonly source: string,
  ) {
    this.objects = ObjectApi.forConfig(config)
  }

  /** Loads a kubeconfig file (e.g. the lab's KUBECONFIG_LAB). */
  static fromFile(file: string, opts: LoadOptions = {}): Kube {
    const kc = new k8s.KubeConfig()
    try {
      kc.loadFromFile(file)
    } catch (err) {
      throw new Error(`cannot read kubeconfig ${file}: ${(err as Error).message}`)
    }
    return Kube.fromKubeConfig(kc, opts, opts.token === undefined ? `kubeconfig ${file}` : `a token used in place of the user of kubeconfig ${file}`)
  }

  /** Loads a kubeconfig from its text (e.g. a Dagger Secret's plaintext): nothing is written to disk. */
  static fromString(text: string, opts: LoadOptions = {}, source = 'the kubeconfig given'): Kube {
    const kc = new k8s.KubeConfig()
    try {
      kc.loadFromString(text)
    } catch (err) {
      throw new Error(`${source} is not a kubeconfig: ${(err as Error).message.split('\n')[0]}`)
    }
    return Kube.fromKubeConfig(kc, opts, source)
  }

  /** Wraps an already loaded KubeConfig. */
  static fromKubeConfig(kc: k8s.KubeConfig, opts: LoadOptions = {}, source = 'the kubeconfig'): Kube {
    if (opts.context) kc.setCurrentContext(opts.context)
    if (!kc.getCurrentCluster()) throw new Error(`${source}: no cluster for context "${kc.getCurrentContext()}"`)
    if (opts.token !== undefined) {
      const current = kc.getCurrentContext()
      const ctx = kc.getContextObject(current)!
      const users = kc.users.map((u) => (u.name === ctx.user ? { name: u.name, token: opts.token } : u))
      const next = new k8s.KubeConfig()
      next.loadFromOptions({ clusters: kc.clusters, users, contexts: kc.contexts, currentContext: current })
      kc = next
    }
    return new Kube(kc, source)
  }

  /** The API server's URL. */
  get server(): string {
    return this.config.getCurrentCluster()!.server
  }

  /** Turns a client error into a KubeError: its kind, and one message that says what failed and what to check. */
  translate(err: unknown, action: string): KubeError {
    if (err instanceof KubeError) return err
    if (err instanceof k8s.ApiException) {
      const body = statusBody(err.body)
      const detail = `${err.code}${body.reason ? ` ${body.reason}` : ''}${body.message ? `: ${body.message}` : ''}`
      const refused = `Kubernetes API server ${this.server} refused to ${action}`
      if (err.code === 401) {
        return new KubeError('unauthorized', `${refused}: authentication failed (401 Unauthorized). ` +
          `The credentials (${this.source}) were not accepted: check that the kubeconfig points at the right cluster ` +
          'and that its token (or client certificate) is current.', detail, 401, body.reason)
      }
      // 403 is also how admission refuses (Pod Security, quota, LimitRange, webhooks): only an RBAC denial names a user
      if (err.code === 403 && /\bUser "[^"]*" cannot /.test(body.message ?? '')) {
        return new KubeError('forbidden', `${refused}: authorization failed (403 Forbidden)${body.message ? `: ${body.message}` : ''}. ` +
          `The identity (${this.source}) lacks that RBAC permission: check the kubeconfig's user/token, or grant it a Role.`, detail, 403, body.reason)
      }
      const kind = err.code === 403 ? 'rejected' : (KIND_BY_STATUS[err.code] ?? 'failed')
      return new KubeError(kind, `Kubernetes API server ${this.server} could not ${action}: ${detail}`, detail, err.code, body.reason)
    }
    const e = err as Error & { code?: string; cause?: { code?: string } }
    const code = e?.code ?? e?.cause?.code
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'ECONNRESET' || code === 'EHOSTUNREACH') {
      return new KubeError('unreachable', `cannot reach the Kubernetes API server ${this.server} to ${action} (${code}): is the cluster up, ` +
        `and is ${this.server} its address in ${this.source}?`, code)
    }
    const message = e?.message ?? String(err)
    return new KubeError('failed', `${action} on ${this.server} failed: ${message}`, message)
  }

  private async call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw this.translate(err, action)
    }
  }

  /** Server-side apply of one object; returns the object as stored (with dryRun: as it would be stored). */
  async apply<T extends KubeObject>(obj: T, opts: ApplyOptions = {}): Promise<T> {
    const fieldManager = opts.fieldManager ?? 'graphmemory-ci'
    return this.call(`${opts.dryRun ? 'dry-run apply' : 'apply'} ${describe({ ...obj.metadata, kind: obj.kind })}`, () =>
      this.objects.applyExact<T>(obj, { fieldManager, force: opts.force ?? true, dryRun: opts.dryRun ?? false, fieldValidation: opts.fieldValidation ?? 'Strict' }),
    )
  }

  /** Server-side apply of several objects, in order. */
  async applyAll(objs: KubeObject[], opts: ApplyOptions = {}): Promise<KubeObject[]> {
    const out: KubeObject[] = []
    for (const o of objs) out.push(await this.apply(o, opts))
    return out
  }

  /** Reads one object; undefined when it does not exist. */
  async get<T extends k8s.KubernetesObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.call(`read ${describe(ref)}`, () =>
        this.objects.read<T>({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } }),
      )
    } catch (err) {
      if (isKubeError(err, 'not-found')) return undefined
      throw err
    }
  }

  /** Lists objects of a kind (in a namespace, or cluster-wide), optionally by label and field selectors. */
  async list<T extends k8s.KubernetesObject>(
    apiVersion: string,
    kind: string,
    opts: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<T[]> {
    const list = await this.call(`list ${kind}${opts.namespace ? ` in ${opts.namespace}` : ''}`, () =>
      this.objects.list<T>(apiVersion, kind, opts.namespace, undefined, undefined, undefined, opts.fieldSelector, opts.labelSelector),
    )
    return list.items
  }

  /** Creates an object; fails with status 409 (AlreadyExists) when it exists. */
  async create<T extends KubeObject>(obj: T): Promise<T> {
    return this.call(`create ${describe({ ...obj.metadata, kind: obj.kind })}`, () => this.objects.create<T>(obj))
  }

  /** Replaces an object; with metadata.resourceVersion set, fails with status 409 (Conflict) when it changed since it was read. */
  async replace<T extends KubeObject>(obj: T): Promise<T> {
    return this.call(`replace ${describe({ ...obj.metadata, kind: obj.kind })}`, () => this.objects.replace<T>(obj))
  }

  /** Deletes one object; false when it was already gone. Dependents are removed in the background. */
  async delete(ref: ObjectRef, opts: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan' } = {}): Promise<boolean> {
    try {
      await this.call(`delete ${describe(ref)}`, () =>
        this.objects.delete(
          { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } },
          undefined,
          undefined,
          undefined,
          undefined,
          opts.propagationPolicy ?? 'Background',
        ),
      )
      return true
    } catch (err) {
      if (isKubeError(err, 'not-found')) return false
      throw err
    }
  }

  /** Creates (or updates) a namespace by server-side apply. */
  async ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<k8s.V1Namespace> {
    return (await this.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } })) as k8s.V1Namespace
  }

  /** The API server's version (gitVersion), e.g. v1.36.3. */
  async version(): Promise<string> {
    const api = this.config.makeApiClient(k8s.VersionApi)
    const v = await this.call('read the server version', () => api.getCode())
    return v.gitVersion
  }

  /** The rollout-relevant state of a Deployment; undefined when it does not exist. */
  async readDeployment(name: string, namespace: string): Promise<DeploymentState | undefined> {
    const d = await this.get<k8s.V1Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace })
    if (!d) return undefined
    const s = d.status ?? {}
    return {
      name,
      namespace,
      generation: d.metadata?.generation ?? 0,
      observedGeneration: s.observedGeneration ?? 0,
      replicas: d.spec?.replicas ?? 1,
      updatedReplicas: s.updatedReplicas ?? 0,
      readyReplicas: s.readyReplicas ?? 0,
      availableReplicas: s.availableReplicas ?? 0,
      unavailableReplicas: s.unavailableReplicas ?? 0,
      conditions: s.conditions ?? [],
      revision: d.metadata?.annotations?.['deployment.kubernetes.io/revision'],
    }
  }
}
