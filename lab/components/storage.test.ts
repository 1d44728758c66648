// The lab's real volumes against the running cluster (`make lab-up`): claims of the class lab-local-path bound by the
// local-path provisioner (a pod on the real node) to folders under the lab's state folder, written by non-root pods,
// outliving them, removed with their claim; and an environment's kwok-era claims moved out of the way. Each test
// works in a throw-away namespace.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as kube from './kubernetes.mjs'
import * as node from './node.mjs'
import * as storage from './storage.mjs'
import { kubeClient, waitDefaultServiceAccount } from '../lib/kube.mjs'
import { until } from '../lib/until.testkit.js'

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run \`make lab-up\` and load ~/.graphmemory-lab/state/lab.env`)
  return v
}

const RUN = crypto.randomBytes(3).toString('hex')
const ns = `lab-storage-test-${RUN}`
/** prepareNamespace() acts only on the lab's environments and the tests' `gmi-t-` namespaces. */
const moveNs = `gmi-t-move-${RUN}`
let core: k8s.CoreV1Api
let apps: k8s.AppsV1Api

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))


/** A claim of the real node's class (or another one; null: none, the cluster's default). */
const claim = (name: string, storageClassName: string | null = storage.STORAGE_CLASS): k8s.V1PersistentVolumeClaim => ({
  metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], ...(storageClassName ? { storageClassName } : {}), resources: { requests: { storage: '64Mi' } } },
})

/** A non-root pod on the real node (uid 1000, fsGroup 2000) running `script` with the claim at /data. */
const podWith = (name: string, claimName: string, script: string): k8s.V1Pod => ({
  metadata: { name },
  spec: {
    nodeSelector: { [node.NODE_LABEL.key]: node.NODE_LABEL.value },
    tolerations: [{ key: node.NODE_TAINT.key, operator: 'Equal', value: node.NODE_TAINT.value, effect: 'NoSchedule' }],
    restartPolicy: 'Never', terminationGracePeriodSeconds: 1, enableServiceLinks: false,
    securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
    containers: [{
      name: 'main', image: env('LAB_IMAGE_PYTHON_RUNTIME'), imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script],
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
    }],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }],
  },
})

/** Runs the pod to its end; resolves to its phase and log. */
async function run(p: k8s.V1Pod, namespace = ns): Promise<{ phase: string; log: string; node?: string }> {
  await core.createNamespacedPod({ namespace, body: p })
  const done = await until(`pod ${p.metadata!.name} finished`, async () => {
    const q = await core.readNamespacedPod({ name: p.metadata!.name!, namespace })
    return ['Succeeded', 'Failed'].includes(q.status?.phase ?? '') && q
  }, 180000)
  const log = await core.readNamespacedPodLog({ name: p.metadata!.name!, namespace })
  await core.deleteNamespacedPod({ name: p.metadata!.name!, namespace, gracePeriodSeconds: 0 })
  await until(`pod ${p.metadata!.name} gone`, () => core.readNamespacedPod({ name: p.metadata!.name!, namespace }).then(() => false, () => true))
  return { phase: done.status!.phase!, log, node: done.spec?.nodeName }
}

async function makeNamespace(name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels: { 'graphmemory.dev/test': 'lab-storage' } } } })
  await waitDefaultServiceAccount(core, name)
}

describe('the lab storage (local-path provisioner on the real node)', () => {
  beforeAll(async () => {
    const [row] = await storage.status()
    if (row.state !== 'ok') throw new Error(`the lab's storage is ${row.state} (${row.address}): run \`make lab-up\` first`)
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(env('KUBECONFIG_LAB'))
    core = kc.makeApiClient(k8s.CoreV1Api)
    apps = kc.makeApiClient(k8s.AppsV1Api)
    await makeNamespace(ns)
    await makeNamespace(moveNs)
  })

  afterAll(async () => {
    for (const n of [ns, moveNs]) if (core) await core.deleteNamespace({ name: n }).catch(() => undefined)
  })

  it('publishes its class, and leaves the cluster default (the kwok nodes\' host-path class) alone', async () => {
    expect(env('LAB_STORAGE_CLASS')).toBe(storage.STORAGE_CLASS)
    expect(env('LAB_DEPLOY_COMPONENTS')).toBe('lab-real-node,lab-backup')
    const kc = kubeClient(env('KUBECONFIG_LAB'))
    const sc = await kc.objects.read({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: storage.STORAGE_CLASS } }) as k8s.V1StorageClass
    expect({ provisioner: sc.provisioner, binding: sc.volumeBindingMode, reclaim: sc.reclaimPolicy })
      .toEqual({ provisioner: storage.PROVISIONER, binding: 'WaitForFirstConsumer', reclaim: 'Delete' })
    expect(sc.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class']).toBeUndefined()
    const standard = await kc.objects.read({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'standard' } }) as k8s.V1StorageClass
    expect(standard.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class']).toBe('true')
    // the provisioner itself runs as a pod on the real node
    const pods = await core.listNamespacedPod({ namespace: storage.NAMESPACE, labelSelector: 'app.kubernetes.io/name=local-path-provisioner' })
    expect(pods.items.map((p) => p.spec?.nodeName)).toEqual([node.NODE_NAME])
  })

  it('binds a claim on the real node to a folder under the lab\'s state; a non-root pod writes it and a new pod reads it back', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('data') })
    // WaitForFirstConsumer: nothing is made before a pod uses the claim (a fixed wait, not a poll: it proves an absence)
    await sleep(2000)
    expect((await core.readNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns })).status?.phase).toBe('Pending')

    const wrote = await run(podWith('writer', 'data', 'id -u; echo "kept $(date +%s%N)" > /data/note && ls -ln /data/note && cat /data/note'))
    expect(wrote.phase, wrote.log).toBe('Succeeded')
    expect(wrote.node).toBe(node.NODE_NAME)
    const written = wrote.log.match(/kept \d+/)![0]

    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns })
    expect(pvc.status?.phase).toBe('Bound')
    const pv = await core.readPersistentVolume({ name: pvc.spec!.volumeName! })
    // a `local` volume (the kubelet applies the pod's fsGroup to it) pinned to the real node, under the lab's state folder
    expect(pv.spec?.local?.path?.startsWith(`${env('LAB_STORAGE_VOLUMES')}/`)).toBe(true)
    expect(pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]).toMatchObject({ key: 'kubernetes.io/hostname', values: [node.NODE_NAME] })
    // on the host: the folder belongs to the pod's fsGroup (the kubelet changed it), the file to the pod's user
    const dir = pv.spec!.local!.path!
    expect(fs.statSync(dir).gid).toBe(2000)
    expect(fs.statSync(path.join(dir, 'note'))).toMatchObject({ uid: 1000 })
    expect(fs.readFileSync(path.join(dir, 'note'), 'utf8').trim()).toBe(written)

    // the first pod is gone; another one, same claim, reads what it wrote
    const read = await run(podWith('reader', 'data', 'cat /data/note'))
    expect(read.phase, read.log).toBe('Succeeded')
    expect(read.log.trim()).toBe(written)

    // the claim's deletion removes the volume and its folder (reclaim policy Delete: the provisioner's helper pod)
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns })
    await until('the volume deleted', () => core.readPersistentVolume({ name: pv.metadata!.name! }).then(() => false, () => true))
    await until('the folder removed', async () => !fs.existsSync(dir))
  }, 400_000)

  it('a folder made for one pod group is not writable by another user without that group', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim('private') })
    expect((await run(podWith('owner', 'private', 'echo mine > /data/x'))).phase).toBe('Succeeded')
    const other = podWith('other', 'private', 'echo theirs > /data/y')
    other.spec!.securityContext = { runAsNonRoot: true, runAsUser: 3000, runAsGroup: 3000 } // no fsGroup
    const r = await run(other)
    expect(r.phase).toBe('Failed')
    expect(r.log).toMatch(/Permission denied/)
  }, 300_000)

  it('moves an environment deployed to the kwok nodes onto the real node\'s volumes (its kwok-era claims and StatefulSets go)', async () => {
    // what a kwok deploy leaves: a claim of the default class, a StatefulSet whose template names no class
    await core.createNamespacedPersistentVolumeClaim({ namespace: moveNs, body: claim('kuzu-data', null) })
    await apps.createNamespacedStatefulSet({
      namespace: moveNs,
      body: {
        metadata: { name: 'postgres' },
        spec: {
          serviceName: 'postgres', replicas: 1, selector: { matchLabels: { app: 'pg' } },
          template: { metadata: { labels: { app: 'pg' } }, spec: { containers: [{ name: 'pg', image: env('LAB_IMAGE_POSTGRES') }] } },
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } } }],
        },
      },
    })
    // the kwok node "runs" its pod, and the claim template's claim is bound by the host-path class
    await until('the kwok-era claims bound', async () => {
      const list = await core.listNamespacedPersistentVolumeClaim({ namespace: moveNs })
      const seen = list.items.map((c) => `${c.metadata?.name} ${c.spec?.storageClassName} ${c.status?.phase}`)
      if (list.items.length === 2 && list.items.every((c) => c.status?.phase === 'Bound' && c.spec?.storageClassName === 'standard')) return true
      throw new Error(`claims: ${seen.join(', ') || 'none'}`)
    })
    const pod = await core.readNamespacedPod({ name: 'postgres-0', namespace: moveNs })
    expect(kube.NODES).toContain(pod.spec?.nodeName)

    const lines = await storage.prepareNamespace(moveNs)
    expect(lines.join('\n')).toMatch(new RegExp(`^${moveNs}: moved to the real node's volumes .*deleted StatefulSet postgres, claim (kuzu-data|data-postgres-0), claim (kuzu-data|data-postgres-0)`))
    expect((await core.listNamespacedPersistentVolumeClaim({ namespace: moveNs })).items).toEqual([])
    expect((await apps.listNamespacedStatefulSet({ namespace: moveNs })).items).toEqual([])
    // a second time there is nothing to do
    expect(await storage.prepareNamespace(moveNs)).toEqual([])
  }, 300_000)

  it('refuses to move a claim a pod on the real node uses, and any namespace but the lab\'s environments', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: moveNs, body: claim('in-use', 'standard') })
    const p = podWith('user', 'in-use', 'sleep 3600')
    p.spec!.securityContext = { runAsUser: 0 }
    p.spec!.containers[0].securityContext = {}
    await core.createNamespacedPod({ namespace: moveNs, body: p })
    await until('the pod placed', () => core.readNamespacedPod({ name: 'user', namespace: moveNs }).then((q) => Boolean(q.spec?.nodeName)))
    await expect(storage.prepareNamespace(moveNs)).rejects.toThrow(/claim in-use \(class standard\) cannot move to lab-local-path: pod user on the real node uses it/)
    expect((await core.readNamespacedPersistentVolumeClaim({ name: 'in-use', namespace: moveNs })).metadata?.deletionTimestamp).toBeUndefined()
    await expect(storage.prepareNamespace(ns)).rejects.toThrow(/will not move lab-storage-test-.* only the lab's environments/)
  }, 300_000)
})
