// The node's configuration files: containerd (a second instance beside Docker's, with the registries' hosts.toml), CNI,
// kubelet, kube-proxy and CoreDNS.
import fs from 'node:fs'
import path from 'node:path'
import { MIRROR, RELEASE } from '../registries.mjs'
import { CA_FILE } from '../kubernetes.mjs'
import { BRIDGE, CLUSTER_DNS, CNI_BIN, CNI_CONF, CNI_DATA, CONTAINERD_ROOT, CONTAINERD_STATE, DNS_HEALTH_PORT, DNS_PORT, DNS_READY_PORT, KUBELET_HEALTHZ_PORT, KUBELET_PORT, KUBELET_ROOT, NODE_IP, NODE_NAME, NODE_TAINT, PAUSE_IMAGE, POD_LOGS, POD_SUBNET, PROXY_HEALTHZ_PORT, PROXY_METRICS_PORT, RUNC, SOCKET, d } from './layout.mjs'

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

/** @typedef {import('./pki.mjs').Identities} Identities */

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
export function writeConfigs(ids) {
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
