// A real node beside kwok's fake ones: a kubelet (from the lab's k8s.io/kubernetes wrapper module) on a second
// containerd instance (Debian's, CRI plugin on, its own root, state and socket: not Docker's), Debian's runc and CNI
// plugins, and a pause image built here. Pods on it really pull, start, probe, crash and log. kube-proxy and CoreDNS
// give the cluster Service routing and DNS names. The node is labelled and tainted, so only pods that ask land on it.
import fs from 'node:fs'
import path from 'node:path'
import http from 'node:http'
import crypto from 'node:crypto'
import { $ } from 'zx'
import { REPO, STATE, binDir } from '../lib/paths.mjs'
import { setHeaderOptions } from '@kubernetes/client-node'
import { LabError, seconds } from '../lib/step.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { ensureApt } from '../lib/apt.mjs'
import { startDaemon, stopDaemon, runningPid, runningArgs, waitFor, ensurePortFree, sleep, portOpen, logFile, portFromEnv } from '../lib/proc.mjs'
import { readObject, deleteObject, nodeIsReady } from '../lib/kube.mjs'
import { MIRROR, RELEASE, RELEASE_USER } from './registries.mjs'
import * as registries from './registries.mjs'
import { KUBE_VERSION, CA_FILE, issueCert } from './kubernetes.mjs'
import * as kubernetes from './kubernetes.mjs'
import { buildAndPush, buildStamp } from '../lib/images.mjs'

export const name = 'node'

/**
 * Which node this module drives: the lab's real node, or (LAB_NODE_INSTANCE=1..9) a throw-away second one beside it,
 * for tests that stop, restart or unregister a node (node.test.ts) without touching the one everything else runs on.
 * An extra node has its own name (lab-extra-node-<n>; lab-node-<n> are the kwok nodes), folder (state/node-<n>), containerd, kubelet, bridge (gmi-node<n>,
 * 10.88.<n>.0/24), chains and kubelet health port; it shares the cluster's kube-proxy, CoreDNS and API relay (it
 * runs none of its own) and its label and taint value is `test-<n>`, so neither the application's pods nor the
 * cluster's add-ons land on it.
 */
export const INSTANCE = process.env.LAB_NODE_INSTANCE ?? ''
if (INSTANCE && !/^[1-9]$/.test(INSTANCE)) {
  throw new LabError(`LAB_NODE_INSTANCE=${INSTANCE} is not usable`, 'an extra node is numbered 1 to 9 (its subnet is 10.88.<n>.0/24)', 'unset it for the lab\'s node, or give 1-9')
}
/** True for the lab's own node, which also runs the cluster-wide daemons (kube-proxy, CoreDNS, the API relay). */
const MAIN = !INSTANCE
/** The node's name, and the label and taint that keep every pod off it unless the pod asks for it. */
export const NODE_NAME = MAIN ? process.env.LAB_NODE_NAME ?? 'lab-real-node' : `lab-extra-node-${INSTANCE}`
export const NODE_LABEL = { key: 'graphmemory.dev/real-node', value: MAIN ? 'true' : `test-${INSTANCE}` }
export const NODE_TAINT = { key: 'graphmemory.dev/real-node', value: NODE_LABEL.value, effect: 'NoSchedule' }
/** The name of one of this node's daemons (pid and log files): suffixed on an extra node. */
export const daemonName = (/** @type {string} */ role) => (MAIN ? role : `${role}-${INSTANCE}`)
/** The image pull secret (type kubernetes.io/dockerconfigjson) for the release registry. */
export const PULL_SECRET = 'lab-release-pull'
/** Namespaces that get the pull secret on every `up()` when they exist (more: `ensurePullSecret(namespace)`). */
export const PULL_SECRET_NAMESPACES = ['default', 'graphmemory-dev', 'graphmemory-staging', 'graphmemory-prod']

export const COREDNS_VERSION = 'v1.15.0' // github.com/coredns/coredns in lab/go/coredns/go.mod
export const PAUSE_IMAGE = `${MIRROR}/gmi-lab/pause:1.0`

const port = portFromEnv
/** Pod network: a bridge whose address is also the node's InternalIP (host-internal, not routed from outside). */
const SUBNET_INDEX = INSTANCE || '0'
export const POD_SUBNET = `10.88.${SUBNET_INDEX}.0/24`
export const NODE_IP = `10.88.${SUBNET_INDEX}.1`
export const BRIDGE = `gmi-node${SUBNET_INDEX}`
const CLUSTER_DNS = '10.96.0.10' // in the API server's service range 10.96.0.0/16
const KUBELET_PORT = port('LAB_NODE_KUBELET_PORT', 10250) // on NODE_IP: the API server calls it for logs/exec
const KUBELET_HEALTHZ_PORT = MAIN ? port('LAB_NODE_KUBELET_HEALTHZ_PORT', 10248) : 10270 + Number(INSTANCE)
const PROXY_HEALTHZ_PORT = port('LAB_NODE_PROXY_HEALTHZ_PORT', 10256)
const PROXY_METRICS_PORT = port('LAB_NODE_PROXY_METRICS_PORT', 10249)
// CoreDNS on the node IP; not port 53, which the Dagger engine's dnsmasq holds on every address (0.0.0.0:53):
// the kube-dns Service maps 53 to it
const DNS_PORT = port('LAB_NODE_DNS_PORT', 1053)
const DNS_HEALTH_PORT = port('LAB_NODE_DNS_HEALTH_PORT', 10262)
const DNS_READY_PORT = port('LAB_NODE_DNS_READY_PORT', 10263)
export const FORWARD_CHAIN = `GMI-LAB-NODE${INSTANCE}`
export const INPUT_CHAIN = `GMI-LAB-NODE${INSTANCE}-INPUT`

const DIR = path.join(STATE, MAIN ? 'node' : `node-${INSTANCE}`)
const d = (/** @type {string[]} */ ...p) => path.join(DIR, ...p)
const PKI = d('pki')
/** The node's containerd (CRI) socket: `ctr -a <it> -n k8s.io ...` shows what the kubelet runs. */
export const CONTAINERD_SOCKET = d('containerd', 'containerd.sock')
const SOCKET = CONTAINERD_SOCKET
const CONTAINERD_ROOT = d('containerd', 'root')
const CONTAINERD_STATE = d('containerd', 'state')
const KUBELET_ROOT = d('kubelet')
const POD_LOGS = d('pod-logs')
const CNI_CONF = d('cni', 'net.d')
const CNI_DATA = d('cni', 'networks')
const CNI_BIN = '/usr/lib/cni' // Debian's containernetworking-plugins
const RUNC = '/usr/sbin/runc' // Debian's runc
const KUBECONFIGS = d('kubeconfigs')
/** The kubeconfig the node's kubelet uses (shown by `make lab-status`). */
export const KUBELET_KUBECONFIG = path.join(KUBECONFIGS, 'kubelet.kubeconfig')

const APT = ['containerd', 'runc', 'containernetworking-plugins', 'iptables', 'iproute2', 'conntrack', 'openssl', 'socat']
const ROLES = MAIN ? ['node-containerd', 'kubelet', 'kube-proxy', 'coredns', 'node-api-relay'] : ['node-containerd', 'kubelet']
/** This node's daemons (the pid and log names). */
export const DAEMONS = ROLES.map(daemonName)
/** Where pods reach the API server: the `kubernetes` Service's endpoint, relayed to the API server's loopback address. */
const API_RELAY_PORT = port('LAB_NODE_API_RELAY_PORT', 6443)

// ---------------------------------------------------------------------------------------------------------------
// Builds: kubelet, kube-proxy and the pause program from the Kubernetes wrapper module; CoreDNS from its own

const [major, minor] = KUBE_VERSION.slice(1).split('.')
const stamp = (/** @type {string} */ pkg) => [`-X ${pkg}.gitVersion=${KUBE_VERSION}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`,
  `-X ${pkg}.gitTreeState=clean`]
const kubeLdflags = [...stamp('k8s.io/component-base/version'), ...stamp('k8s.io/client-go/pkg/version')].join(' ')
/** A short hash of the lab's own Go source for a target: stamped in, so editing the source rebuilds it. */
const sourceHash = (/** @type {string[]} */ ...file) => crypto.createHash('sha256').update(fs.readFileSync(path.join(REPO, 'lab', 'go', ...file))).digest('hex').slice(0, 12)
const NODE_TARGETS = () => [
  { pkg: 'k8s.io/kubernetes/cmd/kubelet', out: 'kubelet', ldflags: kubeLdflags },
  { pkg: 'k8s.io/kubernetes/cmd/kube-proxy', out: 'kube-proxy', ldflags: kubeLdflags },
  { pkg: './pause', out: 'pause', ldflags: `-X main.version=1.0-${sourceHash('kubernetes', 'pause', 'main.go')}` },
]
const COREDNS_TARGETS = () => [
  { pkg: '.', out: 'coredns', ldflags: `-X github.com/coredns/coredns/coremain.GitCommit=${COREDNS_VERSION}-lab.${sourceHash('coredns', 'main.go')}` },
]

/** Builds (or finds cached) the node's binaries, at the lowest CPU priority; returns their folders. */
export async function build() {
  const kube = await goBuild({ module: 'kubernetes', name: 'kubernetes-node', version: KUBE_VERSION, targets: NODE_TARGETS(), nice: true })
  const dns = await goBuild({ module: 'coredns', version: COREDNS_VERSION, targets: COREDNS_TARGETS(), nice: true })
  return { kube: kube.dir, dns: dns.dir, built: [kube.built && 'kubelet, kube-proxy, pause', dns.built && 'coredns'].filter(Boolean) }
}

// ---------------------------------------------------------------------------------------------------------------
// The pause image: the lab's own pause program, alone in an image, in the mirror (containerd's sandbox_image)

/** @param {string} stamp */
const pauseDockerfile = (stamp) => `FROM scratch
COPY pause /pause
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="gmi-lab pause"
USER 65535:65535
ENTRYPOINT ["/pause"]
`

/** Builds and pushes the pause image unless the mirror holds this build of it; true when it pushed. @param {string} binDir */
const pauseImage = (binDir) => buildAndPush({ image: PAUSE_IMAGE, context: binDir, stamp: buildStamp(binDir), name: 'pause', dockerfile: pauseDockerfile })

// ---------------------------------------------------------------------------------------------------------------
// Identities: client certificates signed by the cluster CA (no API server restart needed), and the kubelet's serving
// certificate (the API server checks it against the same CA)

/**
 * A kubeconfig for a client certificate of the cluster CA (written only when it changed); returns its path.
 * @param {string} file
 * @param {string} user
 * @param {{ crt: string, key: string }} cert
 */
function writeKubeconfig(file, user, cert) {
  const config = {
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'graphmemory-lab', cluster: { server: kubernetes.env().LAB_KUBE_API, 'certificate-authority-data': fs.readFileSync(CA_FILE).toString('base64') } }],
    users: [{ name: user, user: { 'client-certificate-data': fs.readFileSync(cert.crt).toString('base64'), 'client-key-data': fs.readFileSync(cert.key).toString('base64') } }],
    contexts: [{ name: 'graphmemory-lab', context: { cluster: 'graphmemory-lab', user } }],
    'current-context': 'graphmemory-lab',
  }
  const text = JSON.stringify(config, null, 2) + '\n'
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) fs.writeFileSync(file, text, { mode: 0o600 })
  return file
}

async function ensureIdentities() {
  const p = (/** @type {string} */ f) => path.join(PKI, f)
  // the Node authorizer knows the kubelet by this user and group: it may read only what its own pods need
  const kubelet = await issueCert(p('kubelet-client'), { cn: `system:node:${NODE_NAME}`, orgs: ['system:nodes'] })
  const serving = await issueCert(p('kubelet-serving'), { cn: NODE_NAME, usage: 'serverAuth', sans: [`IP:${NODE_IP}`, `DNS:${NODE_NAME}`] })
  // system:kube-proxy is bound to the bootstrap role system:node-proxier
  const proxy = await issueCert(p('kube-proxy'), { cn: 'system:kube-proxy' })
  const dns = await issueCert(p('coredns'), { cn: 'system:lab-coredns' })
  return {
    serving,
    kubelet: writeKubeconfig(KUBELET_KUBECONFIG, 'kubelet', kubelet),
    proxy: writeKubeconfig(path.join(KUBECONFIGS, 'kube-proxy.kubeconfig'), 'kube-proxy', proxy),
    dns: writeKubeconfig(path.join(KUBECONFIGS, 'coredns.kubeconfig'), 'coredns', dns),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Host network: the pod bridge (its address is the node IP, so kubelet and CoreDNS can bind to it before the first
// pod) and a FORWARD chain that lets pod traffic through Docker's DROP policy. Removed again by down().

async function ensureNetwork() {
  if ((await $`ip link show ${BRIDGE}`.nothrow().quiet()).exitCode !== 0) {
    await $`ip link add ${BRIDGE} type bridge`.quiet()
  }
  const addrs = (await $`ip -4 -o addr show dev ${BRIDGE}`.quiet()).stdout
  if (!addrs.includes(` ${NODE_IP}/`)) await $`ip addr add ${NODE_IP}/${POD_SUBNET.split('/')[1]} dev ${BRIDGE}`.quiet()
  await $`ip link set ${BRIDGE} up`.quiet()
  // FORWARD: what pods send (to each other, to Services), and the answers to it; nothing from outside to a pod
  await ensureChain(FORWARD_CHAIN, 'FORWARD', [], [
    ['-i', BRIDGE, '-j', 'ACCEPT'],
    ['-o', BRIDGE, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ])
  // INPUT: the node address (kubelet, CoreDNS, the API relay, NodePorts) answers the host and its pods only
  await ensureChain(INPUT_CHAIN, 'INPUT', ['-d', NODE_IP], [
    ['-i', 'lo', '-j', 'RETURN'],
    ['-i', BRIDGE, '-j', 'RETURN'],
    ['-j', 'DROP'],
  ])
}

/**
 * A chain holding exactly `rules`, jumped to first from `parent` (for packets matching `match`).
 * @param {string} chain
 * @param {string} parent
 * @param {string[]} match
 * @param {string[][]} rules
 */
async function ensureChain(chain, parent, match, rules) {
  const comment = ['-m', 'comment', '--comment', 'graphmemory lab node']
  const want = rules.map((r) => `-A ${chain} ${[...r.slice(0, -2), ...comment, ...r.slice(-2)].map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`)
  const have = await $`iptables -w -S ${chain}`.nothrow().quiet()
  if (have.exitCode !== 0) await $`iptables -w -N ${chain}`.quiet()
  if (have.exitCode !== 0 || JSON.stringify(have.stdout.trim().split('\n').slice(1)) !== JSON.stringify(want)) {
    await $`iptables -w -F ${chain}`.quiet()
    for (const r of rules) await $`iptables -w -A ${chain} ${r.slice(0, -2)} ${comment} ${r.slice(-2)}`.quiet()
  }
  if ((await $`iptables -w -C ${parent} ${match} -j ${chain}`.nothrow().quiet()).exitCode !== 0) {
    await $`iptables -w -I ${parent} 1 ${match} -j ${chain}`.quiet()
  }
}

/** The chains the kubelet itself makes (kube-proxy --cleanup leaves them), per table, for IPv4 and IPv6. */
const KUBELET_CHAINS = { filter: ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY'], nat: ['KUBE-KUBELET-CANARY'], mangle: ['KUBE-IPTABLES-HINT', 'KUBE-KUBELET-CANARY'] }

/**
 * Removes a chain and every jump to it from the `from` chains.
 * @param {string} tool iptables or ip6tables
 * @param {string} table
 * @param {string} chain
 * @param {string[]} [from]
 */
async function removeChain(tool, table, chain, from = []) {
  for (const parent of from) {
    while ((await $`${tool} -w -t ${table} -D ${parent} -j ${chain}`.nothrow().quiet()).exitCode === 0) { /* every copy */ }
  }
  await $`${tool} -w -t ${table} -F ${chain}`.nothrow().quiet()
  await $`${tool} -w -t ${table} -X ${chain}`.nothrow().quiet()
}

async function removeNetwork() {
  await removeChain('iptables', 'filter', FORWARD_CHAIN, ['FORWARD'])
  while ((await $`iptables -w -D INPUT -d ${NODE_IP} -j ${INPUT_CHAIN}`.nothrow().quiet()).exitCode === 0) { /* every copy */ }
  await removeChain('iptables', 'filter', INPUT_CHAIN)
  if (!MAIN) return $`ip link del ${BRIDGE}`.nothrow().quiet()
  for (const tool of ['iptables', 'ip6tables']) {
    for (const [table, chains] of Object.entries(KUBELET_CHAINS)) {
      for (const chain of chains) await removeChain(tool, table, chain, chain === 'KUBE-FIREWALL' ? ['INPUT', 'OUTPUT'] : [])
    }
  }
  await $`ip link del ${BRIDGE}`.nothrow().quiet()
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration files

const toml = (/** @type {string} */ v) => JSON.stringify(v) // TOML basic strings and arrays of them are written like JSON

function containerdConfig() {
  const cri = 'plugins."io.containerd.grpc.v1.cri"'
  return `# The lab node's containerd (written by lab/components/node.mjs): a second instance beside Docker's own.
version = 2
root = ${toml(CONTAINERD_ROOT)}
state = ${toml(CONTAINERD_STATE)}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${toml(SOCKET)}
[ttrpc]
  address = ${toml(`${SOCKET}.ttrpc`)}
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${toml(d('containerd', 'opt'))}

[${cri}]
  sandbox_image = ${toml(PAUSE_IMAGE)}
  # this VM's capability set lacks CAP_SYS_RESOURCE: without it every sandbox fails in runc
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        BinaryName = ${toml(RUNC)}
        SystemdCgroup = false
  [${cri}.cni]
    bin_dir = ${toml(CNI_BIN)}
    conf_dir = ${toml(CNI_CONF)}
    max_conf_num = 1
  [${cri}.registry]
    config_path = ${toml(d('containerd', 'certs.d'))}
`
}

/** Both lab registries speak plain HTTP on the loopback: one hosts.toml each (credentials come from pull secrets). */
function registryHosts() {
  return Object.fromEntries([MIRROR, RELEASE].map((host) => [host, `server = "http://${host}"

[host."http://${host}"]
  capabilities = ["pull", "resolve"]
`]))
}

function cniConfig() {
  return {
    cniVersion: '1.0.0',
    name: 'gmi-lab-node',
    plugins: [{
      type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: POD_SUBNET, gateway: NODE_IP }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: CNI_DATA },
    }],
  }
}

/** @typedef {Awaited<ReturnType<typeof ensureIdentities>>} Identities */

/** @param {Identities} ids */
function kubeletConfig(ids) {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration',
    address: NODE_IP, port: KUBELET_PORT, readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1', healthzPort: KUBELET_HEALTHZ_PORT,
    tlsCertFile: ids.serving.crt, tlsPrivateKeyFile: ids.serving.key,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: CA_FILE } },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${SOCKET}`, imageServiceEndpoint: `unix://${SOCKET}`,
    // what this VM allows (../shared/LAB.md, "A real kubelet"): cgroup v1, no QoS cgroups, no node allocatable
    cgroupDriver: 'cgroupfs', failCgroupV1: false, cgroupsPerQOS: false, enforceNodeAllocatable: [], failSwapOn: false,
    protectKernelDefaults: false,
    registerNode: true, registerWithTaints: [NODE_TAINT],
    clusterDNS: [CLUSTER_DNS], clusterDomain: 'cluster.local', resolvConf: '/etc/resolv.conf',
    podLogsDir: POD_LOGS, volumePluginDir: path.join(KUBELET_ROOT, 'volume-plugins'),
    // dev, staging and prod at once (32 pods), the tests' own environments beside them, the cluster's add-ons
    maxPods: 110, serializeImagePulls: false,
    // the disk is shared with the whole lab: evict only when it is really full (absolute figures: on this VM's disk the
    // kubelet's capacity is the nominal 252G while far less is free, so a 2 % threshold evicted every pod with 4.9G
    // free), and never remove images by usage percentage for the same reason (100 turns image GC off)
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1Gi', 'imagefs.available': '1Gi', 'nodefs.inodesFree': '2%' },
    imageGCHighThresholdPercent: 100, imageGCLowThresholdPercent: 99,
    containerLogMaxSize: '10Mi', containerLogMaxFiles: 3,
    rotateCertificates: false, serverTLSBootstrap: false,
  }
}

/** @param {string} kubeconfig */
function kubeProxyConfig(kubeconfig) {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    hostnameOverride: NODE_NAME, mode: 'iptables', clusterCIDR: POD_SUBNET,
    bindAddress: NODE_IP, healthzBindAddress: `127.0.0.1:${PROXY_HEALTHZ_PORT}`, metricsBindAddress: `127.0.0.1:${PROXY_METRICS_PORT}`,
    // NodePorts only on the node's bridge address, never on the VM's own interfaces; no route_localnet
    nodePortAddresses: [`${NODE_IP}/32`],
    iptables: { localhostNodePorts: false, masqueradeAll: false },
    // 0: leave the host's conntrack settings alone (the VM may not allow changing them)
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  }
}

/** @param {string} kubeconfig */
function corefile(kubeconfig) {
  return `# The lab cluster's DNS (written by lab/components/node.mjs): cluster names from the API, the rest upstream.
.:${DNS_PORT} {
    bind ${NODE_IP}
    errors
    health 127.0.0.1:${DNS_HEALTH_PORT}
    ready 127.0.0.1:${DNS_READY_PORT}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfig} graphmemory-lab
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
`
}

/** Writes `text` to `file` unless it holds it already; true when it wrote. @param {string} file @param {string} text */
function writeIfChanged(file, text, mode = 0o644) {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) return false
  fs.writeFileSync(file, text, { mode })
  return true
}

/**
 * Writes the configuration files; returns the daemons whose configuration changed (to be restarted).
 * @param {Identities} ids
 */
function writeConfigs(ids) {
  const changed = new Set()
  if (writeIfChanged(d('containerd', 'config.toml'), containerdConfig())) changed.add('node-containerd')
  for (const [host, text] of Object.entries(registryHosts())) writeIfChanged(d('containerd', 'certs.d', host, 'hosts.toml'), text) // read per pull
  writeIfChanged(path.join(CNI_CONF, '10-gmi-lab-node.conflist'), JSON.stringify(cniConfig(), null, 2) + '\n') // read per pod
  if (writeIfChanged(d('kubelet-config.json'), JSON.stringify(kubeletConfig(ids), null, 2) + '\n')) changed.add('kubelet')
  if (writeIfChanged(d('kube-proxy-config.json'), JSON.stringify(kubeProxyConfig(ids.proxy), null, 2) + '\n')) changed.add('kube-proxy')
  writeIfChanged(d('Corefile'), corefile(ids.dns)) // CoreDNS's reload plugin picks a change up
  for (const dir of [KUBELET_ROOT, POD_LOGS, CNI_DATA, CONTAINERD_ROOT, CONTAINERD_STATE]) fs.mkdirSync(dir, { recursive: true })
  return changed
}

// ---------------------------------------------------------------------------------------------------------------
// Daemons

/** True when `url` answers 200. @param {string} url @returns {Promise<boolean>} */
const httpOk = (url) => new Promise((resolve) => {
  const req = http.get(url, { timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode === 200) })
  req.on('timeout', () => req.destroy())
  req.on('error', () => resolve(false))
})
/** `ctr` against the node's containerd. @param {string[]} args */
const ctr = (args) => $`ctr -a ${SOCKET} ${args}`.nothrow().quiet()

/** @typedef {{ kube: string, dns: string }} NodeBinaries */

/**
 * The daemons this node runs, in start order: `role` is what it is, `name` its pid and log name.
 * @param {NodeBinaries} bin
 * @param {Identities} ids
 * @returns {(import('../lib/proc.mjs').DaemonSpec & { role: string })[]}
 */
function daemonSpecs(bin, ids) {
  return allDaemonSpecs(bin, ids).filter((spec) => ROLES.includes(spec.name)).map((spec) => ({ ...spec, role: spec.name, name: daemonName(spec.name) }))
}

/**
 * @param {NodeBinaries} bin
 * @param {Identities} ids
 * @returns {import('../lib/proc.mjs').DaemonSpec[]}
 */
function allDaemonSpecs(bin, ids) {
  return [
    {
      name: 'node-containerd', cmd: '/usr/bin/containerd', ready: async () => (await ctr(['version'])).exitCode === 0,
      args: ['--config', d('containerd', 'config.toml')],
    },
    {
      name: 'kubelet', cmd: path.join(bin.kube, 'kubelet'), ready: () => httpOk(`http://127.0.0.1:${KUBELET_HEALTHZ_PORT}/healthz`),
      timeoutMs: 120000,
      args: [
        `--config=${d('kubelet-config.json')}`, `--kubeconfig=${ids.kubelet}`, `--root-dir=${KUBELET_ROOT}`,
        `--hostname-override=${NODE_NAME}`, `--node-ip=${NODE_IP}`, `--node-labels=${NODE_LABEL.key}=${NODE_LABEL.value}`,
      ],
    },
    {
      name: 'kube-proxy', cmd: path.join(bin.kube, 'kube-proxy'), ready: () => httpOk(`http://127.0.0.1:${PROXY_HEALTHZ_PORT}/healthz`),
      args: [`--config=${d('kube-proxy-config.json')}`],
    },
    {
      name: 'coredns', cmd: path.join(bin.dns, 'coredns'), ready: () => httpOk(`http://127.0.0.1:${DNS_READY_PORT}/ready`),
      args: ['-conf', d('Corefile')],
    },
    {
      // the API server listens on 127.0.0.1 only; pods reach it as https://kubernetes.default.svc (10.96.0.1:443)
      // through kube-proxy to this relay on the node address (TLS passes through: the certificate's SANs name
      // 10.96.0.1 and kubernetes.default.svc, and pods trust the lab CA from their service-account volume)
      name: 'node-api-relay', cmd: '/usr/bin/socat', ready: () => portOpen(API_RELAY_PORT, NODE_IP),
      args: [`TCP-LISTEN:${API_RELAY_PORT},bind=${NODE_IP},fork,reuseaddr`, `TCP:127.0.0.1:${new URL(kubernetes.env().LAB_KUBE_API).port}`],
    },
  ]
}

/** @type {[string, number, string][]} */
const PORTS = /** @type {[string, number, string][]} */ ([
  ['kubelet', KUBELET_HEALTHZ_PORT, 'LAB_NODE_KUBELET_HEALTHZ_PORT'], ['kube-proxy', PROXY_HEALTHZ_PORT, 'LAB_NODE_PROXY_HEALTHZ_PORT'],
  ['kube-proxy', PROXY_METRICS_PORT, 'LAB_NODE_PROXY_METRICS_PORT'], ['coredns', DNS_HEALTH_PORT, 'LAB_NODE_DNS_HEALTH_PORT'],
  ['coredns', DNS_READY_PORT, 'LAB_NODE_DNS_READY_PORT'], ['coredns', DNS_PORT, 'LAB_NODE_DNS_PORT'],
]).filter(([role]) => ROLES.includes(role)).map(([role, p, envVar]) => [daemonName(role), p, envVar])

// ---------------------------------------------------------------------------------------------------------------
// Cluster objects: the node's label and taint (also set by the kubelet when it registers), CoreDNS's read access,
// the kube-dns Service (its endpoint is CoreDNS on the node IP), the release registry's pull secret

const client = kubernetes.adminClient
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

async function ensureObjects() {
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
async function ensureNodeMarks() {
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
async function readNode() {
  return readObject(client(), { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE_NAME } })
}

// ---------------------------------------------------------------------------------------------------------------
// The component contract

export async function up() {
  const t0 = performance.now()
  if ((await kubernetes.status())[0].state !== 'ok') {
    throw new LabError('the real node needs the lab cluster', 'the Kubernetes control plane is not running',
      'run `make lab-up` (the kubernetes component comes first)')
  }
  await ensureApt(APT)
  const bin = await build()
  const tBuilt = performance.now()
  const pushed = await pauseImage(bin.kube)
  for (const [daemon, p, envVar] of PORTS) await ensurePortFree(daemon, p, envVar)
  const ids = await ensureIdentities()
  await ensureNetwork()
  const changed = writeConfigs(ids)
  // new binaries (a rebuild) or a new configuration: those daemons start again (pods keep running meanwhile)
  if (bin.built.length) for (const x of ['kubelet', 'kube-proxy', 'coredns']) changed.add(x)
  // a kubelet registers its Node once, at start: when the Node is gone (the cluster was restarted with a clean etcd,
  // e.g. by bench/cluster.mjs, or someone deleted it) only a new start registers it again
  if (runningPid(daemonName('kubelet')) && !(await readNode())) changed.add('kubelet')

  const started = []
  for (const spec of daemonSpecs(bin, ids)) {
    const args = runningArgs(spec.name)
    if (args && (changed.has(spec.role) || JSON.stringify(args) !== JSON.stringify(spec.args))) await stopDaemon(spec.name)
    if (!runningPid(spec.name)) {
      startDaemon(spec.name, spec.cmd, spec.args, { cwd: DIR })
      started.push(spec.name)
    }
    // a daemon that exits while starting is started again, a few times: the kubelet gives up at once when the CRI
    // plugin is still initialising (`validate CRI v1 runtime API ...: server is not initialized yet`), which a
    // containerd that already answers its own API can still be, on a busy machine
    let restarts = 0
    await waitFor(spec.name, async () => {
      if (!runningPid(spec.name)) {
        if (restarts >= 5) return false // waitFor ends with the log tail
        restarts++
        await sleep(1000)
        startDaemon(spec.name, spec.cmd, spec.args, { cwd: DIR })
        return false
      }
      return spec.ready()
    }, spec.timeoutMs ?? 60000)
    if (restarts) process.stdout.write(`  ${spec.name} exited while starting and was started again (${restarts}x): see ${logFile(spec.name)}\n`)
    if (spec.role === 'kubelet') {
      await waitFor(spec.name, () => ensureNodeMarks(), 60000)
      if (MAIN) await ensureObjects() // kube-dns and CoreDNS's access before kube-proxy and CoreDNS start
    }
  }
  await waitFor(daemonName('kubelet'), async () => nodeIsReady(await readNode()), 120000)
  const note = started.length
    ? `${NODE_NAME} Ready (${bin.built.length ? `built ${bin.built.join(', ')} in ${seconds(t0, tBuilt)}s, ` : ''}${pushed ? 'pause image pushed, ' : ''}started ${started.join(', ')} in ${seconds(tBuilt, performance.now())}s)`
    : `${NODE_NAME} already Ready`
  return { note, built: bin.built, buildSeconds: Number(seconds(t0, tBuilt)), startSeconds: Number(seconds(tBuilt, performance.now())) }
}

/**
 * Pinned network namespaces of this node's sandboxes left behind (e.g. containerd stopped before its sandboxes were
 * removed): CRI's `cni-…` namespaces whose interface has an address in the node's pod subnet. Others are not touched.
 */
async function strayNetns() {
  const dir = '/run/netns'
  const prefix = POD_SUBNET.split('.').slice(0, 3).join('.') + '.'
  const found = []
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).filter((x) => x.startsWith('cni-')) : []) {
    const addrs = (await $`ip -n ${f} -4 -o addr show`.nothrow().quiet()).stdout
    if (addrs.includes(` ${prefix}`)) found.push(path.join(dir, f))
  }
  return found
}

/** Mounts whose mount point is under one of the folders, deepest first. @param {string[]} dirs */
function mountsUnder(dirs) {
  const points = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => l.split(' ')[4].replace(/\\040/g, ' '))
  return [...new Set(points.filter((p) => dirs.some((dir) => p === dir || p.startsWith(`${dir}/`))))]
    .sort((a, b) => b.length - a.length)
}

/**
 * Stops what up() started: CoreDNS, kube-proxy (and its iptables rules), the kubelet, every container of the node's
 * containerd and the containerd itself; unmounts pod volumes, sandbox network namespaces and container root
 * filesystems; removes the bridge, the FORWARD chain and the Node object. Images and certificates stay.
 */
export async function down() {
  let stopped = 0
  // the relay forks one child per connection (same process group): they go with it
  const relay = MAIN && runningPid('node-api-relay')
  if (relay) try { process.kill(-relay, 'SIGTERM') } catch { /* already gone */ }
  for (const role of ['node-api-relay', 'coredns', 'kube-proxy', 'kubelet'].filter((r) => ROLES.includes(r))) if (await stopDaemon(daemonName(role))) stopped++
  const netns = new Set()
  if (runningPid(daemonName('node-containerd'))) {
    const ids = (await ctr(['-n', 'k8s.io', 'containers', 'list', '-q'])).stdout.split('\n').filter(Boolean)
    for (const id of ids) {
      const info = await ctr(['-n', 'k8s.io', 'containers', 'info', id])
      try {
        for (const ns of JSON.parse(info.stdout).Spec?.linux?.namespaces ?? []) if (ns.type === 'network' && ns.path) netns.add(ns.path)
      } catch { /* no spec: nothing to note */ }
      await ctr(['-n', 'k8s.io', 'tasks', 'kill', '-s', 'SIGKILL', id])
    }
    for (const id of ids) {
      for (let i = 0; i < 20 && (await ctr(['-n', 'k8s.io', 'tasks', 'delete', id])).stdout.includes('running'); i++) await sleep(250)
      await ctr(['-n', 'k8s.io', 'tasks', 'delete', '-f', id])
      await ctr(['-n', 'k8s.io', 'containers', 'delete', id])
    }
  }
  if (await stopDaemon(daemonName('node-containerd'))) stopped++
  // what is still mounted: pod volumes (tmpfs for tokens and secrets), sandbox network namespaces, rootfs overlays
  // (a sandbox's namespace is pinned at /var/run/netns/cni-…; mountinfo names it through the /run it links to)
  const real = (/** @type {string} */ p) => { try { return path.join(fs.realpathSync(path.dirname(p)), path.basename(p)) } catch { return p } }
  const pinned = [...new Set([...netns].map(real).concat(await strayNetns()))]
  const mounts = mountsUnder([KUBELET_ROOT, CONTAINERD_ROOT, CONTAINERD_STATE, ...pinned])
  for (const m of mounts) if ((await $`umount ${m}`.nothrow().quiet()).exitCode) await $`umount -l ${m}`.nothrow().quiet()
  for (const p of pinned) {
    try { fs.rmSync(p, { force: true }) } catch (err) { process.stderr.write(`  could not remove ${p}: ${err instanceof Error ? err.message : err}\n`) }
  }
  // kube-proxy's rules and the kubelet's own chains are the host's, shared with the lab's node: only its down() clears them
  const proxyBin = path.join(binDir('kubernetes-node', KUBE_VERSION), 'kube-proxy')
  if (MAIN && fs.existsSync(proxyBin)) await $`${proxyBin} --cleanup`.nothrow().quiet()
  await removeNetwork()
  fs.rmSync(CNI_DATA, { recursive: true, force: true }) // the addresses of pods that are gone
  fs.rmSync(path.join(KUBELET_ROOT, 'pods'), { recursive: true, force: true })
  for (const f of fs.existsSync('/var/log/containers') ? fs.readdirSync('/var/log/containers') : []) {
    const link = path.join('/var/log/containers', f)
    try { if (fs.readlinkSync(link).startsWith(`${POD_LOGS}/`)) fs.rmSync(link) } catch { /* not a link */ }
  }
  if ((await kubernetes.status())[0].state === 'ok') await deleteObject(client(), { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE_NAME } }).catch(() => false)
  return { note: stopped ? `stopped ${stopped} processes, ${mounts.length} mounts removed` : 'was not running' }
}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const running = Object.fromEntries(ROLES.map((x) => [x, Boolean(runningPid(daemonName(x)))]))
  const missing = ROLES.filter((x) => !running[x])
  const apiUp = (await kubernetes.status().catch(() => []))[0]?.state === 'ok'
  const node = apiUp ? await readNode().catch(() => undefined) : undefined
  const ready = nodeIsReady(node)
  const runtime = node?.status?.nodeInfo?.containerRuntimeVersion ?? 'containerd'
  /** @type {import('./component.js').StatusRow[]} */
  const rows = [{
    name: MAIN ? 'node' : `node-${INSTANCE}`,
    state: ready && !missing.length ? 'ok' : running.kubelet || node ? 'down' : 'missing',
    version: node?.status?.nodeInfo?.kubeletVersion ?? KUBE_VERSION,
    address: `${NODE_NAME} ${ready ? 'Ready' : 'NotReady'} on ${runtime} (${NODE_IP}), kubeconfig ${KUBELET_KUBECONFIG}` +
      `${missing.length ? ` (not running: ${missing.join(', ')})` : ''}`,
  }]
  if (MAIN) rows.push({
    name: 'cluster-dns',
    state: running.coredns && running['kube-proxy'] && (await httpOk(`http://127.0.0.1:${DNS_READY_PORT}/ready`)) ? 'ok' : 'down',
    version: `coredns ${COREDNS_VERSION}`,
    address: `kube-dns ${CLUSTER_DNS}:53 → ${NODE_IP}:${DNS_PORT}, kube-proxy iptables`,
  })
  return rows
}

export function env() {
  return {
    LAB_NODE_NAME: NODE_NAME,
    LAB_NODE_LABEL: `${NODE_LABEL.key}=${NODE_LABEL.value}`,
    LAB_NODE_TAINT: `${NODE_TAINT.key}=${NODE_TAINT.value}:${NODE_TAINT.effect}`,
    LAB_NODE_PULL_SECRET: PULL_SECRET,
    LAB_NODE_KUBECONFIG: KUBELET_KUBECONFIG,
  }
}
