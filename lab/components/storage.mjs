// Real volumes on the lab's real node: local-path-provisioner v0.0.30 (github.com/rancher/local-path-provisioner, built
// from the Go module proxy in lab/go/local-path-provisioner) runs as a pod on the node and binds claims of the
// StorageClass `lab-local-path` to folders under state/storage/volumes. A claim waits for its first pod
// (WaitForFirstConsumer), so its folder is made on the node that pod was scheduled to: the real node (a claim whose
// pod lands on a kwok node fails to provision, naming the node). The folders are `local` volumes: the kubelet gives
// them the pod's fsGroup, so the non-root Postgres, Redis and API write them; the helper pod that makes and removes a
// folder (mode 0700, root) is the provisioner's own image, already on the node. The cluster's default class
// (`standard`, host-path, for the kwok nodes) is left as it is: the lab-real-node kustomize component names this one.
// Also: `prepareNamespace()` moves an environment first deployed to the kwok nodes onto the real node's volumes.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as k8s from '@kubernetes/client-node'
import { STATE } from '../lib/paths.mjs'
import { LabError, upFigures, madeNote } from '../lib/step.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { readObject, deleteObject, messageOf, readRollout, waitRolledOut } from '../lib/kube.mjs'
import { pollUntil } from '../lib/proc.mjs'
import { MIRROR } from './registries.mjs'
import { DEBIAN_IMAGE } from './base-images.mjs'
import * as kubernetes from './kubernetes.mjs'
import * as node from './node.mjs'
import { ensureBinaryImage, pinnedRef } from '../lib/images.mjs'

export const name = 'storage'

export const VERSION = 'v0.0.30' // github.com/rancher/local-path-provisioner in lab/go/local-path-provisioner/go.mod
/** The StorageClass the lab-real-node kustomize component gives every claim of the application. */
export const STORAGE_CLASS = 'lab-local-path'
export const PROVISIONER = 'graphmemory.dev/lab-local-path'
export const NAMESPACE = 'graphmemory-storage'
export const DEPLOYMENT = 'local-path-provisioner'
const SERVICE_ACCOUNT = 'local-path-provisioner'
const CONFIGMAP = 'local-path-config'
/** Where the volumes' folders are, on the host (the real node's filesystem is the host's). */
export const VOLUMES = path.join(STATE, 'storage', 'volumes')
export const IMAGE = `${MIRROR}/gmi-lab/local-path-provisioner:${VERSION}`
/**
 * The kustomize components the lab's deploys render by default (ci/cli/defaults.ts reads LAB_DEPLOY_COMPONENTS): the
 * pods on the real node with their volumes here, and the backups to the lab's object store (object-store.mjs).
 */
export const DEPLOY_COMPONENTS = 'lab-real-node,lab-backup'
/** The lab's environments: `prepareNamespace()` acts only on these. */
export const ENV_NAMESPACES = ['graphmemory-dev', 'graphmemory-staging', 'graphmemory-prod']

/** @param {{ metadata?: { name?: string } }} o */
const nameOf = (o) => o.metadata?.name ?? ''

const LABELS = { 'app.kubernetes.io/name': 'local-path-provisioner', 'app.kubernetes.io/managed-by': 'graphmemory-lab' }

// ---------------------------------------------------------------------------------------------------------------
// Build: the binary from the wrapper module, then an image of it on the lab's Debian base (which also has the `sh`,
// `mkdir` and `rm` the helper pod runs)

/** Builds (or finds cached) the provisioner at the lowest CPU priority; returns { dir, built }. */
export function build() {
  return goBuild({
    module: 'local-path-provisioner', version: VERSION, nice: true,
    targets: [{ pkg: 'github.com/rancher/local-path-provisioner', out: 'local-path-provisioner', ldflags: `-X main.VERSION=${VERSION}` }],
  })
}

/** The image's Dockerfile on `base`, labelled with the build's `stamp`. @param {string} base @param {string} stamp */
const dockerfile = (base, stamp) => `FROM ${base}
COPY local-path-provisioner /usr/local/bin/local-path-provisioner
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="local-path-provisioner" org.opencontainers.image.version="${VERSION}"
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/local-path-provisioner"]
`

/**
 * Builds, checks and pushes the image unless the mirror holds this build of it; true when it pushed.
 * @param {string} binDir
 */
const ensureImage = (binDir) =>
  ensureBinaryImage({ image: IMAGE, binDir, dockerfile: (stamp) => dockerfile(DEBIAN_IMAGE, stamp), versionArgs: ['--version'], version: VERSION })

// ---------------------------------------------------------------------------------------------------------------
// Cluster objects, applied as the lab admin

const onRealNode = {
  nodeSelector: { [node.NODE_LABEL.key]: node.NODE_LABEL.value },
  tolerations: [{ key: node.NODE_TAINT.key, operator: 'Equal', value: node.NODE_TAINT.value, effect: node.NODE_TAINT.effect }],
}

/**
 * The provisioner's configuration: volumes only on the real node, under VOLUMES; the helper pod's scripts and spec.
 * @param {string} image
 */
function configMap(image) {
  const config = { nodePathMap: [{ node: node.NODE_NAME, paths: [VOLUMES] }], cmdTimeoutSeconds: 120 }
  // the helper pod gets nodeName, a toleration of every taint, the folder's parent as a hostPath and the scripts from
  // the provisioner; this is the rest: root (it makes root-owned folders), the image already on the node, small
  const helperPod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'helper-pod', labels: { 'app.kubernetes.io/name': 'local-path-helper' } },
    spec: {
      automountServiceAccountToken: false, enableServiceLinks: false, terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'helper-pod', image, imagePullPolicy: 'IfNotPresent',
        securityContext: { runAsUser: 0, runAsGroup: 0, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'] } },
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
      }],
    },
  }
  return {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CONFIGMAP, namespace: NAMESPACE, labels: LABELS },
    data: {
      'config.json': JSON.stringify(config, null, 2),
      // 0700 root: only the kubelet's fsGroup change (on the pod's first mount) opens it to the pod's group
      setup: '#!/bin/sh\nset -eu\nmkdir -m 0700 -p "$VOL_DIR"\n',
      teardown: '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
      'helperPod.yaml': JSON.stringify(helperPod, null, 2),
    },
  }
}

/**
 * Every object the component applies, the provisioner's image pinned by digest.
 * @param {string} image
 */
export function objects(image) {
  const rules = [
    { apiGroups: [''], resources: ['nodes', 'persistentvolumeclaims', 'configmaps', 'pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: ['storage.k8s.io'], resources: ['storageclasses'], verbs: ['get', 'list', 'watch'] },
  ]
  const subject = [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: NAMESPACE }]
  return [
    {
      // privileged: the helper pods mount the volumes' parent folder (hostPath); only the lab admin creates pods here
      apiVersion: 'v1', kind: 'Namespace',
      metadata: { name: NAMESPACE, labels: { ...LABELS, 'pod-security.kubernetes.io/enforce': 'privileged' } },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SERVICE_ACCOUNT, namespace: NAMESPACE, labels: LABELS } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'local-path-provisioner', namespace: NAMESPACE, labels: LABELS },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'local-path-provisioner', namespace: NAMESPACE, labels: LABELS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'local-path-provisioner' }, subjects: subject,
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'graphmemory-lab:local-path-provisioner', labels: LABELS }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'graphmemory-lab:local-path-provisioner', labels: LABELS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'graphmemory-lab:local-path-provisioner' }, subjects: subject,
    },
    configMap(image),
    {
      apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass',
      // `local` volumes (not hostPath): the kubelet applies the pod's fsGroup to them
      metadata: { name: STORAGE_CLASS, labels: LABELS, annotations: { defaultVolumeType: 'local' } },
      provisioner: PROVISIONER, reclaimPolicy: 'Delete', volumeBindingMode: 'WaitForFirstConsumer',
    },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: DEPLOYMENT, namespace: NAMESPACE, labels: LABELS },
      spec: {
        replicas: 1, strategy: { type: 'Recreate' }, selector: { matchLabels: { 'app.kubernetes.io/name': 'local-path-provisioner' } },
        template: {
          metadata: { labels: LABELS },
          spec: {
            ...onRealNode, serviceAccountName: SERVICE_ACCOUNT, enableServiceLinks: false, terminationGracePeriodSeconds: 5,
            securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'provisioner', image, imagePullPolicy: 'IfNotPresent',
              args: ['start', '--config', '/etc/config/config.json', '--provisioner-name', PROVISIONER, '--namespace', NAMESPACE,
                '--helper-image', image, '--configmap-name', CONFIGMAP, '--service-account-name', SERVICE_ACCOUNT],
              env: [{ name: 'CONFIG_MOUNT_PATH', value: '/etc/config/' }],
              volumeMounts: [{ name: 'config', mountPath: '/etc/config/' }],
              resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            }],
            volumes: [{ name: 'config', configMap: { name: CONFIGMAP } }],
          },
        },
      },
    },
  ]
}

const client = kubernetes.adminClient

/** The provisioner's rollout: { ready, why }. */
const rollout = () => readRollout(client(), NAMESPACE, DEPLOYMENT)

/** Waits until the provisioner is rolled out; fails with its state and its pods' waiting reasons. */
export const waitReady = (timeoutMs = 120000) => waitRolledOut(client(), NAMESPACE, 'the local-path provisioner', rollout, timeoutMs)

// ---------------------------------------------------------------------------------------------------------------
// The component contract

export async function up() {
  const t0 = performance.now()
  await node.requireReady('the storage component')
  const bin = await build()
  const pushed = await ensureImage(bin.dir)
  const tBuilt = performance.now()
  fs.mkdirSync(VOLUMES, { recursive: true, mode: 0o700 })
  const image = await pinnedRef(IMAGE)
  for (const o of objects(image)) await kubernetes.apply(o)
  const { why } = await waitReady()
  return {
    note: `StorageClass ${STORAGE_CLASS} → ${VOLUMES}; provisioner ${why}${madeNote([bin.built && 'built local-path-provisioner', pushed && 'image pushed'], t0, tBuilt)}`,
    built: bin.built, ...upFigures(t0, tBuilt),
  }
}

/** Nothing to stop: the provisioner is a pod (the node's `down()` stops it), the cluster's `down()` wipes the objects. The volumes' folders stay. */
export async function down() {
  return { note: `volumes kept in ${VOLUMES}` }
}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const r = await rollout().catch((err) => ({ ready: false, why: messageOf(err) }))
  const sc = await readObject(client(), { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: STORAGE_CLASS } }).catch(() => undefined)
  return [{
    name, state: r.ready && sc ? 'ok' : r.ready || sc ? 'down' : 'missing', version: `local-path-provisioner ${VERSION}`,
    address: `StorageClass ${STORAGE_CLASS}${sc ? '' : ' (missing)'} → ${VOLUMES}: ${r.why}`,
  }]
}

export function env() {
  return { LAB_STORAGE_CLASS: STORAGE_CLASS, LAB_STORAGE_VOLUMES: VOLUMES, LAB_DEPLOY_COMPONENTS: DEPLOY_COMPONENTS }
}

// ---------------------------------------------------------------------------------------------------------------
// An environment first deployed to the kwok nodes, moved to the real node's volumes

/**
 * Makes a lab environment's namespace ready for a deploy with the lab-real-node component: claims of another class
 * cannot take this one (a claim's class cannot change, nor a StatefulSet's claim templates), so the claims of another
 * class, and the StatefulSets whose templates name none or another, are deleted, and this waits until they are gone.
 * Only in the lab's three environments (and the tests' `gmi-t-*` namespaces), and only claims that never held data: those of the kwok nodes' class
 * (`standard`, whose pods never ran) bound to no pod on the real node. Anything else is refused, naming it.
 * Returns the lines to print (empty when there was nothing to do).
 * @param {string} namespace
 * @param {{ kube?: import('../lib/kube.mjs').KubeClient, timeoutMs?: number }} [options]
 * @returns {Promise<string[]>}
 */
export async function prepareNamespace(namespace, { kube = client(), timeoutMs = 120000 } = {}) {
  if (!ENV_NAMESPACES.includes(namespace) && !namespace.startsWith('gmi-t-')) {
    throw new LabError(`will not move ${namespace} to the real node's volumes`, `only the lab's environments (${ENV_NAMESPACES.join(', ')}) are moved`, 'deploy into a new namespace instead')
  }
  const apps = kube.kc.makeApiClient(k8s.AppsV1Api)
  const claims = (await kube.core.listNamespacedPersistentVolumeClaim({ namespace })).items
  const stale = claims.filter((c) => c.spec?.storageClassName !== STORAGE_CLASS)
  const sets = (await apps.listNamespacedStatefulSet({ namespace })).items
    .filter((s) => (s.spec?.volumeClaimTemplates ?? []).some((t) => t.spec?.storageClassName !== STORAGE_CLASS))
  if (!stale.length && !sets.length) return []
  const pods = (await kube.core.listNamespacedPod({ namespace })).items
  for (const c of stale) {
    const users = pods.filter((p) => (p.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === nameOf(c)))
    const real = users.filter((p) => p.spec?.nodeName === node.NODE_NAME)
    if (c.spec?.storageClassName !== 'standard' || real.length) {
      throw new LabError(`${namespace}: claim ${nameOf(c)} (class ${c.spec?.storageClassName}) cannot move to ${STORAGE_CLASS}`,
        real.length ? `pod ${nameOf(real[0])} on the real node uses it: it may hold data` : 'it is not one of the kwok nodes\' claims',
        `move its data yourself, delete it, then deploy again (or deploy into a new namespace)`)
    }
  }
  for (const s of sets) await apps.deleteNamespacedStatefulSet({ name: nameOf(s), namespace, propagationPolicy: 'Foreground' })
  for (const c of stale) await deleteObject(kube, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: nameOf(c), namespace } })
  // the claims go once no pod uses them (pvc-protection); the StatefulSets once their pods are gone (Foreground)
  const uids = new Set([...stale, ...sets].map((o) => o.metadata?.uid))
  const left = async () => [
    ...(await kube.core.listNamespacedPersistentVolumeClaim({ namespace })).items.filter((c) => uids.has(c.metadata?.uid)).map((c) => `claim ${nameOf(c)}`),
    ...(await apps.listNamespacedStatefulSet({ namespace })).items.filter((s) => uids.has(s.metadata?.uid)).map((s) => `StatefulSet ${nameOf(s)}`),
  ]
  await pollUntil(left, {
    timeoutMs, everyMs: 500, done: (l) => l.length === 0,
    onTimeout: (l) => new LabError(`${namespace}: ${Array.isArray(l) ? l.join(', ') : messageOf(l)} still there after ${timeoutMs / 1000}s`, 'deleted, not yet gone', 'look at their finalizers and pods, then deploy again'),
  })
  return [`${namespace}: moved to the real node's volumes (class ${STORAGE_CLASS}): deleted ` +
    [...sets.map((s) => `StatefulSet ${nameOf(s)}`), ...stale.map((c) => `claim ${nameOf(c)}`)].join(', ') +
    ' (made for the kwok nodes, where no container ran: no data)']
}

// `node lab/components/storage.mjs prepare --components <list> <namespace>`: what `make deploy` and `make promote` run
// before the pipeline; it acts only when the deploy renders the lab-real-node component
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2)
  const at = args.indexOf('--components')
  const components = at >= 0 ? args.splice(at, 2)[1] ?? '' : DEPLOY_COMPONENTS
  const [cmd, namespace] = args
  if (cmd !== 'prepare' || !namespace) {
    process.stderr.write('usage: node lab/components/storage.mjs prepare [--components <list>] <namespace>\n')
    process.exit(2)
  }
  if (components.split(',').map((c) => c.trim()).includes('lab-real-node')) {
    prepareNamespace(namespace).then((lines) => { for (const l of lines) process.stdout.write(`${l}\n`) }, (err) => {
      process.stderr.write(`${err instanceof Error ? err.message : err}\n`)
      process.exit(1)
    })
  }
}
