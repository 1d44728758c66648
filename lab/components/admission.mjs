// Admission in the lab's cluster: sigstore's policy-controller v0.13.1, built from its Go module, applied as the
// cluster owner through the lab variant k8s/cluster/lab/policy-controller (upstream's own manifests, copied from the
// module, plus the lab's patches and the policies). In a namespace labelled policy.sigstore.dev/include=true it admits
// our services' images only when signed by the pipeline's key (the lab signing key), the pinned third-party images by
// name, and refuses anything else. Other namespaces never reach the webhook. docs/lab-kubernetes.md, "Admission".
import fs from 'node:fs'
import path from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { CACHE } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { goBuild, downloadModule, writableCopy } from '../lib/gobuild.mjs'
import { ensureHostPortsFree, pollUntil } from '../lib/proc.mjs'
import { messageOf, readObject, readRollout, setImages, waitRolledOut } from '../lib/kube.mjs'
import { MIRROR, RELEASE } from './registries.mjs'
import * as baseImages from './base-images.mjs'
import * as kubernetes from './kubernetes.mjs'
import { apply } from './kubernetes.mjs'
import * as monitoring from './monitoring.mjs'
import * as node from './node.mjs'
import * as signing from './signing.mjs'
import { clusterBundle, render } from './kustomize.mjs'
import { buildAndPush, buildStamp, pinnedRef } from '../lib/images.mjs'

export const name = 'admission'

export const VERSION = 'v0.13.1'
const MODULE = 'github.com/sigstore/policy-controller'
/** The module's hash as the Go checksum database records it (GOSUMDB is off in the lab: checked here instead). */
const MODULE_SUM = 'h1:Woy+6bQ7pT/0m3/PSO2RtDxSHKBZ/8iHpCZFcZJThM8='

/** The cluster owner's bundle (online), and the lab's variant of it. */
export const { BUNDLE, LAB_BUNDLE } = clusterBundle('policy-controller')
export const NAMESPACE = 'cosign-system'
export const DEPLOYMENT = 'webhook'
/** The label a namespace opts in with: only such namespaces are checked (and fail closed). */
export const OPT_IN_LABEL = { key: 'policy.sigstore.dev/include', value: 'true' }
/** The ClusterImagePolicies. */
export const POLICIES = { services: 'graphmemory-services', thirdParty: 'graphmemory-pinned-third-party' }
/** The Secret in cosign-system holding the pipeline's public key (the services policy's key). */
export const KEY_SECRET = 'graphmemory-pipeline-key'
/** Host ports the webhook listens on (host networking): HTTPS, profiling, metrics (the bundle's patches name them). */
export const PORTS = [8443, 10274, 10275]

const IMAGE = { repo: 'gmi-lab/policy-controller', tag: VERSION }
const image = () => `${MIRROR}/${IMAGE.repo}:${IMAGE.tag}`
/** The image upstream's manifests name (ko resolves it at release time): the lab runs its own build instead. */
const UPSTREAM_IMAGE = /^ko:\/\/github\.com\/sigstore\/policy-controller\/cmd\/webhook$/
const SOURCE = path.join(CACHE, 'src', `policy-controller-${VERSION}`)
/** Upstream's manifests (its `config/` folder), from the module source the lab builds from. */
export const UPSTREAM_CONFIG = path.join(SOURCE, 'config')
const STAGE = path.join(CACHE, 'policy-controller', 'bundle')
const UID = 65532

const TARGETS = [{
  pkg: './cmd/webhook', out: 'policy-controller-webhook',
  ldflags: `-X sigs.k8s.io/release-utils/version.gitVersion=${VERSION} -X sigs.k8s.io/release-utils/version.gitTreeState=clean`,
}]

const client = kubernetes.adminClient

/**
 * A writable copy of the module's source (its replace directives refuse `go install`; `go build` runs in the copy),
 * downloaded through the module proxy and checked against the pinned hash. Made once, kept in the lab cache.
 */
export async function moduleCopy() {
  if (fs.existsSync(path.join(SOURCE, 'go.mod'))) return SOURCE
  return writableCopy(await downloadModule({ path: MODULE, version: VERSION, sum: MODULE_SUM }), SOURCE)
}

/** Builds (or reuses) the webhook binary, at the lowest CPU priority. */
export async function build() {
  return goBuild({ module: 'policy-controller', version: VERSION, targets: TARGETS, moduleDir: await moduleCopy(), nice: true })
}

/** The webhook image's Dockerfile on `base`, labelled with the build's `stamp`. @param {string} base @param {string} stamp */
const dockerfile = (base, stamp) => `FROM ${base}
COPY policy-controller-webhook /usr/local/bin/policy-controller-webhook
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="policy-controller" org.opencontainers.image.version="${VERSION}"
USER ${UID}:${UID}
ENTRYPOINT ["/usr/local/bin/policy-controller-webhook"]
`

/**
 * Builds and pushes the webhook's image unless the mirror holds this build of it; true when it pushed.
 * @param {string} dir the build's binary folder
 */
const ensureImage = (dir) =>
  buildAndPush({ image: image(), context: dir, stamp: buildStamp(dir), dockerfile: (stamp) => dockerfile(baseImages.DEBIAN_IMAGE, stamp) })

/** The lab variant with upstream's manifests beside it, in a scratch folder of the cache (nothing upstream in git). */
function stage() {
  fs.rmSync(STAGE, { recursive: true, force: true })
  fs.cpSync(LAB_BUNDLE, STAGE, { recursive: true })
  fs.cpSync(UPSTREAM_CONFIG, path.join(STAGE, 'upstream'), { recursive: true })
  return STAGE
}

/** `repo:tag[@digest]` → the two globs naming that repository by tag or by digest. @param {string} reference */
export function repositoryGlobs(reference) {
  const repo = reference.split('@')[0].replace(/:[^:/]+$/, '')
  return [`${repo}:*`, `${repo}@*`]
}

/** The third-party images the environments pin (ci/src/config/images.ts), as the lab names them. */
export function pinnedThirdParty() {
  /** @type {Record<string, string>} */
  const e = { ...baseImages.env(), ...monitoring.env() }
  return ['LAB_IMAGE_POSTGRES', 'LAB_IMAGE_REDIS', 'LAB_IMAGE_PROMETHEUS', 'LAB_IMAGE_ALERTMANAGER', 'LAB_IMAGE_GRAFANA',
    'LAB_IMAGE_POSTGRES_EXPORTER', 'LAB_IMAGE_REDIS_EXPORTER'].map((k) => e[k])
}

/**
 * Sets what only the lab knows on the rendered objects: the webhook's image, and the policies' registries.
 * @param {import('../lib/kube.mjs').BundleObject[]} objects
 * @param {string} webhookImage
 */
function labValues(objects, webhookImage) {
  for (const o of setImages(objects, UPSTREAM_IMAGE, webhookImage)) {
    if (o.kind !== 'ClusterImagePolicy') continue
    if (o.metadata?.name === POLICIES.services) o.spec = { ...o.spec, images: [{ glob: `${RELEASE}/graphmemory/*` }] }
    if (o.metadata?.name === POLICIES.thirdParty) o.spec = { ...o.spec, images: pinnedThirdParty().flatMap(repositoryGlobs).map((glob) => ({ glob })) }
  }
  return objects
}

/** The lab variant's objects, ready to apply. */
export async function labObjects() {
  await moduleCopy()
  return labValues(await render(stage()), await pinnedRef(image()))
}

/** The pipeline's public key (the lab signing key's) as the Secret the services policy reads. */
const keySecret = () => ({
  apiVersion: 'v1', kind: 'Secret', metadata: { name: KEY_SECRET, namespace: NAMESPACE },
  type: 'Opaque',
  data: { 'cosign.pub': fs.readFileSync(signing.PUBLIC_KEY_FILE).toString('base64') },
})

/** Fails clearly when a host port the webhook needs is held by another process (it runs with host networking). */
const ensurePortsFree = () => ensureHostPortsFree(PORTS, { program: 'policy-controll', who: 'policy-controller\'s webhook' })

/** The webhook Deployment's rollout: { ready, why }. */
const rollout = () => readRollout(client(), NAMESPACE, DEPLOYMENT)

/** The policies' Ready conditions: { ready, why }. */
async function policiesReady() {
  const states = await Promise.all(Object.values(POLICIES).map(async (n) => {
    /** @type {(k8s.KubernetesObject & { status?: { conditions?: { type: string, status: string, message?: string }[] } }) | undefined} */
    const cip = await readObject(client(), { apiVersion: 'policy.sigstore.dev/v1beta1', kind: 'ClusterImagePolicy', metadata: { name: n } })
    const ready = cip?.status?.conditions?.find((c) => c.type === 'Ready')
    return { n, ok: ready?.status === 'True', why: cip ? (ready?.message || ready?.status || 'no status yet') : 'missing' }
  }))
  return { ready: states.every((s) => s.ok), why: states.map((s) => `${s.n} ${s.ok ? 'ready' : s.why}`).join(', ') }
}

/**
 * Applies the policies once the webhook answers (it validates them), and waits until it has loaded them.
 * @param {import('../lib/kube.mjs').BundleObject[]} policies
 */
async function applyPolicies(policies, timeoutMs = 90000) {
  const until = Date.now() + timeoutMs
  const fix = `see \`kubectl -n ${NAMESPACE} logs deploy/${DEPLOYMENT}\` with KUBECONFIG_LAB, then run \`make lab-up\``
  for (const p of policies) {
    // the webhook's certificate and the CRDs' conversion settle a moment after its pod is ready
    await pollUntil(() => apply(p).then(() => true), {
      timeoutMs: until - Date.now(), everyMs: 2000,
      onTimeout: (err) => (err instanceof Error ? err : new LabError(`applying the policy ${p.metadata?.name} failed`, String(err), fix)),
    })
  }
  return pollUntil(policiesReady, {
    timeoutMs: until - Date.now(), everyMs: 1000, done: (s) => s.ready,
    onTimeout: (s) => new LabError('the admission policies are not ready', s instanceof Error ? messageOf(s) : /** @type {{ why: string }} */ (s).why, fix),
  })
}

/**
 * Waits until the CRDs are served (the policies are applied right after).
 * @param {string[]} names
 */
async function waitCrds(names, timeoutMs = 30000) {
  const api = client().kc.makeApiClient(k8s.ApiextensionsV1Api)
  const until = Date.now() + timeoutMs
  for (const n of names) {
    await pollUntil(() => api.readCustomResourceDefinition({ name: n }), {
      timeoutMs: until - Date.now(), everyMs: 500,
      done: (crd) => Boolean(crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')),
      describe: (crd) => JSON.stringify(crd.status?.conditions ?? []),
      onTimeout: (_, seen) => new LabError(`the CRD ${n} is not established`, seen, 'run `make lab-up` again'),
    })
  }
}

export async function up() {
  const bin = await build()
  const pushed = await ensureImage(bin.dir)
  const objects = await labObjects()
  const policies = objects.filter((o) => o.kind === 'ClusterImagePolicy')
  const running = await rollout().catch(() => ({ ready: false }))
  if (!running.ready) await ensurePortsFree()
  const rest = objects.filter((o) => o.kind !== 'ClusterImagePolicy')
  for (const o of rest.filter((x) => x.kind === 'Namespace')) await apply(o)
  await node.ensurePullSecret(NAMESPACE) // the webhook's read login to the release registry
  await apply(keySecret())
  for (const o of rest.filter((x) => x.kind !== 'Namespace')) await apply(o)
  await waitCrds(objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata?.name ?? ''))
  const { why } = await waitRolledOut(client(), NAMESPACE, 'the admission webhook', rollout, 180000)
  const p = await applyPolicies(policies)
  const built = [bin.built && 'built webhook', pushed && 'pushed image'].filter(Boolean)
  return { note: `${NAMESPACE}: ${why}; ${p.why}${built.length ? ` (${built.join(', ')})` : ''}` }
}

/** Nothing to stop: the cluster's own `down()` wipes its objects. */
export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const r = await rollout().catch((err) => ({ ready: false, why: messageOf(err) }))
  const p = r.ready ? await policiesReady().catch((err) => ({ ready: false, why: messageOf(err) })) : { ready: false, why: 'webhook not ready' }
  return [{ name, state: r.ready && p.ready ? 'ok' : 'missing', version: VERSION, address: `${NAMESPACE}: ${r.why}; ${p.why}` }]
}

export function env() {
  return { LAB_IMAGE_POLICY_CONTROLLER: image(), LAB_ADMISSION_LABEL: `${OPT_IN_LABEL.key}=${OPT_IN_LABEL.value}` }
}
