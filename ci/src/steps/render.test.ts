// The render step on the REAL lab: kustomize (the lab's gmi-lab/kustomize image, built from Go modules) runs as a
// container in the lab's Dagger engine (library mode), and every rendered object is sent to the lab's API server as a
// server-side dry run — validation and admission in full, Pod Security `restricted` included. Needs `make lab-up`.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { connection, dag } from '@dagger.io/dagger'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { labPinned, labRenderImages, repoSource } from '../../../lab/pipeline.js'
import { Kube, KubeError, type KubeObject } from '../adapters/kubernetes.js'
import { ENVIRONMENT_NAMES, environment, type EnvironmentName } from '../config/environments.js'
import {
  assertAppLabels, containerImages, objectId, parseManifests, parseRequiredSecrets, podSpecs, referencedSecrets,
  uncoveredSecrets, unpinnedImages, type K8sObject, type PodSpecAt,
} from '../plan/manifests.js'
import { allowedFlows, policyPorts, type Endpoint, type Port } from '../plan/network-flows.js'
import { render } from './render.js'
import { quotaComputed } from './quota.testkit.js'
import { renderRelease } from './release.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const K8S = path.join(REPO, 'k8s')

/** Runs fn inside one Dagger session and returns its result. */
async function inSession<T>(fn: () => Promise<T>): Promise<T> {
  let result: T | undefined
  await connection(async () => { result = await fn() })
  return result as T
}

/** What the monitoring component (staging and prod, not dev) adds: its images and its servers' pods. */
const MONITORING_IMAGES = ['graphmemory/prometheus', 'graphmemory/alertmanager', 'graphmemory/grafana', 'graphmemory/postgres-exporter', 'graphmemory/redis-exporter']
const monitored = (name: EnvironmentName): boolean => name !== 'dev'

let kube: Kube
let kustomizeImage: string
let images: Record<string, string>
const rendered = new Map<EnvironmentName, string>()
let renderSeconds = 0

beforeAll(async () => {
  kube = Kube.fromFile(labVar('KUBECONFIG_LAB'))
  kustomizeImage = labVar('LAB_IMAGE_KUSTOMIZE')
  images = await labRenderImages() // images pinned from tags by their real digests, the services by made-up ones
  const t0 = performance.now()
  const texts = await inSession(() => {
    const k8s = dag.host().directory(K8S)
    const monitoring = dag.host().directory(path.join(K8S, '..', 'monitoring'))
    return Promise.all(ENVIRONMENT_NAMES.map((env) => render(k8s, env, images, kustomizeImage, [], monitoring).contents()))
  })
  renderSeconds = (performance.now() - t0) / 1000
  ENVIRONMENT_NAMES.forEach((env, i) => rendered.set(env, texts[i]))
  console.log(`rendered ${ENVIRONMENT_NAMES.join(', ')} in one session: ${renderSeconds.toFixed(1)} s`)
}, 300000)

const objectsOf = (env: EnvironmentName): K8sObject[] => parseManifests(rendered.get(env)!)
const find = (objs: K8sObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)
const memoryBytes = (q: string): number => {
  const m = q.match(/^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/)!
  const mult: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }
  return Number(m[1]) * (m[2] ? mult[m[2]] : 1)
}

describe('render (kustomize in the lab engine)', () => {
  it.each(ENVIRONMENT_NAMES)('renders %s: its namespace, labels, replicas, and only the digests given', (name) => {
    const env = environment(name)
    const objs = objectsOf(name)
    expect(objs.length).toBeGreaterThan(30)
    assertAppLabels(objs)
    for (const o of objs) {
      expect(o.metadata.labels?.['graphmemory.dev/environment'], objectId(o)).toBe(name)
      if (o.kind === 'Namespace') expect(o.metadata.name).toBe(env.namespace)
      else expect(o.metadata.namespace, objectId(o)).toBe(env.namespace)
    }
    expect(find(objs, 'Namespace', env.namespace)?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted')

    expect(unpinnedImages(objs)).toEqual([])
    const used = Object.entries(images).filter(([n]) => monitored(name) || !MONITORING_IMAGES.includes(n)).map(([, ref]) => ref)
    expect(new Set(containerImages(objs).map((c) => c.image))).toEqual(new Set(used))

    const ingress = find(objs, 'Ingress', 'graphmemory')?.spec as { rules: { host: string }[]; tls: { hosts: string[]; secretName: string }[] }
    expect(ingress.rules.map((r) => r.host)).toEqual([env.host, `api.${env.host}`])
    expect(ingress.tls).toEqual([{ hosts: [env.host, `api.${env.host}`], secretName: 'graphmemory-tls' }])

    // the graph service is the single Kuzu writer: one pod; the API replicas scale like the other two services
    expect((find(objs, 'Deployment', 'graph')?.spec as { replicas: number }).replicas).toBe(1)
    expect(find(objs, 'HorizontalPodAutoscaler', 'graph')).toBeUndefined()
    for (const s of ['api', 'analytics', 'dashboard']) {
      expect((find(objs, 'Deployment', s)?.spec as { replicas: number }).replicas).toBe(env.replicas)
      expect(find(objs, 'HorizontalPodAutoscaler', s)?.spec).toMatchObject({ minReplicas: 1, maxReplicas: name === 'dev' ? 3 : 10 })
    }
    for (const kind of ['Deployment', 'StatefulSet']) {
      for (const o of objs.filter((x) => x.kind === kind)) {
        expect(find(objs, 'PodDisruptionBudget', o.metadata.name), `PDB for ${objectId(o)}`).toBeDefined()
        expect(find(objs, 'NetworkPolicy', o.metadata.name), `NetworkPolicy for ${objectId(o)}`).toBeDefined()
      }
    }
    for (const { object, spec } of podSpecs(objs)) {
      // Prometheus alone mounts a token: its Kubernetes discovery reads the API (k8s/README.md "Monitoring")
      if (object.metadata.name === 'prometheus') continue
      const sa = find(objs, 'ServiceAccount', String(spec.serviceAccountName))
      expect(sa?.automountServiceAccountToken, `${objectId(object)}'s ServiceAccount`).toBe(false)
      expect(spec.automountServiceAccountToken).toBe(false)
      for (const c of spec.containers as { name: string; resources: { limits: { memory: string } } }[]) {
        expect(memoryBytes(c.resources.limits.memory), `${objectId(object)} ${c.name}`).toBeLessThanOrEqual(2 * 2 ** 30)
      }
    }
  })

  it.each(ENVIRONMENT_NAMES)('%s: the quota holds every workload with its HPA at maximum plus a rollout\'s surge pod each, and a backup run', (name) => {
    const objs = objectsOf(name)
    type Res = { cpu?: string; memory?: string }
    type Container = { resources?: { limits?: Res; requests?: Res } }
    type Workload = { replicas?: number; strategy?: { type?: string; rollingUpdate?: { maxSurge?: number } } }
    const cpu = (v = '0') => (v.endsWith('m') ? Number(v.slice(0, -1)) / 1000 : Number(v))
    const mem = (v = '0') => Number(v.replace(/(Mi|Gi)$/, '')) * (v.endsWith('Gi') ? 1024 : v.endsWith('Mi') ? 1 : 1 / 2 ** 20)
    const need = { 'limits.cpu': 0, 'limits.memory': 0, 'requests.cpu': 0, 'requests.memory': 0, pods: 0 }
    const amounts = (c: Container) => ({
      'limits.cpu': cpu(c.resources?.limits?.cpu), 'limits.memory': mem(c.resources?.limits?.memory),
      'requests.cpu': cpu(c.resources?.requests?.cpu), 'requests.memory': mem(c.resources?.requests?.memory),
    })
    expect(podSpecs(objs).filter((p) => p.object.kind === 'CronJob').map((p) => p.object.metadata.name)).toEqual(['backup'])
    for (const { object: w, spec } of podSpecs(objs)) {
      const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler' && (o.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name === w.metadata.name)
      const ws = w.spec as Workload
      // a CronJob (concurrencyPolicy Forbid) runs one pod at a time
      const pods = w.kind === 'CronJob' ? 1 : ((hpa?.spec as { maxReplicas?: number } | undefined)?.maxReplicas ?? ws.replicas ?? 1) + (w.kind === 'Deployment' && ws.strategy?.type !== 'Recreate' ? ws.strategy?.rollingUpdate?.maxSurge ?? 1 : 0)
      // what the quota counts for a pod: its containers' sum, or its largest init container if that is more
      const sum = (spec.containers as Container[]).map(amounts)
      const init = ((spec.initContainers ?? []) as Container[]).map(amounts)
      for (const k of Object.keys(need).filter((x) => x !== 'pods') as Exclude<keyof typeof need, 'pods'>[]) {
        need[k] += pods * Math.max(sum.reduce((a, c) => a + c[k], 0), ...init.map((c) => c[k]))
      }
      need.pods += pods
    }
    const hard = (find(objs, 'ResourceQuota', 'graphmemory-quota')!.spec as { hard: Record<string, string> }).hard
    const have = { 'limits.cpu': cpu(hard['limits.cpu']), 'limits.memory': mem(hard['limits.memory']), 'requests.cpu': cpu(hard['requests.cpu']), 'requests.memory': mem(hard['requests.memory']), pods: Number(hard.pods) }
    for (const k of Object.keys(need) as (keyof typeof need)[]) expect(need[k], `${name} ${k}: needs ${need[k]}, quota ${have[k]}`).toBeLessThanOrEqual(have[k])
  })

  it.each(ENVIRONMENT_NAMES)('the secrets %s reads are exactly its committed required-secrets.yaml', (name) => {
    const env = environment(name)
    const required = parseRequiredSecrets(fs.readFileSync(path.join(K8S, env.overlay, 'required-secrets.yaml'), 'utf8'))
    const referenced = referencedSecrets(objectsOf(name))
    expect(uncoveredSecrets(referenced, required)).toEqual([])
    expect(Object.keys(referenced).sort()).toEqual(Object.keys(required.secrets).sort())
    expect(objectsOf(name).filter((o) => o.kind === 'Secret')).toEqual([]) // values never come from git
  })
})

/** Pods outside the environment's namespace, and an address outside the cluster: the other ends a flow can have. */
const OUTSIDE: Endpoint[] = [
  ['ingress-nginx', 'ingress-nginx', { 'app.kubernetes.io/name': 'ingress-nginx' }],
  ['kube-dns', 'kube-system', { 'k8s-app': 'kube-dns' }],
  ['kube-system pod', 'kube-system', { 'k8s-app': 'kube-proxy' }],
  ['kube-state-metrics', 'graphmemory-kube-state-metrics', { 'app.kubernetes.io/name': 'kube-state-metrics' }],
  ['otel-collector', 'graphmemory-logging', { 'app.kubernetes.io/name': 'otel-collector' }],
  // a pod of the logging namespace that is not the collector (the log store): the spans' flow must not reach it
  ['log-store', 'graphmemory-logging', { 'app.kubernetes.io/name': 'log-store' }],
  // another namespace's pod with the application's labels: a podSelector alone must not reach it
  ['api elsewhere', 'graphmemory-other', { 'app.kubernetes.io/name': 'api', 'app.kubernetes.io/part-of': 'graphmemory-ide' }],
].map(([name, namespace, labels]) => ({ name: name as string, namespace: namespace as string, labels: labels as Record<string, string>,
  namespaceLabels: { 'kubernetes.io/metadata.name': namespace as string } }))
const INTERNET: Endpoint = { name: 'internet', ip: '203.0.113.10' }

/**
 * The flows the application is meant to have (k8s/base/network-policies.yaml, k8s/components/monitoring/ and
 * k8s/components/backup/network-policies.yaml say why), as [from, to, TCP port]; only those whose two ends the
 * environment runs apply (dev has no monitoring). "*outside" is every end outside the namespace (the Kubernetes API
 * and the alert receivers have addresses the policy cannot name).
 */
const INTENDED: [string, string, number][] = [
  ['ingress-nginx', 'dashboard', 8501], ['ingress-nginx', 'api', 8000],
  ['dashboard', 'api', 8000], ['dashboard', 'analytics', 8002],
  ['analytics', 'api', 8000], ['analytics', 'redis', 6379],
  ['api', 'postgres', 5432], ['api', 'redis', 6379], ['api', 'graph', 8001],
  ['prometheus', 'api', 8000], ['prometheus', 'analytics', 8002], ['prometheus', 'dashboard', 8501],
  ['prometheus', 'alertmanager', 9093], ['prometheus', 'postgres-exporter', 9187], ['prometheus', 'redis-exporter', 9121],
  ['prometheus', 'kube-state-metrics', 8080], ['prometheus', '*outside', 443], ['prometheus', '*outside', 6443],
  ['postgres-exporter', 'postgres', 5432], ['redis-exporter', 'redis', 6379],
  ['grafana', 'prometheus', 9090], ['alertmanager', '*outside', 443],
  // the services' spans to the cluster's collector (OTEL_EXPORTER_OTLP_ENDPOINT)
  ['api', 'otel-collector', 4318], ['graph', 'otel-collector', 4318], ['analytics', 'otel-collector', 4318],
  ['dashboard', 'otel-collector', 4318],
  // the hourly backup (k8s/components/backup, every overlay): the graph's snapshot, pg_dump, the object store over HTTPS
  ['backup', 'graph', 8001], ['backup', 'postgres', 5432], ['backup', 'internet', 443],
  // open, though no container listens there: the scrape rule (monitoring-scrape, and prometheus' egress) lists the
  // three services' ports for all three; one rule per service would close these six
  ['prometheus', 'api', 8002], ['prometheus', 'api', 8501], ['prometheus', 'analytics', 8000],
  ['prometheus', 'analytics', 8501], ['prometheus', 'dashboard', 8000], ['prometheus', 'dashboard', 8002],
]

/** The intended flows of an environment whose pods are `pods`, as allowedFlows writes them. */
function intendedFlows(pods: Endpoint[]): string[] {
  const outside = [...OUTSIDE, INTERNET].map((e) => e.name)
  const present = new Set([...pods, ...OUTSIDE, INTERNET].map((e) => e.name))
  const flows = INTENDED.flatMap(([from, to, port]) => (to === '*outside' ? outside : [to])
    .filter((t) => present.has(from) && (to === '*outside' || present.has(t)))
    .map((t) => `${from} → ${t} TCP/${port}`))
  // every pod resolves names: cluster DNS on 53, both protocols
  const dns = pods.flatMap((p) => [`${p.name} → kube-dns TCP/53`, `${p.name} → kube-dns UDP/53`])
  return [...new Set([...flows, ...dns])].sort()
}

describe('NetworkPolicies (the rendered ones, evaluated: ci/src/plan/network-flows.ts)', () => {
  it.each(ENVIRONMENT_NAMES)('%s opens exactly the intended flows, nothing more', (name) => {
    const objs = objectsOf(name)
    const env = environment(name)
    const nsLabels = { ...find(objs, 'Namespace', env.namespace)?.metadata.labels, 'kubernetes.io/metadata.name': env.namespace }
    const pods: Endpoint[] = podSpecs(objs).map((at) => ({ name: at.object.metadata.name, namespace: env.namespace,
      namespaceLabels: nsLabels, labels: (at.metadata.labels ?? {}) as Record<string, string> }))
    const containerPorts = podSpecs(objs).flatMap((at) => (at.spec.containers as { ports?: { containerPort: number; protocol?: string }[] }[])
      .flatMap((c) => c.ports ?? []).map((p) => ({ protocol: (p.protocol ?? 'TCP') as Port['protocol'], port: p.containerPort })))
    // every port a policy or a container names, and ports nobody names (a rule open to any port shows there)
    const probes: Port[] = [...policyPorts(objs), ...containerPorts, { protocol: 'TCP', port: 1 }, { protocol: 'TCP', port: 65000 }, { protocol: 'UDP', port: 65000 }]
    expect(allowedFlows(objs, env.namespace, [...pods, ...OUTSIDE, INTERNET], probes)).toEqual(intendedFlows(pods))
  })
})

/** The Pod a workload's controller would create from its template (StatefulSet claims become claim volumes). */
function podFrom(at: PodSpecAt, namespace: string): KubeObject {
  const spec = structuredClone(at.spec)
  const templates = (at.object.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []
  const podName = at.object.kind === 'StatefulSet' ? `${at.object.metadata.name}-0` : `${at.object.metadata.name}-dry-run`
  spec.volumes = [...((spec.volumes as unknown[]) ?? []),
    ...templates.map((t) => ({ name: t.metadata.name, persistentVolumeClaim: { claimName: `${t.metadata.name}-${podName}` } }))]
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, namespace, labels: at.metadata.labels as Record<string, string> }, spec }
}

const inNamespace = (o: K8sObject, ns: string): KubeObject =>
  ({ ...structuredClone(o), metadata: { ...structuredClone(o.metadata), namespace: ns } }) as KubeObject

describe('renderRelease', () => {
  it('pins from their tags only the images the environment runs: dev no monitoring server, staging all', async () => {
    const tags = labPinned()
    const services = Object.fromEntries(Object.entries(images).filter(([name]) => !(name in tags)))
    const [dev, staging] = await inSession(() => Promise.all((['dev', 'staging'] as const).map((env) =>
      renderRelease(repoSource(), environment(env), services, tags, kustomizeImage))))
    expect(Object.keys(dev.images).sort()).toEqual([...Object.keys(services), 'graphmemory/postgres', 'graphmemory/redis'].sort())
    expect(staging.images).toEqual(images) // each tag pinned to the digest the mirror serves
    expect(unpinnedImages(parseManifests(staging.manifest))).toEqual([])
  })
})

describe('the rendered manifests on the lab API server', () => {
  it.each(ENVIRONMENT_NAMES)('%s: every object passes a server-side dry run; Pod Security restricted admits every pod', async (name) => {
    const objs = objectsOf(name)
    const ns = find(objs, 'Namespace', environment(name).namespace)!
    // a throw-away namespace with the rendered Namespace's labels (Pod Security restricted, enforced), so the test
    // never touches the real graphmemory-<env> namespaces a deploy owns
    const testNs = `gm-render-${name}-${crypto.randomBytes(3).toString('hex')}`
    // not opted in to image admission (prod is): these pods carry made-up service digests, and what this test checks
    // is Pod Security and the quota; admission of signed images has its own test (lab/components/admission.test.ts)
    const { 'policy.sigstore.dev/include': admission, ...labels } = ns.metadata.labels ?? {}
    if (name === 'prod') expect(admission).toBe('true')
    await kube.ensureNamespace(testNs, { ...labels, 'graphmemory.dev/test': 'render' })
    onTestFinished(async () => { await kube.delete({ apiVersion: 'v1', kind: 'Namespace', name: testNs }) })

    const t0 = performance.now()
    await kube.apply(ns as KubeObject, { dryRun: true }) // the real name: a dry run stores nothing
    // stored for real: what pod admission reads (ServiceAccounts, the LimitRange, the quota)
    const policy = objs.filter((o) => ['ServiceAccount', 'LimitRange', 'ResourceQuota'].includes(o.kind))
    for (const o of policy) await kube.apply(inNamespace(o, testNs))
    const quota = policy.find((o) => o.kind === 'ResourceQuota')!
    await quotaComputed(kube, testNs, quota.metadata.name)
    const rest = objs.filter((o) => o.kind !== 'Namespace' && !policy.includes(o))
    for (const o of rest) {
      const out = await kube.apply(inNamespace(o, testNs), { dryRun: true })
      expect(out.metadata.uid, objectId(o)).toBeTruthy()
    }
    const pods = podSpecs(objs).map((at) => podFrom(at, testNs))
    const monitoringPods = monitored(name) ? ['alertmanager-dry-run', 'grafana-dry-run', 'postgres-exporter-dry-run', 'prometheus-dry-run', 'redis-exporter-dry-run'] : []
    expect(pods.map((p) => p.metadata.name).sort()).toEqual([...monitoringPods, 'analytics-dry-run', 'api-dry-run', 'backup-dry-run', 'dashboard-dry-run', 'graph-dry-run', 'postgres-0', 'redis-0'].sort())
    for (const p of pods) await kube.apply(p, { dryRun: true })
    console.log(`${name}: ${rest.length + 1} objects and ${pods.length} pods accepted in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    // the control: the same API pod without its security context is refused by the same namespace's admission
    const bad = structuredClone(pods.find((p) => p.metadata.name === 'api-dry-run')!) as KubeObject & { spec: { securityContext?: unknown; containers: { securityContext?: unknown }[] } }
    bad.metadata.name = 'api-not-restricted'
    delete bad.spec.securityContext
    delete bad.spec.containers[0].securityContext
    const refused = await kube.apply(bad, { dryRun: true }).then(() => undefined, (e: unknown) => e)
    expect(refused).toBeInstanceOf(KubeError)
    expect(refused).toMatchObject({ kind: 'rejected', status: 403 })
    expect((refused as KubeError).message).toMatch(/violates PodSecurity "restricted:latest"/)
    expect((refused as KubeError).message).toMatch(/allowPrivilegeEscalation != false.*unrestricted capabilities.*runAsNonRoot != true.*seccompProfile/)

    // and the dry run checks the schema: a misspelt field in a rendered Deployment is refused, not ignored
    const typo = inNamespace(find(objs, 'Deployment', 'api')!, testNs) as KubeObject & { spec: { template: { spec: { containers: Record<string, unknown>[] } } } }
    typo.spec.template.spec.containers[0].imagePullPolcy = 'Always'
    const schema = await kube.apply(typo, { dryRun: true }).then(() => undefined, (e: unknown) => e)
    expect((schema as Error)?.message).toMatch(/imagePullPolcy.*(not declared in schema|unknown field)/)
  })
})

describe('render refuses before any work', () => {
  const someDir = () => dag.host().directory(K8S)

  it('an unknown environment, listing the valid ones', async () => {
    await inSession(async () => {
      expect(() => render(someDir(), 'production', images, kustomizeImage))
        .toThrow('unknown environment "production": valid environments are dev, staging, prod')
      expect(() => render(someDir(), '', images, kustomizeImage)).toThrow('valid environments are dev, staging, prod')
    })
  })

  it('an image ref without a digest, naming it', async () => {
    await inSession(async () => {
      const tagged = { ...images, 'graphmemory/api': '127.0.0.1:5001/graphmemory/api:latest' }
      expect(() => render(someDir(), 'dev', tagged, kustomizeImage))
        .toThrow('image references refused: graphmemory/api=127.0.0.1:5001/graphmemory/api:latest has no digest')
    })
  })

  it('without a kustomize image', async () => {
    await inSession(async () => {
      expect(() => render(someDir(), 'dev', images, ' ')).toThrow('no kustomize image given')
    })
  })

  it('a component name that is not a folder name (a path, upper case), naming it', async () => {
    await inSession(async () => {
      expect(() => render(someDir(), 'dev', images, kustomizeImage, ['lab-real-node', '../base', 'Lab']))
        .toThrow('component name "../base", "Lab" is not usable')
    })
  })
})
