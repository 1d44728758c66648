// The node's host network: the pod bridge (its address is the node IP, so kubelet and CoreDNS can bind to it before
// the first pod) and the chains that let pod traffic through Docker's DROP policy; and what down() clears of the host
// (stray sandbox network namespaces, mounts).
import fs from 'node:fs'
import path from 'node:path'
import { $ } from 'zx'
import { ensureChain, removeChain } from '../../lib/iptables.mjs'
import { BRIDGE, FORWARD_CHAIN, INPUT_CHAIN, MAIN, NODE_IP, POD_SUBNET } from './layout.mjs'

export async function ensureNetwork() {
  if ((await $`ip link show ${BRIDGE}`.nothrow().quiet()).exitCode !== 0) {
    await $`ip link add ${BRIDGE} type bridge`.quiet()
  }
  const addrs = (await $`ip -4 -o addr show dev ${BRIDGE}`.quiet()).stdout
  if (!addrs.includes(` ${NODE_IP}/`)) await $`ip addr add ${NODE_IP}/${POD_SUBNET.split('/')[1]} dev ${BRIDGE}`.quiet()
  await $`ip link set ${BRIDGE} up`.quiet()
  // FORWARD: what pods send (to each other, to Services), and the answers to it; nothing from outside to a pod
  await ensureChain(FORWARD_CHAIN, 'FORWARD', [], 'graphmemory lab node', [
    ['-i', BRIDGE, '-j', 'ACCEPT'],
    ['-o', BRIDGE, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ])
  // INPUT: the node address (kubelet, CoreDNS, the API relay, NodePorts) answers the host and its pods only
  await ensureChain(INPUT_CHAIN, 'INPUT', ['-d', NODE_IP], 'graphmemory lab node', [
    ['-i', 'lo', '-j', 'RETURN'],
    ['-i', BRIDGE, '-j', 'RETURN'],
    ['-j', 'DROP'],
  ])
}

/** The chains the kubelet itself makes (kube-proxy --cleanup leaves them), per table, for IPv4 and IPv6. */
const KUBELET_CHAINS = { filter: ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY'], nat: ['KUBE-KUBELET-CANARY'], mangle: ['KUBE-IPTABLES-HINT', 'KUBE-KUBELET-CANARY'] }

export async function removeNetwork() {
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

/**
 * Pinned network namespaces of this node's sandboxes left behind (e.g. containerd stopped before its sandboxes were
 * removed): CRI's `cni-…` namespaces whose interface has an address in the node's pod subnet. Others are not touched.
 */
export async function strayNetns() {
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
export function mountsUnder(dirs) {
  const points = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => l.split(' ')[4].replace(/\\040/g, ' '))
  return [...new Set(points.filter((p) => dirs.some((dir) => p === dir || p.startsWith(`${dir}/`))))]
    .sort((a, b) => b.length - a.length)
}
