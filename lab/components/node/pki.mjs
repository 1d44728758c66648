// The node's identities: client certificates signed by the cluster CA (no API server restart needed), the kubelet's
// serving certificate (the API server checks it against the same CA), a kubeconfig for each client.
import fs from 'node:fs'
import path from 'node:path'
import * as kubernetes from '../kubernetes.mjs'
import { CA_FILE, issueCert } from '../kubernetes.mjs'
import { KUBECONFIGS, KUBELET_KUBECONFIG, NODE_IP, NODE_NAME, PKI } from './layout.mjs'

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

/** @typedef {Awaited<ReturnType<typeof ensureIdentities>>} Identities */

/** The node's certificates and kubeconfigs, issued or kept. */
export async function ensureIdentities() {
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
