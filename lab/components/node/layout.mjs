// The node's identity and layout: which node (the lab's, or a throw-away extra one), its name, label and taint,
// addresses, ports, folders and daemons. The other modules of lab/components/node/ read these.
import path from 'node:path'
import { STATE } from '../../lib/paths.mjs'
import { LabError } from '../../lib/step.mjs'
import { portFromEnv } from '../../lib/proc.mjs'
import { MIRROR } from '../registries.mjs'

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
export const MAIN = !INSTANCE
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

export const port = portFromEnv
/** Pod network: a bridge whose address is also the node's InternalIP (host-internal, not routed from outside). */
export const SUBNET_INDEX = INSTANCE || '0'
export const POD_SUBNET = `10.88.${SUBNET_INDEX}.0/24`
export const NODE_IP = `10.88.${SUBNET_INDEX}.1`
export const BRIDGE = `gmi-node${SUBNET_INDEX}`
export const CLUSTER_DNS = '10.96.0.10' // in the API server's service range 10.96.0.0/16
export const KUBELET_PORT = port('LAB_NODE_KUBELET_PORT', 10250) // on NODE_IP: the API server calls it for logs/exec
export const KUBELET_HEALTHZ_PORT = MAIN ? port('LAB_NODE_KUBELET_HEALTHZ_PORT', 10248) : 10270 + Number(INSTANCE)
export const PROXY_HEALTHZ_PORT = port('LAB_NODE_PROXY_HEALTHZ_PORT', 10256)
export const PROXY_METRICS_PORT = port('LAB_NODE_PROXY_METRICS_PORT', 10249)
// CoreDNS on the node IP; not port 53, which the Dagger engine's dnsmasq holds on every address (0.0.0.0:53):
// the kube-dns Service maps 53 to it
export const DNS_PORT = port('LAB_NODE_DNS_PORT', 1053)
export const DNS_HEALTH_PORT = port('LAB_NODE_DNS_HEALTH_PORT', 10262)
export const DNS_READY_PORT = port('LAB_NODE_DNS_READY_PORT', 10263)
export const FORWARD_CHAIN = `GMI-LAB-NODE${INSTANCE}`
export const INPUT_CHAIN = `GMI-LAB-NODE${INSTANCE}-INPUT`

export const DIR = path.join(STATE, MAIN ? 'node' : `node-${INSTANCE}`)
export const d = (/** @type {string[]} */ ...p) => path.join(DIR, ...p)
export const PKI = d('pki')
/** The node's containerd (CRI) socket: `ctr -a <it> -n k8s.io ...` shows what the kubelet runs. */
export const CONTAINERD_SOCKET = d('containerd', 'containerd.sock')
export const SOCKET = CONTAINERD_SOCKET
export const CONTAINERD_ROOT = d('containerd', 'root')
export const CONTAINERD_STATE = d('containerd', 'state')
export const KUBELET_ROOT = d('kubelet')
export const POD_LOGS = d('pod-logs')
export const CNI_CONF = d('cni', 'net.d')
export const CNI_DATA = d('cni', 'networks')
export const CNI_BIN = '/usr/lib/cni' // Debian's containernetworking-plugins
export const RUNC = '/usr/sbin/runc' // Debian's runc
export const KUBECONFIGS = d('kubeconfigs')
/** The kubeconfig the node's kubelet uses (shown by `make lab-status`). */
export const KUBELET_KUBECONFIG = path.join(KUBECONFIGS, 'kubelet.kubeconfig')

export const APT = ['containerd', 'runc', 'containernetworking-plugins', 'iptables', 'iproute2', 'conntrack', 'openssl', 'socat']
export const ROLES = MAIN ? ['node-containerd', 'kubelet', 'kube-proxy', 'coredns', 'node-api-relay'] : ['node-containerd', 'kubelet']
/** This node's daemons (the pid and log names). */
export const DAEMONS = ROLES.map(daemonName)
/** Where pods reach the API server: the `kubernetes` Service's endpoint, relayed to the API server's loopback address. */
export const API_RELAY_PORT = port('LAB_NODE_API_RELAY_PORT', 6443)
