// A real node beside kwok's fake ones: a kubelet (from the lab's k8s.io/kubernetes wrapper module) on a second
// containerd instance (Debian's, CRI plugin on, its own root, state and socket: not Docker's), Debian's runc and CNI
// plugins, and a pause image built here. Pods on it really pull, start, probe, crash and log. kube-proxy and CoreDNS
// give the cluster Service routing and DNS names. The node is labelled and tainted, so only pods that ask land on it.
// Split by concern in lab/components/node/: layout (names, addresses, folders), build (binaries, pause image), pki,
// network (bridge, chains, host cleanup), configs (containerd, CNI, kubelet, kube-proxy, CoreDNS), daemons, objects.
import fs from 'node:fs'
import path from 'node:path'
import { $ } from 'zx'
import { binDir } from '../lib/paths.mjs'
import { LabError, seconds, upFigures } from '../lib/step.mjs'
import { ensureApt } from '../lib/apt.mjs'
import { stopDaemon, runningPid, waitFor, ensurePortFree, sleep, logFile, runDaemon } from '../lib/proc.mjs'
import { deleteObject, nodeIsReady } from '../lib/kube.mjs'
import * as kubernetes from './kubernetes.mjs'
import { KUBE_VERSION } from './kubernetes.mjs'
import { APT, CLUSTER_DNS, CNI_DATA, CONTAINERD_ROOT, CONTAINERD_STATE, COREDNS_VERSION, DIR, DNS_PORT, DNS_READY_PORT, INSTANCE, KUBELET_KUBECONFIG, KUBELET_ROOT, MAIN, NODE_IP, NODE_LABEL, NODE_NAME, NODE_TAINT, POD_LOGS, PULL_SECRET, ROLES, daemonName } from './node/layout.mjs'
import { build, pauseImage } from './node/build.mjs'
import { ensureIdentities } from './node/pki.mjs'
import { ensureNetwork, mountsUnder, removeNetwork, strayNetns } from './node/network.mjs'
import { writeConfigs } from './node/configs.mjs'
import { PORTS, ctr, daemonSpecs, httpOk } from './node/daemons.mjs'
import { client, deleteLeftoverPods, ensureNodeMarks, ensureObjects, readNode } from './node/objects.mjs'

export const name = 'node'

export { INSTANCE, NODE_NAME, NODE_LABEL, NODE_TAINT, daemonName, PULL_SECRET, PULL_SECRET_NAMESPACES, COREDNS_VERSION, PAUSE_IMAGE, POD_SUBNET, NODE_IP, BRIDGE, FORWARD_CHAIN, INPUT_CHAIN, CONTAINERD_SOCKET, KUBELET_KUBECONFIG, DAEMONS } from './node/layout.mjs'
export { build } from './node/build.mjs'
export { ensurePullSecret } from './node/objects.mjs'

/**
 * Fails with one clear message unless the real node is Ready: `who` (a component that runs on it) needs it.
 * @param {string} who
 */
export async function requireReady(who) {
  if ((await status())[0].state !== 'ok') {
    throw new LabError(`${who} needs the real node`, `${NODE_NAME} is not Ready`, 'run `make lab-up` (the node component comes first)')
  }
}

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
    // a daemon that exits while starting is started again, a few times: the kubelet gives up at once when the CRI
    // plugin is still initialising (`validate CRI v1 runtime API ...: server is not initialized yet`), which a
    // containerd that already answers its own API can still be, on a busy machine
    const { started: now, restarts } = await runDaemon(spec, { restart: changed.has(spec.role), retries: 5, cwd: DIR })
    if (now) started.push(spec.name)
    if (restarts) process.stdout.write(`  ${spec.name} exited while starting and was started again (${restarts}x): see ${logFile(spec.name)}\n`)
    if (spec.role === 'kubelet') {
      await waitFor(spec.name, () => ensureNodeMarks(), 60000)
      if (MAIN) await ensureObjects() // kube-dns and CoreDNS's access before kube-proxy and CoreDNS start
    }
  }
  await waitFor(daemonName('kubelet'), async () => nodeIsReady(await readNode()), 120000)
  const cleared = await deleteLeftoverPods()
  const note = (cleared ? `${cleared} pods a shutdown or an eviction left behind deleted; ` : '') + (started.length
    ? `${NODE_NAME} Ready (${bin.built.length ? `built ${bin.built.join(', ')} in ${seconds(t0, tBuilt)}s, ` : ''}${pushed ? 'pause image pushed, ' : ''}started ${started.join(', ')} in ${seconds(tBuilt, performance.now())}s)`
    : `${NODE_NAME} already Ready`)
  return { note, built: bin.built, ...upFigures(t0, tBuilt) }
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
