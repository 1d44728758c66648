// The node's daemons as the component starts them: containerd, kubelet, kube-proxy, CoreDNS and the API relay.
import path from 'node:path'
import http from 'node:http'
import { $ } from 'zx'
import { portOpen } from '../../lib/proc.mjs'
import * as kubernetes from '../kubernetes.mjs'
import { API_RELAY_PORT, DNS_HEALTH_PORT, DNS_PORT, DNS_READY_PORT, KUBELET_HEALTHZ_PORT, KUBELET_ROOT, NODE_IP, NODE_LABEL, NODE_NAME, PROXY_HEALTHZ_PORT, PROXY_METRICS_PORT, ROLES, SOCKET, d, daemonName } from './layout.mjs'

/** True when `url` answers 200. @param {string} url @returns {Promise<boolean>} */
export const httpOk = (url) => new Promise((resolve) => {
  const req = http.get(url, { timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode === 200) })
  req.on('timeout', () => req.destroy())
  req.on('error', () => resolve(false))
})
/** `ctr` against the node's containerd. @param {string[]} args */
export const ctr = (args) => $`ctr -a ${SOCKET} ${args}`.nothrow().quiet()

/** @typedef {{ kube: string, dns: string }} NodeBinaries */
/** @typedef {import('./pki.mjs').Identities} Identities */

/**
 * The daemons this node runs, in start order: `role` is what it is, `name` its pid and log name.
 * @param {NodeBinaries} bin
 * @param {Identities} ids
 * @returns {(import('../../lib/proc.mjs').DaemonSpec & { role: string })[]}
 */
export function daemonSpecs(bin, ids) {
  return allDaemonSpecs(bin, ids).filter((spec) => ROLES.includes(spec.name)).map((spec) => ({ ...spec, role: spec.name, name: daemonName(spec.name) }))
}

/**
 * @param {NodeBinaries} bin
 * @param {Identities} ids
 * @returns {import('../../lib/proc.mjs').DaemonSpec[]}
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
export const PORTS = /** @type {[string, number, string][]} */ ([
  ['kubelet', KUBELET_HEALTHZ_PORT, 'LAB_NODE_KUBELET_HEALTHZ_PORT'], ['kube-proxy', PROXY_HEALTHZ_PORT, 'LAB_NODE_PROXY_HEALTHZ_PORT'],
  ['kube-proxy', PROXY_METRICS_PORT, 'LAB_NODE_PROXY_METRICS_PORT'], ['coredns', DNS_HEALTH_PORT, 'LAB_NODE_DNS_HEALTH_PORT'],
  ['coredns', DNS_READY_PORT, 'LAB_NODE_DNS_READY_PORT'], ['coredns', DNS_PORT, 'LAB_NODE_DNS_PORT'],
]).filter(([role]) => ROLES.includes(role)).map(([role, p, envVar]) => [daemonName(role), p, envVar])
