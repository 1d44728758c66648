// The monitoring component (k8s/components/monitoring) on the REAL lab: rendered by kustomize in the lab engine into
// staging and prod (their overlays include it; monitoring/ is mounted beside k8s/), its ConfigMaps compared
// with the files in monitoring/ they come from, then every object of the staging render sent to the lab API server
// as a server-side dry run by the deployer identity (namespace-bound RBAC), and the monitoring pods by the admin
// (the deployer may not create pods) against the namespace's Pod Security and quota. Needs `make lab-up`.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { connection, dag } from '@dagger.io/dagger'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { parse } from 'yaml'
import { labVar } from '../../../lab/env.js'
import { labRenderImages } from '../../../lab/pipeline.js'
import { roleBinding } from '../../../lab/components/deployer.mjs'
import { Kube, type KubeObject } from '../adapters/kubernetes.js'
import { ENVIRONMENT_NAMES, environment } from '../config/environments.js'
import { assertAppLabels, objectId, parseManifests, podSpecs, unpinnedImages, type K8sObject } from '../plan/manifests.js'
import { render } from './render.js'
import { quotaComputed } from './quota.testkit.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const MONITORING = path.join(REPO, 'monitoring')
const ENVS = ENVIRONMENT_NAMES
const APPS = ['prometheus', 'alertmanager', 'grafana', 'postgres-exporter', 'redis-exporter']
/** Each exporter: its store, metrics port, and the job Prometheus must give it (the rules read job="postgres"/"redis"). */
const EXPORTERS = { 'postgres-exporter': { store: 'postgres', port: 9187, storePort: 5432 }, 'redis-exporter': { store: 'redis', port: 9121, storePort: 6379 } }

type Relabel = { source_labels?: string[]; regex?: string; action?: string; replacement?: string; target_label?: string }
/** The job prometheus.yml's `cluster-exporters` discovery gives a Service endpoint, or undefined when it drops it. */
function discoveredJob(service: K8sObject, portName: string): string | undefined {
  const config = parse(fs.readFileSync(path.join(MONITORING, 'prometheus', 'prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string; relabel_configs: Relabel[] }[] }
  const meta: Record<string, string> = {
    __meta_kubernetes_service_label_app_kubernetes_io_name: service.metadata.labels?.['app.kubernetes.io/name'] ?? '',
    __meta_kubernetes_endpoint_port_name: portName, job: 'cluster-exporters',
  }
  for (const r of config.scrape_configs.find((c) => c.job_name === 'cluster-exporters')!.relabel_configs) {
    const value = (r.source_labels ?? []).map((l) => meta[l] ?? '').join(';')
    const m = new RegExp(`^(?:${r.regex ?? '(.*)'})$`).exec(value)
    if (r.action === 'keep') { if (!m) return undefined; continue }
    if (m && r.target_label) meta[r.target_label] = (r.replacement ?? '$1').replace(/\$(\d)/g, (_, i) => m[Number(i)] ?? '')
  }
  return meta.job
}

/** The files each generated ConfigMap must hold, by its name before kustomize's hash suffix. */
const rules = fs.readdirSync(path.join(MONITORING, 'prometheus', 'rules')).filter((f) => f.endsWith('.yml')).sort()
const FILES: Record<string, string[]> = {
  'prometheus-config': ['prometheus/prometheus.yml'],
  'prometheus-rules': rules.map((f) => `prometheus/rules/${f}`),
  'alertmanager-config': ['alertmanager/alertmanager.yml'],
  'grafana-datasources': ['grafana/provisioning/datasources/prometheus.yml'],
  'grafana-dashboard-providers': ['grafana/provisioning/dashboards/graphmemory.yml'],
  'grafana-dashboards': fs.readdirSync(path.join(MONITORING, 'grafana', 'dashboards')).filter((f) => f.endsWith('.json')).map((f) => `grafana/dashboards/${f}`),
}

const rendered = new Map<string, K8sObject[]>()
let images: Record<string, string>

beforeAll(async () => {
  images = await labRenderImages() // images pinned from tags by their real digests, the services by made-up ones
  const kustomizeImage = labVar('LAB_IMAGE_KUSTOMIZE')
  let texts: string[] = []
  await connection(async () => {
    const k8s = dag.host().directory(path.join(REPO, 'k8s'))
    const monitoring = dag.host().directory(MONITORING)
    // dev as its overlay renders it; staging and prod with the monitoring component
    texts = await Promise.all(ENVS.map((env) => render(k8s, env, images, kustomizeImage, [], monitoring).contents()))
  })
  ENVS.forEach((env, i) => rendered.set(env, parseManifests(texts[i])))
}, 300000)

const find = (objs: K8sObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)

describe('the monitoring component', () => {
  it.each(['staging', 'prod'] as const)('%s: Prometheus, Alertmanager, Grafana with their Services, PDBs, policies, RBAC; labelled, pinned, in the namespace', (name) => {
    const objs = rendered.get(name)!
    assertAppLabels(objs)
    expect(unpinnedImages(objs)).toEqual([])
    for (const app of APPS) {
      for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy', 'ServiceAccount']) {
        const o = find(objs, kind, kind === 'ServiceAccount' ? `graphmemory-${app}` : app)
        expect(o, `${kind} ${app}`).toBeDefined()
        expect(o!.metadata.namespace).toBe(environment(name).namespace)
        expect(o!.metadata.labels?.['graphmemory.dev/environment']).toBe(name)
      }
    }
    expect(find(objs, 'Role', 'prometheus-discovery')).toBeDefined()
    expect(find(objs, 'RoleBinding', 'prometheus-discovery')).toBeDefined()
    expect(objs.filter((o) => o.kind.startsWith('Cluster'))).toEqual([])
    expect(find(objs, 'NetworkPolicy', 'monitoring-scrape')).toBeDefined()
    expect(find(objs, 'ResourceQuota', 'graphmemory-quota')?.spec).toMatchObject({ hard: { 'limits.cpu': '29', 'limits.memory': '27Gi', pods: '45' } })
  })

  it.each(['staging', 'prod'] as const)('%s: the exporters log in with the stores\' Secrets, are found by prometheus.yml as jobs postgres/redis, and the policies open exactly their flows', (name) => {
    const objs = rendered.get(name)!
    type Container = { env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[]; ports: { name: string; containerPort: number }[] }
    const container = (app: string) => (podSpecs(objs).find((at) => at.object.metadata.name === app)!.spec as { containers: Container[] }).containers[0]
    const pg = container('postgres-exporter')
    expect(pg.env.find((e) => e.name === 'DATA_SOURCE_PASS_FILE')?.value).toBe('/run/secrets/postgres/password')
    const pgPod = podSpecs(objs).find((at) => at.object.metadata.name === 'postgres-exporter')!.spec as { volumes: { secret?: { secretName: string } }[] }
    expect(pgPod.volumes.map((v) => v.secret?.secretName)).toContain('graphmemory-postgres')
    expect(container('redis-exporter').env.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'graphmemory-redis', key: 'password' })
    // no password written in a manifest: only the file's path, or a reference to the Secret
    const plain = Object.keys(EXPORTERS).flatMap((app) => container(app).env.filter((e) => /PASS/.test(e.name) && e.value !== undefined && !e.name.endsWith('_FILE')))
    expect(plain).toEqual([])

    type Peer = { podSelector?: { matchLabels?: Record<string, string> } }
    type Rule = { from?: Peer[]; to?: Peer[]; ports?: { port: number }[] }
    const policy = (n: string) => find(objs, 'NetworkPolicy', n)!.spec as { podSelector: Peer['podSelector']; ingress?: Rule[]; egress?: Rule[] }
    const allows = (rules: Rule[] | undefined, peer: string, port: number) => (rules ?? []).some((r) =>
      (r.from ?? r.to ?? []).some((p) => p.podSelector?.matchLabels?.['app.kubernetes.io/name'] === peer) && (r.ports ?? []).some((p) => p.port === port))
    for (const [app, e] of Object.entries(EXPORTERS)) {
      const service = find(objs, 'Service', app)!
      const port = (service.spec as { ports: { name: string; port: number }[] }).ports[0]
      expect(port.port).toBe(e.port)
      expect(container(app).ports[0].containerPort, `${app}: the container listens where the Service points`).toBe(e.port)
      expect(discoveredJob(service, port.name), `${app}: the job prometheus.yml gives its endpoint`).toBe(e.store)
      expect(discoveredJob({ ...service, metadata: { ...service.metadata, labels: { 'app.kubernetes.io/name': 'other' } } }, port.name)).toBeUndefined()
      expect(allows(policy('prometheus').egress, app, e.port), `prometheus → ${app}:${e.port}`).toBe(true)
      expect(allows(policy(app).ingress, 'prometheus', e.port), `${app} admits prometheus`).toBe(true)
      expect(allows(policy(app).egress, e.store, e.storePort), `${app} → ${e.store}:${e.storePort}`).toBe(true)
      expect(policy(`${e.store}-from-exporter`).podSelector?.matchLabels?.['app.kubernetes.io/name']).toBe(e.store)
      expect(allows(policy(`${e.store}-from-exporter`).ingress, app, e.storePort), `${e.store} admits ${app}`).toBe(true)
    }
  })

  it('dev has none of it', () => {
    const objs = rendered.get('dev')!
    for (const app of APPS) expect(objs.filter((o) => o.metadata.name.includes(app)).map(objectId)).toEqual([])
    expect(find(objs, 'ResourceQuota', 'graphmemory-quota')?.spec).not.toMatchObject({ hard: { 'limits.cpu': '29' } })
  })

  it.each(['staging', 'prod'] as const)('%s: every ConfigMap made from monitoring/ holds exactly its files, byte for byte', (name) => {
    const objs = rendered.get(name)!
    for (const [cm, files] of Object.entries(FILES)) {
      const found = objs.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith(`${cm}-`))
      expect(found.length, cm).toBe(1)
      const data = (found[0] as unknown as { data: Record<string, string> }).data
      expect(Object.keys(data).sort(), `${cm}: its keys are the files`).toEqual(files.map((f) => path.basename(f)).sort())
      for (const f of files) expect(data[path.basename(f)], `${cm} ${f}`).toBe(fs.readFileSync(path.join(MONITORING, f), 'utf8'))
    }
    // and the pods read them by their hashed names
    const prom = find(objs, 'Deployment', 'prometheus') as unknown as { spec: { template: { spec: { volumes: { configMap?: { name: string } }[] } } } }
    const names = prom.spec.template.spec.volumes.flatMap((v) => (v.configMap ? [v.configMap.name] : []))
    expect(names.every((n) => objs.some((o) => o.kind === 'ConfigMap' && o.metadata.name === n)), names.join(', ')).toBe(true)
  })
})

describe('the staging render with monitoring on the lab API server', () => {
  it('every object passes a server-side dry run as the deployer; the monitoring and exporter pods pass Pod Security restricted and the quota', async () => {
    const env = environment('staging')
    const objs = rendered.get('staging')!
    // a throw-away namespace with the rendered Namespace's labels (Pod Security restricted; not opted in to image
    // admission: the services' digests here are made up), the deployer bound there as in the environments: the real
    // graphmemory-staging may run a release whose claims (on the lab's real node) this render would change
    const admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
    const ns = `gm-monitoring-${crypto.randomBytes(3).toString('hex')}`
    const { 'policy.sigstore.dev/include': _admission, ...labels } = find(objs, 'Namespace', env.namespace)!.metadata.labels ?? {}
    await admin.ensureNamespace(ns, { ...labels, 'graphmemory.dev/test': 'monitoring' })
    onTestFinished(async () => { await admin.delete({ apiVersion: 'v1', kind: 'Namespace', name: ns }) })
    await admin.apply(roleBinding(ns) as KubeObject)
    const deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
    for (const o of objs) {
      const moved = o.kind === 'Namespace' ? o : { ...structuredClone(o), metadata: { ...structuredClone(o.metadata), namespace: ns } }
      const out = await deployer.apply(moved as KubeObject, { dryRun: true })
      expect(out.metadata.uid, objectId(o)).toBeTruthy()
    }
    // the pods their Deployments would create, by the admin (the deployer may not create pods), in that namespace
    // holding the rendered ServiceAccounts, LimitRange and quota, as render.test.ts does for the application's pods
    for (const o of objs.filter((x) => ['ServiceAccount', 'LimitRange', 'ResourceQuota'].includes(x.kind))) {
      await admin.apply({ ...structuredClone(o), metadata: { ...structuredClone(o.metadata), namespace: ns } } as KubeObject)
    }
    await quotaComputed(admin, ns)
    const pods = podSpecs(objs).filter((at) => APPS.includes(at.object.metadata.name))
    expect(pods.map((at) => at.object.metadata.name).sort()).toEqual([...APPS].sort())
    for (const at of pods) {
      const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${at.object.metadata.name}-dry-run`, namespace: ns, labels: at.metadata.labels as Record<string, string> }, spec: at.spec }
      await admin.apply(pod, { dryRun: true })
    }
  }, 120000)
})
