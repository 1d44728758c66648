// The node's objects in the cluster: its label and taint (also set by the kubelet when it registers), CoreDNS's read
// access, the kube-dns Service (its endpoint is CoreDNS on the node IP), the release registry's pull secret.
import fs from 'node:fs'
import { setHeaderOptions } from '@kubernetes/client-node'
import { readObject } from '../../lib/kube.mjs'
import * as registries from '../registries.mjs'
import { RELEASE, RELEASE_USER } from '../registries.mjs'
import * as kubernetes from '../kubernetes.mjs'
import { API_RELAY_PORT, CLUSTER_DNS, DNS_PORT, NODE_IP, NODE_LABEL, NODE_NAME, NODE_TAINT, PULL_SECRET, PULL_SECRET_NAMESPACES } from './layout.mjs'

export const client = kubernetes.adminClient
const { apply } = kubernetes

/** The release registry's login as a dockerconfigjson document. */
function dockerConfigJson() {
  const password = fs.readFileSync(registries.env().LAB_RELEASE_PASSWORD_FILE, 'utf8').trim()
  const auth = Buffer.from(`${RELEASE_USER}:${password}`).toString('base64')
  return JSON.stringify({ auths: { [RELEASE]: { username: RELEASE_USER, password, auth } } })
}

/** Creates or updates the pull secret `lab-release-pull` in a namespace (which must exist). @param {string} namespace */
export async function ensurePullSecret(namespace) {
  await apply({
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/dockerconfigjson',
    metadata: { name: PULL_SECRET, namespace, labels: { 'app.kubernetes.io/managed-by': 'graphmemory-lab' } },
    data: { '.dockerconfigjson': Buffer.from(dockerConfigJson()).toString('base64') },
  })
}

export async function ensureObjects() {
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'graphmemory-lab:coredns' },
    rules: [
      { apiGroups: [''], resources: ['services', 'endpoints', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  })
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'graphmemory-lab:coredns' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'graphmemory-lab:coredns' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:lab-coredns' }],
  })
  const dnsPorts = [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }]
  await apply({
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' } },
    spec: { clusterIP: CLUSTER_DNS, ports: dnsPorts.map((p) => ({ ...p, targetPort: DNS_PORT })) },
  })
  // no selector: CoreDNS runs on the node's host network, so its one endpoint is written here
  await apply({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: 'kube-dns-lab', namespace: 'kube-system',
      labels: { 'kubernetes.io/service-name': 'kube-dns', 'endpointslice.kubernetes.io/managed-by': 'graphmemory-lab' },
    },
    addressType: 'IPv4', ports: dnsPorts.map((p) => ({ ...p, port: DNS_PORT })),
    endpoints: [{ addresses: [NODE_IP], conditions: { ready: true }, nodeName: NODE_NAME }],
  })
  // the `kubernetes` Service has no endpoints of the API server's own (--endpoint-reconciler-type=none: a loopback
  // address may not be one): this slice points it at the relay
  await apply({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: 'kubernetes-lab', namespace: 'default',
      labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'graphmemory-lab' },
    },
    addressType: 'IPv4', ports: [{ name: 'https', port: API_RELAY_PORT, protocol: 'TCP' }],
    endpoints: [{ addresses: [NODE_IP], conditions: { ready: true } }],
  })
  for (const ns of PULL_SECRET_NAMESPACES) {
    if (await readObject(client(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })) await ensurePullSecret(ns)
  }
}

/** Label and taint, applied by the lab admin too: a node registered earlier (or edited since) is put right. */
export async function ensureNodeMarks() {
  const node = await readNode()
  if (!node) return false
  const hasTaint = node.spec?.taints?.some((t) => t.key === NODE_TAINT.key && t.value === NODE_TAINT.value && t.effect === NODE_TAINT.effect)
  if (node.metadata?.labels?.[NODE_LABEL.key] === NODE_LABEL.value && hasTaint) return true
  const taints = [...(node.spec?.taints ?? []).filter((t) => t.key !== NODE_TAINT.key), NODE_TAINT]
  await client().core.patchNode({ name: NODE_NAME, body: { metadata: { labels: { [NODE_LABEL.key]: NODE_LABEL.value } }, spec: { taints } } },
    // a merge patch: the kubelet owns the other labels and taints
    setHeaderOptions('Content-Type', 'application/merge-patch+json'))
  return true
}

/** The Node object, or undefined before the kubelet registered it. @returns {Promise<import('@kubernetes/client-node').V1Node | undefined>} */
export async function readNode() {
  return readObject(client(), { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE_NAME } })
}

/**
 * Deletes the pods of this node that ended for good although their restart policy is Always: only a shutdown of the
 * machine (the kubelet's graceful node shutdown ends them, Succeeded or Failed) or an eviction does that. Their owners
 * made new pods long ago, but they stay listed, with their old addresses and exits, until deleted (the cluster's pod
 * GC waits for thousands of them): tests that list a namespace's pods, and Prometheus's discovery, would see them.
 * Pods that may end on their own (Jobs: restart policy Never or OnFailure) are kept. Returns how many were deleted.
 */
/** True for a pod that ended for good although its restart policy is Always. @param {import('@kubernetes/client-node').V1Pod} p */
export const isLeftover = (p) => ['Failed', 'Succeeded'].includes(p.status?.phase ?? '') && (p.spec?.restartPolicy ?? 'Always') === 'Always'

export async function deleteLeftoverPods() {
  const pods = (await client().core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${NODE_NAME}` })).items
  const leftovers = pods.filter(isLeftover)
  for (const p of leftovers) {
    await client().core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace: p.metadata?.namespace ?? '' }).catch(() => undefined)
  }
  return leftovers.length
}
