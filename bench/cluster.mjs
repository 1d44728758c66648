#!/usr/bin/env node
// Figures for the lab's Kubernetes control plane: build time, start time to ready, warm up() time, and how long a
// 3-replica Deployment takes to become available. It restarts the lab cluster (down wipes etcd: a clean cluster).
//   node bench/cluster.mjs          build step as it is (cached binaries make it ~0s)
//   node bench/cluster.mjs --cold   delete the built binaries first (the Go build cache stays: see docs/lab-kubernetes.md)
import fs from 'node:fs'
import * as k8s from '@kubernetes/client-node'
import { binDir } from '../lab/lib/paths.mjs'
import { waitDefaultServiceAccount } from '../lab/lib/kube.mjs'
import { pollUntil } from '../lab/lib/proc.mjs'
import * as kube from '../lab/components/kubernetes.mjs'

const cold = process.argv.includes('--cold')
const secs = (t0) => Number(((performance.now() - t0) / 1000).toFixed(1))
const figures = {}

await kube.down()
if (cold) {
  for (const [name, v] of [['kubernetes', kube.KUBE_VERSION], ['kwok', kube.KWOK_VERSION]]) {
    fs.rmSync(binDir(name, v), { recursive: true, force: true })
  }
}

let t0 = performance.now()
const built = await kube.build()
figures[cold ? 'build with bin cache cleared (Go caches kept) s' : 'build step s'] = secs(t0)

t0 = performance.now()
await kube.up()
figures['start to ready (clean etcd, 5 processes, 2 nodes) s'] = secs(t0)

t0 = performance.now()
await kube.up()
figures['second up() on a warm machine s'] = secs(t0)

// a 3-replica Deployment, from apply to availableReplicas == 3
const kc = new k8s.KubeConfig()
kc.loadFromFile(kube.env().KUBECONFIG_LAB)
const objects = k8s.KubernetesObjectApi.makeApiClient(kc)
const apps = kc.makeApiClient(k8s.AppsV1Api)
const core = kc.makeApiClient(k8s.CoreV1Api)
const ns = `bench-${Date.now()}`
await objects.patch({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, undefined, undefined, 'bench', true, k8s.PatchStrategy.ServerSideApply)
await waitDefaultServiceAccount(core, ns, 30000)
t0 = performance.now()
await objects.patch({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns },
  spec: {
    replicas: 3, selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'bench/web:1' }] } },
  },
}, undefined, undefined, 'bench', true, k8s.PatchStrategy.ServerSideApply)
await pollUntil(() => apps.readNamespacedDeployment({ name: 'web', namespace: ns }), {
  timeoutMs: 120000 - (performance.now() - t0), everyMs: 100,
  done: (d) => d.status?.availableReplicas === 3 && d.status?.observedGeneration === d.metadata?.generation,
  onTimeout: (d) => new Error(`3-replica Deployment not available after 120s: ${JSON.stringify(/** @type {k8s.V1Deployment} */ (d)?.status)}`),
})
figures['3-replica Deployment available s'] = secs(t0)
await core.deleteNamespace({ name: ns })

console.log(`kubernetes ${kube.KUBE_VERSION}, etcd ${kube.ETCD_VERSION}, kwok ${kube.KWOK_VERSION}${built.built ? '' : ' (binaries were cached)'}`)
const width = Math.max(...Object.keys(figures).map((k) => k.length))
for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(width)}  ${v}`)
