// NetworkPolicy enforcement on the lab's real node: kube-router v2.1.0's network policy controller alone, built from
// its Go module (lab/go/kube-router), run as a host daemon beside the kubelet and kube-proxy (`--run-firewall` only: no
// BGP router, no service proxy, no load balancer allocator, no CNI), the way k3s embeds it. It turns every
// NetworkPolicy into iptables rules and ipsets (Debian's `ipset`) for the pods of the real node; the kwok nodes run no
// container, so nothing is enforced there (nothing runs). Why a host daemon and not a hostNetwork pod: it needs the
// host's iptables and ipset, of the same backend as kube-proxy's (a container's own iptables binary can disagree with
// the host's: kube-router's v2.1.1 notes fix that very break for its image), and the node's other daemons are host
// daemons too. Why not kube-network-policies: it needs nftables' `queue`, which this kernel lacks (../shared/LAB.md).
// docs/lab.md, "NetworkPolicies".
import fs from 'node:fs'
import path from 'node:path'
import http from 'node:http'
import { $ } from 'zx'
import * as k8s from '@kubernetes/client-node'
import { STATE } from '../lib/paths.mjs'
import { LabError, seconds, upFigures } from '../lib/step.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { ensureApt } from '../lib/apt.mjs'
import { stopDaemon, runningPid, ensurePortFree, runDaemon } from '../lib/proc.mjs'
import { parse } from 'yaml'
import { REPO } from '../lib/paths.mjs'
import { kubeClient, applyObject, messageOf, readObject } from '../lib/kube.mjs'
import * as kubernetes from './kubernetes.mjs'
import * as node from './node.mjs'
import { ENV_NAMESPACES } from './storage.mjs'

export const name = 'network-policy'

export const VERSION = 'v2.1.0' // github.com/cloudnativelabs/kube-router/v2 in lab/go/kube-router/go.mod
export const DAEMON = 'kube-router'
const HEALTH_PORT = Number(process.env.LAB_NETPOL_HEALTH_PORT ?? 20244)
const DIR = path.join(STATE, 'network-policy')
const KUBECONFIG = path.join(DIR, 'kube-router.kubeconfig')
const USER = 'system:lab-kube-router'
/** The lab cluster's Service range and NodePort range (lab/components/kubernetes.mjs): traffic to them is kube-proxy's. */
const SERVICE_RANGE = '10.96.0.0/16'
const NODE_PORTS = '30000-32767'
/** The chains kube-router makes in the filter table (kube-proxy's and the kubelet's are KUBE-* too: never these). */
export const CHAIN_PREFIXES = ['KUBE-ROUTER-', 'KUBE-POD-FW-', 'KUBE-NWPLCY-']
/** Its ipsets (source and destination sets of each policy, and the default ones). */
const IPSET_PREFIXES = ['KUBE-SRC-', 'KUBE-DST-', 'inet6:KUBE-', 'TMP-']

const PKG = 'github.com/cloudnativelabs/kube-router/v2'

/** Builds (or finds cached) kube-router at the lowest CPU priority; returns { dir, built }. */
export function build() {
  return goBuild({
    module: 'kube-router', version: VERSION, nice: true,
    targets: [{ pkg: `${PKG}/cmd/kube-router`, out: 'kube-router', ldflags: `-X ${PKG}/pkg/version.Version=${VERSION} -X ${PKG}/pkg/version.BuildDate=lab` }],
  })
}

/** Its arguments: the policy controller only, for the real node, on IPv4. */
export function args() {
  return [
    `--kubeconfig=${KUBECONFIG}`, `--hostname-override=${node.NODE_NAME}`,
    '--run-firewall=true', '--run-router=false', '--run-service-proxy=false', '--run-loadbalancer=false',
    '--enable-cni=false', '--enable-ipv4=true', '--enable-ipv6=false',
    `--service-cluster-ip-range=${SERVICE_RANGE}`, `--service-node-port-range=${NODE_PORTS}`,
    // a full resync every minute also puts its jumps back first in INPUT/FORWARD/OUTPUT when a chain of the node's
    // (lab/components/node.mjs) was inserted ahead of them
    '--iptables-sync-period=1m', `--health-port=${HEALTH_PORT}`, '--metrics-port=0', '--v=1',
  ]
}

let admin
const client = () => (admin ??= kubeClient(kubernetes.env().KUBECONFIG_LAB))

/** Its client certificate (lab CA, user system:lab-kube-router) in a kubeconfig, and read access to what it watches. */
async function ensureIdentity() {
  const cert = await kubernetes.issueCert(path.join(DIR, 'pki', 'kube-router'), { cn: USER })
  const config = {
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'graphmemory-lab', cluster: { server: kubernetes.env().LAB_KUBE_API, 'certificate-authority-data': fs.readFileSync(kubernetes.CA_FILE).toString('base64') } }],
    users: [{ name: 'kube-router', user: { 'client-certificate-data': fs.readFileSync(cert.crt).toString('base64'), 'client-key-data': fs.readFileSync(cert.key).toString('base64') } }],
    contexts: [{ name: 'graphmemory-lab', context: { cluster: 'graphmemory-lab', user: 'kube-router' } }],
    'current-context': 'graphmemory-lab',
  }
  fs.mkdirSync(DIR, { recursive: true, mode: 0o700 })
  fs.writeFileSync(KUBECONFIG, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 })
  const role = 'graphmemory-lab:kube-router'
  const objects = [
    {
      // kube-router starts informers for all of these, whichever controllers run
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: role },
      rules: [
        { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes', 'services', 'endpoints'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: role },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USER }],
    },
  ]
  for (const o of objects) {
    try {
      await applyObject(client(), o)
    } catch (err) {
      throw new LabError(`applying ${o.kind} ${o.metadata.name} failed`, messageOf(err), 'check `make lab-status`, then run `make lab-up` again')
    }
  }
}

/** The lab-real-node component's egress rule to the lab's cluster DNS (a daemon on the node's address, not a pod). */
const NODE_DNS_POLICY = path.join(REPO, 'k8s', 'components', 'lab-real-node', 'node-dns.yaml')

/**
 * The lab's environments deployed before that rule existed would lose name resolution once policies are enforced:
 * each one holding NetworkPolicies but not this one gets it, as its next deploy with lab-real-node renders it.
 * Returns the namespaces it was added to.
 */
async function ensureNodeDns() {
  const policy = parse(fs.readFileSync(NODE_DNS_POLICY, 'utf8'))
  const added = []
  for (const namespace of ENV_NAMESPACES) {
    if (!(await readObject(client(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }))) continue
    const ref = { apiVersion: policy.apiVersion, kind: policy.kind, metadata: { name: policy.metadata.name, namespace } }
    const { items } = await client().kc.makeApiClient(k8s.NetworkingV1Api).listNamespacedNetworkPolicy({ namespace })
    if (!items.length || (await readObject(client(), ref))) continue
    await applyObject(client(), { ...policy, metadata: { ...policy.metadata, namespace } })
    added.push(namespace)
  }
  return added
}

const healthy = () => new Promise((resolve) => {
  const req = http.get(`http://127.0.0.1:${HEALTH_PORT}/healthz`, { timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode === 200) })
  req.on('timeout', () => req.destroy())
  req.on('error', () => resolve(false))
})

/** True when its top chains are in place (the policy controller has synced once). */
export const chainsInPlace = async () => (await $`iptables -w -S KUBE-ROUTER-FORWARD`.nothrow().quiet()).exitCode === 0

/** Starts it (or restarts it when its binary or arguments changed); waits until healthy with its chains in place. */
/** @param {{ dir: string }} bin @param {boolean} rebuilt */
async function ensureDaemon(bin, rebuilt) {
  if (!runningPid(DAEMON)) await ensurePortFree(DAEMON, HEALTH_PORT, 'LAB_NETPOL_HEALTH_PORT')
  const spec = { name: DAEMON, cmd: path.join(bin.dir, 'kube-router'), args: args(), timeoutMs: 90000, ready: async () => (await healthy()) && (await chainsInPlace()) }
  return (await runDaemon(spec, { restart: rebuilt, cwd: DIR })).started
}

export async function up() {
  const t0 = performance.now()
  await node.requireReady('NetworkPolicy enforcement')
  await ensureApt(['iptables', 'ipset'])
  const bin = await build()
  const tBuilt = performance.now()
  await ensureIdentity()
  const dns = await ensureNodeDns()
  const started = await ensureDaemon(bin, bin.built)
  return {
    note: `kube-router ${VERSION} (policy controller only) on ${node.NODE_NAME}${started ? ` started${bin.built ? `, built in ${seconds(t0, tBuilt)}s` : ''}` : ': already running'}` +
      `${dns.length ? `; DNS egress rule added to ${dns.join(', ')}` : ''}`,
    built: bin.built, ...upFigures(t0, tBuilt),
  }
}

/**
 * Removes kube-router's chains (and the jumps to them) and its ipsets; touches nothing else. Not `kube-router
 * --cleanup-config`: that also runs the service proxy's and the router's cleanups (IPVS, routes), which the lab never
 * set up, on the shared host.
 */
export async function removeRules() {
  const saved = (await $`iptables-save -t filter`.nothrow().quiet()).stdout
  const ours = (/** @type {string} */ c) => CHAIN_PREFIXES.some((p) => c.startsWith(p))
  const chains = [...saved.matchAll(/^:(\S+) /gm)].map((m) => m[1]).filter(ours)
  for (const parent of ['INPUT', 'FORWARD', 'OUTPUT']) {
    for (const chain of chains.filter((c) => c.startsWith('KUBE-ROUTER-'))) {
      const rules = [...saved.matchAll(new RegExp(`^-A ${parent} (.*-j ${chain})$`, 'gm'))].map((m) => m[1])
      for (const r of rules) await $`sh -c ${`iptables -w -D ${parent} ${r}`}`.nothrow().quiet()
    }
  }
  for (const c of chains) await $`iptables -w -F ${c}`.nothrow().quiet()
  for (const c of chains) await $`iptables -w -X ${c}`.nothrow().quiet()
  const sets = (await $`ipset list -n`.nothrow().quiet()).stdout.split('\n').filter((s) => IPSET_PREFIXES.some((p) => s.startsWith(p)))
  for (const s of sets) await $`ipset destroy ${s}`.nothrow().quiet()
  return { chains: chains.length, sets: sets.length }
}

/** Stops the agent and removes its rules: the node's pods are no longer isolated (policies stay stored). */
export async function down() {
  const stopped = await stopDaemon(DAEMON)
  const removed = await removeRules()
  return { note: `${stopped ? 'stopped kube-router, ' : ''}removed ${removed.chains} chains, ${removed.sets} ipsets` }
}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const running = Boolean(runningPid(DAEMON))
  const ok = running && (await healthy()) && (await chainsInPlace())
  return [{
    name, state: ok ? 'ok' : running ? 'down' : 'missing', version: `kube-router ${VERSION}`,
    address: `policy controller on ${node.NODE_NAME}, health 127.0.0.1:${HEALTH_PORT}${ok ? '' : ' (not enforcing)'}`,
  }]
}
