#!/usr/bin/env node
// Figures for the lab's real node (lab/components/node.mjs): build, start to Ready, warm up(), and a service image's
// pod from creation to Ready on the node (with the image pulled from the release registry, and with it present).
//   node bench/node.mjs                 restart the node (down → up, binaries cached), warm up(), pod start to Ready
//   node bench/node.mjs --cold          the same after deleting the node's built binaries (Go caches kept: link only)
//   node bench/node.mjs --cold-builds   only the Go builds, into a throw-away LAB_HOME (empty module and build
//                                       caches: downloads included), niced; the running lab is not touched
//   node bench/node.mjs --pod          only the pod figures (image pulled, image present), node not restarted
//   node bench/node.mjs --deploy        only the guarded deploy on the node (bench/node-deploy.ts, run with tsx): the
//                                       images published by the pipeline, first deploy to every pod Ready, update,
//                                       rollback, a crashing and an unpullable API release rolled back; node not restarted
//   node bench/node.mjs --envs          dev, staging and prod deployed side by side on the node (bench/node-envs.ts, tsx)
//                                       into throw-away namespaces: each one's first deploy to every pod Ready, the total
//   node bench/node.mjs --storage       the storage component (lab/components/storage.mjs): its Go build from empty
//                                       caches (a throw-away LAB_HOME, niced), the image build and push, and up() with
//                                       the provisioner's Deployment deleted first, to its pod Ready on the node
//   --image REF                         the service image (default: the dashboard the pipeline published as `dev`)
// Needs the lab env (`make lab-up`; `set -a; . ~/.graphmemory-lab/state/lab.env; set +a`).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as k8s from '@kubernetes/client-node'
import { $ } from 'zx'
import { waitDefaultServiceAccount } from '../lab/lib/kube.mjs'

const arg = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined }
const secs = (t0) => Number(((performance.now() - t0) / 1000).toFixed(1))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const print = (title, figures) => {
  console.log(title)
  const width = Math.max(...Object.keys(figures).map((k) => k.length))
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(width)}  ${v}`)
}

if (process.argv.includes('--deploy') || process.argv.includes('--envs')) {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const tsx = path.join(here, '..', 'node_modules', '.bin', 'tsx')
  const r = spawnSync(tsx, [path.join(here, process.argv.includes('--envs') ? 'node-envs.ts' : 'node-deploy.ts')], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

if (process.argv.includes('--cold-builds')) {
  // a child process with its own LAB_HOME: paths (and so the Go caches) are fixed when lab/lib/paths.mjs loads
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-node-cold-'))
  const here = path.dirname(fileURLToPath(import.meta.url))
  const script = `
    const node = await import(${JSON.stringify(path.join(here, '..', 'lab', 'components', 'node.mjs'))})
    const t0 = performance.now()
    await node.build()
    console.log(JSON.stringify({ seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) }))`
  const t0 = performance.now()
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, LAB_HOME: home }, encoding: 'utf8' })
  const figures = { 'cold Go builds, empty caches (kubelet, kube-proxy, pause, coredns; downloads included) s': secs(t0) }
  process.stdout.write(r.stdout)
  if (r.status !== 0) { process.stderr.write(r.stderr); process.exit(1) }
  const du = (p) => spawnSync('du', ['-sh', p], { encoding: 'utf8' }).stdout.split('\t')[0]
  figures['Go module cache'] = du(path.join(home, 'cache', 'go', 'mod'))
  figures['Go build cache'] = du(path.join(home, 'cache', 'go', 'build'))
  print(`load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`, figures)
  spawnSync('chmod', ['-R', 'u+w', home])
  fs.rmSync(home, { recursive: true, force: true })
  process.exit(0)
}

if (process.argv.includes('--storage')) {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-storage-cold-'))
  const figures = {}
  let t0 = performance.now()
  const r = spawnSync(process.execPath, ['--input-type=module', '-e',
    `await (await import(${JSON.stringify(path.join(here, '..', 'lab', 'components', 'storage.mjs'))})).build()`],
  { env: { ...process.env, LAB_HOME: home }, encoding: 'utf8' })
  if (r.status !== 0) { process.stderr.write(r.stderr); process.exit(1) }
  figures['cold Go build, empty caches (local-path-provisioner; downloads included) s'] = secs(t0)
  spawnSync('chmod', ['-R', 'u+w', home])
  fs.rmSync(home, { recursive: true, force: true })
  const storage = await import('../lab/components/storage.mjs')
  const kube = await import('../lab/components/kubernetes.mjs')
  await $`docker rmi ${storage.IMAGE}`.nothrow().quiet() // the image is built and pushed again
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(kube.env().KUBECONFIG_LAB)
  await kc.makeApiClient(k8s.AppsV1Api).deleteNamespacedDeployment({ name: storage.DEPLOYMENT, namespace: storage.NAMESPACE }).catch(() => undefined)
  const core = kc.makeApiClient(k8s.CoreV1Api)
  for (let i = 0; i < 120; i++) {
    const left = await core.listNamespacedPod({ namespace: storage.NAMESPACE, labelSelector: 'app.kubernetes.io/name=local-path-provisioner' })
    if (!left.items.length) break
    await sleep(500)
  }
  t0 = performance.now()
  const up = await storage.up()
  figures['up(): image built and pushed, objects applied, provisioner Ready s'] = secs(t0)
  figures['  of which the build and image s'] = up.buildSeconds
  t0 = performance.now()
  await storage.up()
  figures['second up() on a warm machine s'] = secs(t0)
  // a claim's first pod: scheduled, the folder made by the helper pod, the volume bound and mounted, the pod done
  const node = await import('../lab/components/node.mjs')
  const ns = `bench-storage-${Date.now().toString(36)}`
  await core.createNamespace({ body: { metadata: { name: ns } } })
  await waitDefaultServiceAccount(core, ns)
  try {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: storage.STORAGE_CLASS, resources: { requests: { storage: '64Mi' } } } } })
    t0 = performance.now()
    await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'first' }, spec: {
      nodeSelector: { [node.NODE_LABEL.key]: node.NODE_LABEL.value }, restartPolicy: 'Never',
      tolerations: [{ key: node.NODE_TAINT.key, operator: 'Equal', value: node.NODE_TAINT.value, effect: 'NoSchedule' }],
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
      containers: [{ name: 'main', image: process.env.LAB_IMAGE_PYTHON_RUNTIME, command: ['sh', '-c', 'echo x > /data/x'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
    } } })
    for (let i = 0; i < 600; i++) {
      if ((await core.readNamespacedPod({ name: 'first', namespace: ns })).status?.phase === 'Succeeded') break
      await sleep(200)
    }
    figures["a claim's first pod: created → volume made and bound → pod wrote and exited s"] = secs(t0)
  } finally {
    await core.deleteNamespace({ name: ns })
  }
  print(`storage, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`, figures)
  process.exit(0)
}

const node = await import('../lab/components/node.mjs')
const { binDir } = await import('../lab/lib/paths.mjs')
const kube = await import('../lab/components/kubernetes.mjs')
const figures = {}

// --pod: only the pod figures, on the node as it runs (other work on the node is left alone)
const podOnly = process.argv.includes('--pod')
let t0 = performance.now()
if (!podOnly) {
  await node.down()
  figures['down() (pods killed, mounts and network removed) s'] = secs(t0)
}
if (!podOnly && process.argv.includes('--cold')) {
  for (const [name, v] of [['kubernetes-node', kube.KUBE_VERSION], ['coredns', node.COREDNS_VERSION]]) fs.rmSync(binDir(name, v), { recursive: true, force: true })
  t0 = performance.now()
  await node.build()
  figures['build with the binaries deleted (Go caches kept: linking) s'] = secs(t0)
}
t0 = performance.now()
const started = await node.up()
if (!podOnly) {
  figures['up() to node Ready (containerd, kubelet, kube-proxy, CoreDNS) s'] = secs(t0)
  t0 = performance.now()
  await node.up()
  figures['second up() on a warm machine s'] = secs(t0)
}

// a service image on the node: creation to Ready (readiness probe on its health endpoint)
const image = arg('--image') ?? `${process.env.LAB_RELEASE_REGISTRY ?? '127.0.0.1:5001'}/graphmemory/dashboard:dev`
const kc = new k8s.KubeConfig()
kc.loadFromFile(kube.env().KUBECONFIG_LAB)
const core = kc.makeApiClient(k8s.CoreV1Api)
const ns = `bench-node-${Date.now().toString(36)}`
await core.createNamespace({ body: { metadata: { name: ns } } })
await waitDefaultServiceAccount(core, ns)
await node.ensurePullSecret(ns)

async function podToReady(name) {
  const t = performance.now()
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        nodeSelector: { [node.NODE_LABEL.key]: node.NODE_LABEL.value },
        tolerations: [{ key: node.NODE_TAINT.key, operator: 'Equal', value: node.NODE_TAINT.value, effect: node.NODE_TAINT.effect }],
        imagePullSecrets: [{ name: node.PULL_SECRET }],
        containers: [{
          name: 'dashboard', image, ports: [{ containerPort: 8501 }],
          readinessProbe: { httpGet: { path: '/_stcore/health', port: 8501 }, periodSeconds: 1, failureThreshold: 1 },
        }],
      },
    },
  })
  for (;;) {
    const p = await core.readNamespacedPod({ name, namespace: ns })
    if (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return secs(t)
    const waiting = p.status?.containerStatuses?.[0]?.state?.waiting
    if (['ErrImagePull', 'ImagePullBackOff', 'CrashLoopBackOff'].includes(waiting?.reason ?? '') || performance.now() - t > 300000) {
      throw new Error(`pod ${name} (${image}) not Ready: ${JSON.stringify(p.status)}`)
    }
    await sleep(100)
  }
}

try {
  // the image removed from the node first: the first pod pulls it (layers from the release registry, with the secret)
  // every name of the repository (tag and digest: a deploy pulls by digest), so its own layers are really pulled again;
  // first the kubelet must have removed the dead containers of deleted pods (they hold the layers; up to a minute)
  const repo = image.replace(/[@:][^/]*$/, '')
  const ctr = (...a) => $`ctr -a ${node.CONTAINERD_SOCKET} -n k8s.io ${a}`.quiet()
  for (let i = 0; i < 180 && (await ctr('containers', 'ls')).stdout.includes(repo); i++) await sleep(1000)
  // and the name the CRI gives it (its config digest): every image record whose manifest is one of the repository's
  const rows = (await ctr('images', 'ls')).stdout.split('\n').slice(1).map((l) => l.split(/\s+/)).filter((r) => r.length > 2)
  const manifests = new Set(rows.filter(([n]) => n.startsWith(`${repo}:`) || n.startsWith(`${repo}@`)).map((r) => r[2]))
  const names = rows.filter((r) => manifests.has(r[2])).map(([n]) => n)
  // --sync: returns after containerd's garbage collection removed the layers no other image holds
  if (names.length) await ctr('images', 'rm', '--sync', ...names)
  figures[`pod Ready, image pulled (${image}) s`] = await podToReady('pull')
  figures['pod Ready, image present s'] = await podToReady('present')
} finally {
  // gone before the end: a pod still running would keep the image's layers for the next run's "pulled" figure
  await core.deleteNamespace({ name: ns }).catch(() => undefined)
  for (let i = 0; i < 600 && await core.readNamespace({ name: ns }).then(() => true, () => false); i++) await sleep(250)
}

print(`real node ${node.NODE_NAME}: kubelet ${kube.KUBE_VERSION}, coredns ${node.COREDNS_VERSION}${started.built?.length ? '' : ' (binaries were cached)'}; ` +
  `load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`, figures)
