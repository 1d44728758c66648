// The plan's pure decisions, on objects shaped like what the API server returns (live GETs and server-side dry runs).
import { describe, expect, it } from 'vitest'
import {
  applyOrder, changedPaths, comparable, entryFor, forApply, formatPlan, hpaTargets, keyOf, makePlan, mayPrune, prunable, refOf,
  type ObjectKey,
} from './changes.js'
import type { K8sObject } from './manifests.js'

const D1 = 'sha256:' + 'ab'.repeat(32)
const D2 = 'sha256:' + 'cd'.repeat(32)
const labels: Record<string, string> = { 'app.kubernetes.io/part-of': 'graphmemory-ide', 'app.kubernetes.io/managed-by': 'graphmemory-pipeline' }

/** The Deployment as rendered. */
const rendered = (image = `r/api@${D1}`, replicas = 2): K8sObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'api', namespace: 'gm', labels },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'api' } },
    template: {
      metadata: { labels: { app: 'api' } },
      spec: { containers: [{ name: 'api', image, ports: [{ containerPort: 8080, protocol: 'TCP' }] }] },
    },
  },
})

/** The same Deployment as the API server stores it (defaults filled in, server-written metadata, status). */
const stored = (image: string, server: { rv: string; generation: number; time: string; revision: string }) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'api',
    namespace: 'gm',
    uid: '5d2c7f1e-0c1b-4a57-9f0e-3b1a2c4d5e6f',
    resourceVersion: server.rv,
    generation: server.generation,
    creationTimestamp: '2024-05-01T10:00:00Z',
    labels,
    annotations: { 'deployment.kubernetes.io/revision': server.revision },
    managedFields: [{
      manager: 'graphmemory-pipeline', operation: 'Apply', apiVersion: 'apps/v1', time: server.time,
      fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } },
    }],
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'api' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600,
    template: {
      metadata: { creationTimestamp: null, labels: { app: 'api' } },
      spec: {
        containers: [{
          name: 'api', image, ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: {}, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent',
        }],
        restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', securityContext: {}, schedulerName: 'default-scheduler',
      },
    },
  },
  status: {
    observedGeneration: server.generation, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2,
    conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }],
  },
})

const live = stored(`r/api@${D1}`, { rv: '4711', generation: 3, time: '2024-05-01T10:00:00Z', revision: '3' })

describe('object keys', () => {
  it('keys by group, kind, namespace and name: the version does not matter, the group does', () => {
    expect(keyOf({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'gm', name: 'api' })).toBe('apps/Deployment/gm/api')
    expect(keyOf({ apiVersion: 'v1', kind: 'Namespace', name: 'gm' })).toBe('/Namespace//gm')
    expect(keyOf({ apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', namespace: 'gm', name: 'api' }))
      .toBe(keyOf({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace: 'gm', name: 'api' }))
    expect(keyOf({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: 'gm', name: 'web' }))
      .not.toBe(keyOf({ apiVersion: 'extensions/v1beta1', kind: 'Ingress', namespace: 'gm', name: 'web' }))
  })

  it('the reference of a rendered object carries a namespace only when it has one', () => {
    expect(refOf(rendered())).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'api', namespace: 'gm' })
    const ns = refOf({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gm', labels } })
    expect(ns).toEqual({ apiVersion: 'v1', kind: 'Namespace', name: 'gm' })
    expect('namespace' in ns).toBe(false)
    expect('namespace' in refOf({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gm', namespace: '' } })).toBe(false)
  })
})

describe('comparable', () => {
  it('drops status, server-written metadata and the Deployment revision annotation, keeps the rest', () => {
    const c = comparable({
      ...live,
      metadata: { ...live.metadata, selfLink: '/apis/apps/v1/namespaces/gm/deployments/api', annotations: { 'deployment.kubernetes.io/revision': '3', team: 'core' } },
    })
    expect(c.status).toBeUndefined()
    expect(c.metadata).toEqual({ name: 'api', namespace: 'gm', labels, annotations: { team: 'core' } })
    expect(c.spec).toBe(live.spec)
  })

  it('drops annotations that are left empty, and never touches the object it is given', () => {
    const c = comparable(live)
    expect(c.metadata).toEqual({ name: 'api', namespace: 'gm', labels })
    expect('annotations' in (c.metadata as object)).toBe(false)
    expect(live.metadata.annotations).toEqual({ 'deployment.kubernetes.io/revision': '3' })
    expect(live.metadata.managedFields).toHaveLength(1)
    expect(live.status.readyReplicas).toBe(2)
  })
})

describe('changedPaths', () => {
  it('names nothing for equal values and the exact leaf for a change', () => {
    expect(changedPaths({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([])
    expect(changedPaths({ a: [1, { b: 2 }] }, { a: [1, { b: 3 }] })).toEqual(['a[1].b'])
  })

  it('names added and removed keys, sorted', () => {
    expect(changedPaths({ z: 1, m: { y: 1 } }, { a: 1, m: { x: 1, y: 1 } })).toEqual(['a', 'm.x', 'z'])
  })

  it('names a list whose length changes as a whole, and a value that changes type', () => {
    expect(changedPaths({ ports: [1, 2] }, { ports: [1, 2, 3] })).toEqual(['ports'])
    expect(changedPaths({ a: { b: 1 } }, { a: 'x' })).toEqual(['a'])
    expect(changedPaths({ a: [1] }, { a: { 0: 1 } })).toEqual(['a'])
    expect(changedPaths([1, 2], [1, 3])).toEqual(['[1]'])
  })

  it('a difference at the top names the whole object', () => {
    expect(changedPaths(1, 2)).toEqual(['(whole object)'])
    expect(changedPaths({ a: 1 }, undefined)).toEqual(['(whole object)'])
    expect(changedPaths([1], [1, 2])).toEqual(['(whole object)'])
  })
})

describe('entryFor', () => {
  it('an object the cluster lacks is created', () => {
    expect(entryFor(rendered(), undefined, stored(`r/api@${D1}`, { rv: '1', generation: 1, time: 't', revision: '1' })))
      .toEqual({ object: 'Deployment gm/api', action: 'create' })
  })

  it('a dry run differing from the live object only in managedFields, resourceVersion, generation, status and revision is unchanged', () => {
    const dry = stored(`r/api@${D1}`, { rv: '4712', generation: 4, time: '2024-06-01T12:00:00Z', revision: '4' })
    dry.status = { ...dry.status, observedGeneration: 3, readyReplicas: 1 }
    expect(entryFor(rendered(), live, dry)).toEqual({ object: 'Deployment gm/api', action: 'unchanged' })
  })

  it('an image change is an update naming exactly spec.template.spec.containers[0].image', () => {
    const dry = stored(`r/api@${D2}`, { rv: '4712', generation: 4, time: '2024-06-01T12:00:00Z', revision: '3' })
    expect(entryFor(rendered(`r/api@${D2}`), live, dry))
      .toEqual({ object: 'Deployment gm/api', action: 'update', fields: ['spec.template.spec.containers[0].image'] })
  })

  it('a label change is named too (labels are ours, unlike the volatile metadata)', () => {
    const dry = stored(`r/api@${D1}`, { rv: '4712', generation: 3, time: 't', revision: '3' })
    dry.metadata.labels = { ...labels, tier: 'backend' }
    dry.spec.replicas = 3
    expect(entryFor(rendered(), live, dry).fields).toEqual(['metadata.labels.tier', 'spec.replicas'])
  })
})

describe('makePlan', () => {
  const prunes: ObjectKey[] = [
    { apiVersion: 'v1', kind: 'Service', name: 'old', namespace: 'gm' },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'old-reader' },
  ]

  it('appends the prunes after the entries, named like the objects', () => {
    const plan = makePlan([{ object: 'Deployment gm/api', action: 'unchanged' }], prunes)
    expect(plan.entries).toEqual([
      { object: 'Deployment gm/api', action: 'unchanged' },
      { object: 'Service gm/old', action: 'prune' },
      { object: 'ClusterRole old-reader', action: 'prune' },
    ])
    expect(plan.empty).toBe(false)
  })

  it('is empty only when every entry is unchanged and nothing is pruned', () => {
    expect(makePlan([], []).empty).toBe(true)
    expect(makePlan([{ object: 'a', action: 'unchanged' }, { object: 'b', action: 'unchanged' }], []).empty).toBe(true)
    expect(makePlan([{ object: 'a', action: 'unchanged' }, { object: 'b', action: 'create' }], []).empty).toBe(false)
    expect(makePlan([{ object: 'a', action: 'update', fields: ['spec.replicas'] }], []).empty).toBe(false)
    expect(makePlan([], prunes.slice(0, 1)).empty).toBe(false)
  })
})

describe('prunable', () => {
  const ns: K8sObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gm', labels } }
  const svc: K8sObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'gm', labels } }

  it('prunes what the inventory has and the render lacks, matching across versions, each once', () => {
    const inventory: ObjectKey[] = [
      { apiVersion: 'v1', kind: 'Namespace', name: 'gm' },
      { apiVersion: 'v1', kind: 'Namespace', name: 'gm' },
      { apiVersion: 'apps/v1beta2', kind: 'Deployment', name: 'api', namespace: 'gm' },
      { apiVersion: 'v1', kind: 'Service', name: 'api', namespace: 'gm' },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'legacy', namespace: 'gm' },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'legacy', namespace: 'gm' },
      { apiVersion: 'v1', kind: 'Service', name: 'api', namespace: 'other' },
      { apiVersion: 'v1', kind: 'Endpoints', name: 'api', namespace: 'gm' },
    ]
    expect(prunable(inventory, [ns, rendered(), svc])).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'legacy', namespace: 'gm' },
      { apiVersion: 'v1', kind: 'Service', name: 'api', namespace: 'other' },
      { apiVersion: 'v1', kind: 'Endpoints', name: 'api', namespace: 'gm' },
    ])
  })

  it('never prunes anything outside the inventory, and nothing when there is none', () => {
    expect(prunable([], [ns, rendered(), svc])).toEqual([])
    expect(prunable([], [])).toEqual([])
    const dropped = prunable([{ apiVersion: 'v1', kind: 'Service', name: 'api', namespace: 'gm' }], [])
    expect(dropped).toEqual([{ apiVersion: 'v1', kind: 'Service', name: 'api', namespace: 'gm' }])
  })

  it('never prunes a Namespace or a PersistentVolumeClaim, even one the inventory has and the render dropped', () => {
    const inventory: ObjectKey[] = [
      { apiVersion: 'v1', kind: 'Namespace', name: 'gm-old' },
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'data-postgres-0', namespace: 'gm' },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'legacy', namespace: 'gm' },
    ]
    expect(prunable(inventory, [])).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'legacy', namespace: 'gm' }])
  })
})

describe('mayPrune: the check on the live object just before a delete', () => {
  const ref: ObjectKey = { apiVersion: 'v1', kind: 'ConfigMap', name: 'legacy', namespace: 'gm' }
  const live = (l: Record<string, string> | undefined, kind = 'ConfigMap') => ({ kind, metadata: { name: 'legacy', namespace: 'gm', labels: l } })

  it('deletes an object that still exists and still carries every application label', () => {
    expect(mayPrune(ref, live(labels))).toBe(true)
    expect(mayPrune(ref, live({ ...labels, team: 'x' }))).toBe(true)
  })

  it('keeps one that is gone, relabelled by someone who took it over, or stripped of a label', () => {
    expect(mayPrune(ref, undefined)).toBe(false)
    expect(mayPrune(ref, live({ ...labels, 'app.kubernetes.io/managed-by': 'someone-else' }))).toBe(false)
    expect(mayPrune(ref, live({ 'app.kubernetes.io/managed-by': 'graphmemory-pipeline' }))).toBe(false)
    expect(mayPrune(ref, live({ 'app.kubernetes.io/part-of': 'graphmemory-ide' }))).toBe(false)
    expect(mayPrune(ref, live(undefined))).toBe(false)
  })

  it('never a Namespace or a PersistentVolumeClaim, labelled or not', () => {
    const ns: ObjectKey = { apiVersion: 'v1', kind: 'Namespace', name: 'gm' }
    const pvc: ObjectKey = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'data-postgres-0', namespace: 'gm' }
    expect(mayPrune(ns, live(labels, 'Namespace'))).toBe(false)
    expect(mayPrune(pvc, live(labels, 'PersistentVolumeClaim'))).toBe(false)
    // a reference and a live object that disagree: the live kind decides too
    expect(mayPrune(ref, live(labels, 'PersistentVolumeClaim'))).toBe(false)
  })
})

describe('applyOrder', () => {
  it('puts what others depend on first, unknown kinds last, each group in render order', () => {
    const o = (kind: string, name: string) => ({ kind, name })
    const sorted = applyOrder([
      o('Ingress', 'web'), o('Deployment', 'api'), o('CronJob', 'backup'), o('HorizontalPodAutoscaler', 'api'), o('Service', 'api'),
      o('Secret', 'pg'), o('Deployment', 'worker'), o('ConfigMap', 'cfg'), o('Namespace', 'gm'), o('PodMonitor', 'api'),
      o('StatefulSet', 'pg'), o('Service', 'pg'),
    ])
    expect(sorted.map((x) => `${x.kind}/${x.name}`)).toEqual([
      'Namespace/gm', 'Secret/pg', 'ConfigMap/cfg', 'Service/api', 'Service/pg', 'StatefulSet/pg', 'Deployment/api',
      'Deployment/worker', 'HorizontalPodAutoscaler/api', 'Ingress/web', 'CronJob/backup', 'PodMonitor/api',
    ])
  })
})

describe('HPA-scaled workloads', () => {
  const hpa = (namespace: string | undefined, spec: unknown): K8sObject => ({
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'api', ...(namespace ? { namespace } : {}) }, spec,
  })
  const api = hpa('gm', {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' }, minReplicas: 2, maxReplicas: 6,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
  })

  it('finds the targets of HPAs in their namespace, ignoring malformed ones and other kinds', () => {
    const targets = hpaTargets([
      rendered(), api,
      hpa('gm', { maxReplicas: 3 }),
      hpa('gm', { scaleTargetRef: { kind: 'Deployment' } }),
      hpa('gm', { scaleTargetRef: { kind: 'Deployment', name: 7 } }),
      hpa('gm', 'not a spec'),
      hpa(undefined, { scaleTargetRef: { kind: 'StatefulSet', name: 'pg' } }),
      { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'x', namespace: 'gm' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'x' } } },
    ])
    expect([...targets].sort()).toEqual(['Deployment/gm/api', 'StatefulSet//pg'])
  })

  it('leaves spec.replicas out only when the workload exists and an HPA scales it', () => {
    const scaled = hpaTargets([api])
    const d = rendered()
    const sent = forApply(d, true, scaled)
    expect(sent.spec).not.toHaveProperty('replicas')
    expect(sent.spec).toEqual({ selector: (d.spec as { selector: unknown }).selector, template: (d.spec as { template: unknown }).template })
    expect(sent.metadata).toBe(d.metadata)
    expect((d.spec as { replicas: number }).replicas).toBe(2)
    expect(forApply(d, false, scaled)).toBe(d)
    expect(forApply(d, true, new Set())).toBe(d)
    expect(forApply({ ...d, metadata: { ...d.metadata, namespace: 'other' } }, true, scaled).spec).toHaveProperty('replicas', 2)
    expect(forApply({ ...d, kind: 'StatefulSet' }, true, scaled).spec).toHaveProperty('replicas', 2)
  })

  it('handles cluster-scoped references and objects without a spec', () => {
    const noSpec: K8sObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api' } }
    expect(forApply(noSpec, true, new Set(['Deployment//api']))).toBe(noSpec)
    const top: K8sObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api' }, spec: { replicas: 1, paused: false } }
    expect(forApply(top, true, new Set(['Deployment//api'])).spec).toEqual({ paused: false })
  })
})

describe('formatPlan', () => {
  it('one line per object with the changed fields under updates, then the counts', () => {
    const plan = makePlan([
      { object: 'Namespace gm', action: 'unchanged' },
      { object: 'Deployment gm/api', action: 'update', fields: ['spec.template.spec.containers[0].image', 'spec.replicas'] },
      { object: 'Service gm/web', action: 'create' },
    ], [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'legacy', namespace: 'gm' }])
    expect(formatPlan(plan, 'staging')).toBe([
      'plan for staging: 1 to create, 1 to update, 1 to prune, 1 unchanged',
      '= unchanged Namespace gm',
      '~ update    Deployment gm/api',
      '      spec.template.spec.containers[0].image',
      '      spec.replicas',
      '+ create    Service gm/web',
      '- prune     ConfigMap gm/legacy',
      '',
    ].join('\n'))
  })

  it('says no changes when there are none', () => {
    expect(formatPlan(makePlan([{ object: 'Namespace gm', action: 'unchanged' }], []), 'dev'))
      .toBe('plan for dev: no changes\n= unchanged Namespace gm\n')
  })
})

describe('formatPlan with changesOnly', () => {
  it('keeps the counts and leaves out the unchanged objects', () => {
    const plan = makePlan([{ object: 'Service ns/api', action: 'unchanged' }, { object: 'Deployment ns/api', action: 'update', fields: ['spec.replicas'] }], [])
    const text = formatPlan(plan, 'dev', true)
    expect(text).toContain('0 to create, 1 to update, 0 to prune, 1 unchanged')
    expect(text).toContain('~ update    Deployment ns/api\n      spec.replicas')
    expect(text).not.toContain('Service ns/api')
  })
})
