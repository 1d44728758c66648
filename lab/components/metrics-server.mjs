// metrics-server in the lab's cluster: v0.8.0 built from its Go module (lab/go/metrics-server), an image of it on the
// lab's Debian base in the mirror, applied as the cluster owner through the lab variant k8s/cluster/lab/metrics-server
// (on the real node, scraping the real node's kubelet only). The API server serves metrics.k8s.io from it through the
// aggregation layer (its --requestheader-*/--proxy-client-* flags, lab/components/kubernetes.mjs): the HPAs and
// `kubectl top` read it. Its serving certificate is issued by the lab CA (the APIService checks it with caBundle), and
// it checks the kubelet's serving certificate (issued by the same CA, lab/components/node.mjs) with the service
// account's ca.crt: no --kubelet-insecure-tls. docs/lab.md, "metrics-server".
import fs from 'node:fs'
import path from 'node:path'
import { STATE } from '../lib/paths.mjs'
import { LabError, upFigures, madeNote } from '../lib/step.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { pollUntil } from '../lib/proc.mjs'
import { messageOf, readObject, readRollout, setImages, waitRolledOut } from '../lib/kube.mjs'
import { MIRROR } from './registries.mjs'
import { DEBIAN_IMAGE } from './base-images.mjs'
import * as kubernetes from './kubernetes.mjs'
import { apply } from './kubernetes.mjs'
import * as node from './node.mjs'
import { clusterBundle, render } from './kustomize.mjs'
import { ensureBinaryImage, pinnedRef } from '../lib/images.mjs'

export const name = 'metrics-server'

export const VERSION = 'v0.8.0' // sigs.k8s.io/metrics-server in lab/go/metrics-server/go.mod
/** The cluster owner's bundle, and the lab's variant of it. */
export const { BUNDLE, LAB_BUNDLE } = clusterBundle('metrics-server')
export const NAMESPACE = 'kube-system'
export const DEPLOYMENT = 'metrics-server'
export const API_SERVICE = 'v1beta1.metrics.k8s.io'
const SERVING_SECRET = 'metrics-server-serving'
export const IMAGE = `${MIRROR}/gmi-lab/metrics-server:${VERSION}`
/** The image the bundle names; the lab runs its own build of the same release instead. */
const OFFICIAL_IMAGE = /^registry\.k8s\.io\/metrics-server\/metrics-server:/
const PKI = path.join(STATE, 'metrics-server', 'pki')
/** metrics-server's version is client-go's version variables (upstream's Makefile stamps them the same way). */
const VERSION_PKG = 'k8s.io/client-go/pkg/version'

const client = kubernetes.adminClient

/** Builds (or finds cached) metrics-server at the lowest CPU priority; returns { dir, built }. */
export function build() {
  return goBuild({
    module: 'metrics-server', version: VERSION, nice: true,
    targets: [{ pkg: 'sigs.k8s.io/metrics-server/cmd/metrics-server', out: 'metrics-server', ldflags: `-X ${VERSION_PKG}.gitVersion=${VERSION} -X ${VERSION_PKG}.gitTreeState=clean` }],
  })
}

/** The image's Dockerfile on `base`, labelled with the build's `stamp`. @param {string} base @param {string} stamp */
const dockerfile = (base, stamp) => `FROM ${base}
COPY metrics-server /metrics-server
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="metrics-server" org.opencontainers.image.version="${VERSION}"
USER 65534:65534
ENTRYPOINT ["/metrics-server"]
`

/**
 * Builds, checks and pushes the image unless the mirror holds this build of it; true when it pushed.
 * @param {string} binDir
 */
async function ensureImage(binDir) {
  return ensureBinaryImage({ image: IMAGE, binDir, dockerfile: (stamp) => dockerfile(DEBIAN_IMAGE, stamp), versionArgs: ['--version'], version: VERSION })
}

/** The serving certificate (lab CA) as a kubernetes.io/tls Secret; its name is what the lab variant mounts. */
async function servingSecret() {
  const dns = `${DEPLOYMENT}.${NAMESPACE}.svc`
  const cert = await kubernetes.issueCert(path.join(PKI, 'serving'), { cn: dns, usage: 'serverAuth', sans: [`DNS:${dns}`, `DNS:${dns}.cluster.local`] })
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
    metadata: { name: SERVING_SECRET, namespace: NAMESPACE, labels: { 'app.kubernetes.io/part-of': 'graphmemory-metrics-server', 'app.kubernetes.io/managed-by': 'graphmemory-lab' } },
    data: { 'tls.crt': fs.readFileSync(cert.crt).toString('base64'), 'tls.key': fs.readFileSync(cert.key).toString('base64') },
  }
}

/** The lab variant's objects: the lab's image pinned by digest, the APIService checking the serving cert with the lab CA. */
export async function labObjects() {
  const image = await pinnedRef(IMAGE)
  const objects = setImages(await render(LAB_BUNDLE), OFFICIAL_IMAGE, image)
  for (const o of objects) if (o.kind === 'APIService') o.spec = { ...o.spec, caBundle: fs.readFileSync(kubernetes.CA_FILE).toString('base64') }
  return objects
}

/** The Deployment's rollout: { ready, why }. */
const rollout = () => readRollout(client(), NAMESPACE, DEPLOYMENT)

/** The APIService's Available condition: { ok, why }. */
export async function apiServiceAvailable() {
  /** @type {(import('@kubernetes/client-node').KubernetesObject & { status?: { conditions?: { type: string, status: string, reason?: string, message?: string }[] } }) | undefined} */
  const svc = await readObject(client(), { apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: API_SERVICE } })
  const c = svc?.status?.conditions?.find((x) => x.type === 'Available')
  return { ok: c?.status === 'True', why: svc ? `${API_SERVICE} ${c ? `${c.status === 'True' ? 'available' : `not available: ${c.reason} ${c.message ?? ''}`.trim()}` : 'not checked yet'}` : `${API_SERVICE} missing` }
}

/** Waits until the aggregation layer answers for metrics.k8s.io (the API server reached metrics-server). */
const waitAvailable = (timeoutMs = 120000) => pollUntil(apiServiceAvailable, {
  timeoutMs, everyMs: 2000, done: (a) => a.ok, describe: (a) => a.why,
  onTimeout: (_, seen) => new LabError('metrics.k8s.io is not available', seen,
    'see the metrics-server pod\'s log (kubectl -n kube-system logs deploy/metrics-server) and the kube-apiserver log, then run `make lab-up`'),
})

export const waitReady = (timeoutMs = 120000) => waitRolledOut(client(), NAMESPACE, 'metrics-server', rollout, timeoutMs)

export async function up() {
  const t0 = performance.now()
  await node.requireReady('metrics-server')
  const bin = await build()
  const pushed = await ensureImage(bin.dir)
  const tBuilt = performance.now()
  await apply(await servingSecret())
  for (const o of await labObjects()) await apply(o)
  const { why } = await waitReady()
  const api = await waitAvailable()
  return {
    note: `${NAMESPACE}/${DEPLOYMENT}: ${why}; ${api.why}${madeNote([bin.built && 'built metrics-server', pushed && 'image pushed'], t0, tBuilt)}`,
    built: bin.built, ...upFigures(t0, tBuilt),
  }
}

/** Nothing to stop: the pod goes with the node's `down()`, the objects with the cluster's. */
export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const r = await rollout().catch((err) => ({ ready: false, why: messageOf(err) }))
  const a = await apiServiceAvailable().catch((err) => ({ ok: false, why: messageOf(err) }))
  return [{ name, state: r.ready && a.ok ? 'ok' : r.ready || a.ok ? 'down' : 'missing', version: VERSION, address: `${NAMESPACE}/${DEPLOYMENT}: ${r.why}; ${a.why}` }]
}
