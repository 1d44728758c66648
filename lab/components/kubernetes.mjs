// A real Kubernetes control plane on 127.0.0.1, without containers: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler built from the Go module proxy, and kwok playing the kubelet of a few fake nodes.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { $ } from 'zx'
import { REPO, STATE, goCache, binDir } from '../lib/paths.mjs'
import { LabError, seconds, upFigures } from '../lib/step.mjs'
import { goBuild, goEnv } from '../lib/gobuild.mjs'
import { ensureApt } from '../lib/apt.mjs'
import { stopDaemon, runningPid, waitFor, ensurePortFree, portFromEnv, runOrExplain, runDaemon } from '../lib/proc.mjs'
import { kubeClient, applyOrExplain, apiReady as readyz, nodeIsReady, waitDefaultServiceAccount } from '../lib/kube.mjs'

export const name = 'kubernetes'

export const KUBE_VERSION = 'v1.36.3' // k8s.io/kubernetes in lab/go/kubernetes/go.mod
export const ETCD_VERSION = 'v3.6.8' // go.etcd.io/etcd/server/v3 in lab/go/kubernetes/go.mod
export const KWOK_VERSION = 'v0.8.0' // sigs.k8s.io/kwok in lab/go/kwok/go.mod

const port = portFromEnv
const API_PORT = port('LAB_KUBE_API_PORT', 6443)
const ETCD_PORT = port('LAB_KUBE_ETCD_PORT', 23790)
const ETCD_PEER_PORT = port('LAB_KUBE_ETCD_PEER_PORT', 23800)
const KCM_PORT = port('LAB_KUBE_CONTROLLER_MANAGER_PORT', 10257)
const SCHED_PORT = port('LAB_KUBE_SCHEDULER_PORT', 10259)
const KWOK_PORT = port('LAB_KUBE_KWOK_PORT', 10247)

const DIR = path.join(STATE, 'kubernetes')
const PKI = path.join(DIR, 'pki')
/** The cluster CA's certificate: what the API server trusts for client certificates, and what signs its own. */
export const CA_FILE = path.join(PKI, 'ca.crt')
const ETCD_DATA = path.join(DIR, 'etcd')
const KUBECONFIG = path.join(DIR, 'kubeconfig')
const API = `https://127.0.0.1:${API_PORT}`

/** The fake nodes kwok keeps Ready: sized like small real machines so scheduling decisions stay realistic. */
export const NODES = ['lab-node-1', 'lab-node-2']
const NODE_SIZE = { cpu: '4', memory: '16Gi', pods: '110', 'ephemeral-storage': '100Gi' }

const [major, minor] = KUBE_VERSION.slice(1).split('.')
/** @param {string} pkg */
const stamp = (pkg) => [
  `-X ${pkg}.gitVersion=${KUBE_VERSION}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`,
  `-X ${pkg}.gitTreeState=clean`,
]
/** The ldflags that stamp the Kubernetes version into its binaries (the node's builds use them too). */
export const kubeLdflags = [...stamp('k8s.io/component-base/version'), ...stamp('k8s.io/client-go/pkg/version')].join(' ')

const kubeTargets = [
  { pkg: 'go.etcd.io/etcd/server/v3', out: 'etcd' },
  ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((cmd) => ({
    pkg: `k8s.io/kubernetes/cmd/${cmd}`, out: cmd, ldflags: kubeLdflags,
  })),
]
const kwokTargets = [
  { pkg: 'sigs.k8s.io/kwok/cmd/kwok', out: 'kwok', ldflags: `-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION.slice(1)}` },
]

/** Builds (or finds cached) the control plane and kwok binaries; returns their folders. */
export async function build() {
  const kube = await goBuild({ module: 'kubernetes', version: KUBE_VERSION, targets: kubeTargets })
  const kwok = await goBuild({ module: 'kwok', version: KWOK_VERSION, targets: kwokTargets })
  return { kube: kube.dir, kwok: kwok.dir, built: kube.built || kwok.built }
}

// ---------------------------------------------------------------------------------------------------------------
// Certificates, keys, tokens and kubeconfigs (made once, kept across down/up; only etcd data is wiped by down)

const pki = (/** @type {string} */ f) => path.join(PKI, f)
const exists = (/** @type {string} */ f) => fs.existsSync(f)

/** Identities of the control plane: the static token file maps each token to a user (and groups). */
const IDENTITIES = [
  { id: 'admin', user: 'lab-admin', groups: ['system:masters'] },
  { id: 'controller-manager', user: 'system:kube-controller-manager', groups: [] },
  { id: 'scheduler', user: 'system:kube-scheduler', groups: [] },
  // kwok plays the kubelet of every fake node: the Node authorizer only knows one node per identity, so it is an admin
  { id: 'kwok', user: 'lab-kwok', groups: ['system:masters'] },
]

/** Runs openssl to make `what`; a failure says so. @param {string[]} args @param {string} what */
async function openssl(args, what) {
  await runOrExplain(['openssl', ...args], { what: `openssl could not make ${what}`, tail: 4, fix: `remove ${PKI} and run \`make lab-up\` again` })
}

/**
 * A key pair and a certificate signed by the cluster CA, at `${prefix}.key` / `${prefix}.crt`: made once, made again
 * when the CA or what was asked for changes (`${prefix}.spec` records both). `usage`: clientAuth or serverAuth;
 * `sans`: subjectAltName entries (`IP:...`, `DNS:...`). Client certificates authenticate to the API server as
 * user = CN, groups = O (its --client-ca-file is this CA). `ca`: another signer ({ crt, key }), e.g. the front proxy's.
 * @param {string} prefix
 * @param {{ cn: string, orgs?: string[], usage?: 'clientAuth' | 'serverAuth', sans?: string[], days?: number, ca?: { crt: string, key: string } }} request
 * @returns {Promise<{ crt: string, key: string }>}
 */
export async function issueCert(prefix, { cn, orgs = [], usage = 'clientAuth', sans = [], days = 825, ca: signer = { crt: CA_FILE, key: pki('ca.key') } }) {
  const ca = fs.readFileSync(signer.crt)
  const spec = JSON.stringify({ cn, orgs, usage, sans, ca: crypto.createHash('sha256').update(ca).digest('hex') })
  const [crt, key, specFile] = ['crt', 'key', 'spec'].map((e) => `${prefix}.${e}`)
  if (exists(crt) && exists(key) && exists(specFile) && fs.readFileSync(specFile, 'utf8') === spec) return { crt, key }
  fs.mkdirSync(path.dirname(prefix), { recursive: true, mode: 0o700 })
  const subject = `${orgs.map((o) => `/O=${o}`).join('')}/CN=${cn}`
  const ext = `${prefix}.ext`
  fs.writeFileSync(ext, [
    'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', `extendedKeyUsage=${usage}`,
    ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []), '',
  ].join('\n'))
  await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', key, '-out', `${prefix}.csr`], `the key of ${cn}`)
  await openssl(['x509', '-req', '-in', `${prefix}.csr`, '-CA', signer.crt, '-CAkey', signer.key, '-CAcreateserial',
    '-days', String(days), '-sha256', '-extfile', ext, '-out', crt], `the certificate of ${cn}`)
  fs.chmodSync(key, 0o600)
  fs.writeFileSync(specFile, spec)
  return { crt, key }
}

/** CA, apiserver serving certificate (SAN 127.0.0.1, localhost), service-account key pair, static tokens. */
async function ensurePki() {
  fs.mkdirSync(PKI, { recursive: true, mode: 0o700 })
  if (!exists(pki('ca.crt'))) {
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-sha256',
      '-subj', '/CN=graphmemory-lab-kubernetes-ca', '-keyout', pki('ca.key'), '-out', pki('ca.crt'),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'],
    'the cluster CA')
    for (const f of ['apiserver.crt', 'apiserver.key']) fs.rmSync(pki(f), { force: true }) // signed by the old CA
  }
  if (!exists(pki('apiserver.crt'))) {
    const ext = pki('apiserver.ext')
    fs.writeFileSync(ext, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      // 10.96.0.1: the `kubernetes` Service IP, for clients that reach the API server through it
      'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
      '',
    ].join('\n'))
    await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=kube-apiserver',
      '-keyout', pki('apiserver.key'), '-out', pki('apiserver.csr')], 'the API server key')
    await openssl(['x509', '-req', '-in', pki('apiserver.csr'), '-CA', pki('ca.crt'), '-CAkey', pki('ca.key'),
      '-CAcreateserial', '-days', '825', '-sha256', '-extfile', ext, '-out', pki('apiserver.crt')], 'the API server certificate')
  }
  if (!exists(pki('sa.pub'))) {
    await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', pki('sa.key')],
      'the service-account signing key')
    await openssl(['pkey', '-in', pki('sa.key'), '-pubout', '-out', pki('sa.pub')], 'the service-account public key')
  }
  const tokenFile = pki('tokens.csv')
  if (!exists(tokenFile)) {
    const lines = IDENTITIES.map(({ id, user, groups }) =>
      [crypto.randomBytes(24).toString('hex'), user, `lab-${id}`, ...(groups.length ? [`"${groups.join(',')}"`] : [])].join(','))
    fs.writeFileSync(tokenFile, lines.join('\n') + '\n', { mode: 0o600 })
  }
  // the API server's identity toward kubelets (logs, exec, port-forward on the lab's real node)
  await issueCert(pki('apiserver-kubelet-client'), { cn: 'kube-apiserver-kubelet-client', orgs: ['system:masters'] })
  // API aggregation (metrics.k8s.io, lab/components/metrics-server.mjs): the API server proxies to an extension API
  // server as `front-proxy-client`, naming the user in X-Remote-* headers; the extension trusts those headers only from
  // a certificate of this CA, its own, so that no client certificate of the cluster CA can assert another user
  if (!exists(pki('front-proxy-ca.crt'))) {
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-sha256',
      '-subj', '/CN=graphmemory-lab-front-proxy-ca', '-keyout', pki('front-proxy-ca.key'), '-out', pki('front-proxy-ca.crt'),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'],
    'the front proxy CA')
  }
  await issueCert(pki('front-proxy-client'), { cn: 'front-proxy-client', ca: { crt: pki('front-proxy-ca.crt'), key: pki('front-proxy-ca.key') } })
  for (const f of fs.readdirSync(PKI)) if (/\.(key|csv)$/.test(f)) fs.chmodSync(pki(f), 0o600)
}

/** The token of one identity, from the static token file. @param {string} id */
function tokenOf(id) {
  const user = IDENTITIES.find((i) => i.id === id)?.user
  const line = fs.readFileSync(pki('tokens.csv'), 'utf8').split('\n').find((l) => l.split(',')[1] === user)
  if (!line) throw new LabError(`no token for ${id}`, `${pki('tokens.csv')} has no line for ${user ?? id}`, `remove ${pki('tokens.csv')} and run \`make lab-up\` again`)
  return line.split(',')[0]
}

const kubeconfigPath = (/** @type {string} */ id) => (id === 'admin' ? KUBECONFIG : path.join(DIR, 'kubeconfigs', `${id}.kubeconfig`))

/** A kubeconfig for one identity, with the CA embedded (usable from anywhere the file is copied to). @param {string} id */
function writeKubeconfig(id) {
  const file = kubeconfigPath(id)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'graphmemory-lab', cluster: { server: API, 'certificate-authority-data': fs.readFileSync(pki('ca.crt')).toString('base64') } }],
    users: [{ name: id, user: { token: tokenOf(id) } }],
    contexts: [{ name: 'graphmemory-lab', context: { cluster: 'graphmemory-lab', user: id, namespace: 'default' } }],
    'current-context': 'graphmemory-lab',
  }
  const text = JSON.stringify(config, null, 2) + '\n' // JSON is YAML: kubectl and client libraries read it
  if (!exists(file) || fs.readFileSync(file, 'utf8') !== text) fs.writeFileSync(file, text, { mode: 0o600 })
}

// ---------------------------------------------------------------------------------------------------------------
// Talking to the API server: @kubernetes/client-node as the lab admin (lab/lib/kube.mjs)

/** @type {import('../lib/kube.mjs').KubeClient | undefined} */
let admin
/**
 * The lab admin's clients (lab/lib/kube.mjs kubeClient), made on first use: the admin kubeconfig is written by up()
 * before any call. Every component that acts as the cluster owner uses these.
 */
export const adminClient = () => (admin ??= kubeClient(KUBECONFIG))
const client = adminClient

/**
 * Server-side apply of one object as the lab admin (create or update, idempotent); a refusal fails naming the object
 * and the API server's answer. `subresource` e.g. 'status'.
 * @template {import('@kubernetes/client-node').KubernetesObject} T
 * @param {T} obj
 * @param {string} [subresource]
 */
export const apply = (obj, subresource) => applyOrExplain(adminClient(), obj, subresource)

/**
 * A local HTTPS health endpoint (self-signed serving certificates of the controller-manager, scheduler).
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function healthz(port, urlPath = '/healthz') {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: urlPath, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
  })
}

/**
 * The body of a 200 answer ('ok' when empty), or false.
 * @param {string} url
 * @returns {Promise<string | false>}
 */
function httpOk(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      let data = ''
      res.on('data', (c) => { data += c })
      res.on('end', () => resolve(res.statusCode === 200 ? data || 'ok' : false))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
  })
}

const apiReady = () => readyz(client())

// ---------------------------------------------------------------------------------------------------------------
// Daemons

const DAEMONS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']

/** Stage files from the kwok module in the Go module cache (they ship in its zip; not copied into the repo). */
const KWOK_STAGES = ['node/fast/node-initialize.yaml', 'node/heartbeat/node-heartbeat.yaml',
  'pod/fast/pod-ready.yaml', 'pod/fast/pod-complete.yaml', 'pod/fast/pod-delete.yaml']

async function kwokStages() {
  const root = goCache('mod', 'sigs.k8s.io', `kwok@${KWOK_VERSION}`, 'kustomize', 'stage')
  const files = KWOK_STAGES.map((f) => path.join(root, f))
  if (files.every(exists)) return files
  // binaries cached but the module cache cleaned: fetch the module again (checked against lab/go/kwok/go.sum)
  const r = await $({ cwd: path.join(REPO, 'lab', 'go', 'kwok'), env: goEnv() })`go mod download sigs.k8s.io/kwok`.nothrow().quiet()
  const missing = files.filter((f) => !exists(f))
  if (missing.length) {
    throw new LabError('kwok stage files are missing', `not in the Go module cache: ${missing.join(', ')}${r.exitCode ? `\n${r.stderr.trim()}` : ''}`,
      'check that the Go module proxy answers, then run `make lab-up` again')
  }
  return files
}

/**
 * The control plane's daemons, in start order.
 * @param {{ kube: string, kwok: string }} bin
 * @param {string[]} stages
 * @returns {import('../lib/proc.mjs').DaemonSpec[]}
 */
function daemonSpecs(bin, stages) {
  const kc = kubeconfigPath
  return [
    {
      name: 'etcd', cmd: path.join(bin.kube, 'etcd'), ready: () => httpOk(`http://127.0.0.1:${ETCD_PORT}/health`).then((b) => b && b.includes('"true"')),
      args: [
        '--name=lab', `--data-dir=${ETCD_DATA}`,
        `--listen-client-urls=http://127.0.0.1:${ETCD_PORT}`, `--advertise-client-urls=http://127.0.0.1:${ETCD_PORT}`,
        `--listen-peer-urls=http://127.0.0.1:${ETCD_PEER_PORT}`, `--initial-advertise-peer-urls=http://127.0.0.1:${ETCD_PEER_PORT}`,
        `--initial-cluster=lab=http://127.0.0.1:${ETCD_PEER_PORT}`, '--initial-cluster-state=new',
        '--unsafe-no-fsync', // a throw-away lab cluster: speed over durability
        '--quota-backend-bytes=2147483648', '--log-level=warn',
      ],
    },
    {
      name: 'kube-apiserver', cmd: path.join(bin.kube, 'kube-apiserver'), ready: apiReady, timeoutMs: 120000,
      args: [
        `--etcd-servers=http://127.0.0.1:${ETCD_PORT}`,
        '--bind-address=127.0.0.1', `--secure-port=${API_PORT}`, '--advertise-address=127.0.0.1',
        `--tls-cert-file=${pki('apiserver.crt')}`, `--tls-private-key-file=${pki('apiserver.key')}`,
        `--client-ca-file=${pki('ca.crt')}`,
        `--token-auth-file=${pki('tokens.csv')}`,
        '--authorization-mode=Node,RBAC', '--anonymous-auth=false',
        `--service-account-key-file=${pki('sa.pub')}`, `--service-account-signing-key-file=${pki('sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.96.0.0/16', '--service-node-port-range=30000-32767',
        // the `kubernetes` Service cannot point at a loopback address: no endpoint reconciling in this lab
        '--endpoint-reconciler-type=none',
        '--allow-privileged=true', '--profiling=false', `--cert-dir=${path.join(DIR, 'apiserver')}`,
        // kubelets (the lab's real node) are reached on their InternalIP, their serving certificates checked against
        // the lab CA, and the API server shows them its own client certificate (logs, exec, port-forward)
        `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`, `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
        `--kubelet-certificate-authority=${CA_FILE}`, '--kubelet-preferred-address-types=InternalIP,Hostname',
        // API aggregation: requests for an APIService go to its Service (a ClusterIP, reached through kube-proxy's
        // rules on the host) with the front proxy's client certificate and the caller in these headers
        `--requestheader-client-ca-file=${pki('front-proxy-ca.crt')}`, '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User', '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${pki('front-proxy-client.crt')}`, `--proxy-client-key-file=${pki('front-proxy-client.key')}`,
      ],
    },
    {
      name: 'kube-controller-manager', cmd: path.join(bin.kube, 'kube-controller-manager'), ready: () => healthz(KCM_PORT),
      args: [
        `--kubeconfig=${kc('controller-manager')}`, '--leader-elect=false',
        '--bind-address=127.0.0.1', `--secure-port=${KCM_PORT}`, `--cert-dir=${path.join(DIR, 'controller-manager')}`,
        `--root-ca-file=${pki('ca.crt')}`, `--service-account-private-key-file=${pki('sa.key')}`,
        '--use-service-account-credentials=true',
        `--cluster-signing-cert-file=${pki('ca.crt')}`, `--cluster-signing-key-file=${pki('ca.key')}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--enable-hostpath-provisioner=true', `--flex-volume-plugin-dir=${path.join(DIR, 'flexvolume')}`,
        // kwok's heartbeats come every 20–45s and CPU here is shared: do not evict pods on a late heartbeat
        '--node-monitor-grace-period=120s',
        '--kube-api-qps=100', '--kube-api-burst=200', '--profiling=false',
      ],
    },
    {
      name: 'kube-scheduler', cmd: path.join(bin.kube, 'kube-scheduler'), ready: () => healthz(SCHED_PORT),
      args: [
        `--kubeconfig=${kc('scheduler')}`, '--leader-elect=false',
        '--bind-address=127.0.0.1', `--secure-port=${SCHED_PORT}`, `--cert-dir=${path.join(DIR, 'scheduler')}`,
        '--profiling=false',
      ],
    },
    {
      name: 'kwok', cmd: path.join(bin.kwok, 'kwok'), ready: () => httpOk(`http://127.0.0.1:${KWOK_PORT}/healthz`),
      args: [
        `--kubeconfig=${kc('kwok')}`,
        '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--cidr=10.244.0.1/16', '--node-ip=10.0.0.1',
        `--server-address=127.0.0.1:${KWOK_PORT}`,
        ...stages.map((f) => `--config=${f}`),
      ],
    },
  ]
}

/** @type {[string, number, string][]} */
const PORTS = [
  ['etcd', ETCD_PORT, 'LAB_KUBE_ETCD_PORT'], ['etcd', ETCD_PEER_PORT, 'LAB_KUBE_ETCD_PEER_PORT'],
  ['kube-apiserver', API_PORT, 'LAB_KUBE_API_PORT'], ['kube-controller-manager', KCM_PORT, 'LAB_KUBE_CONTROLLER_MANAGER_PORT'],
  ['kube-scheduler', SCHED_PORT, 'LAB_KUBE_SCHEDULER_PORT'], ['kwok', KWOK_PORT, 'LAB_KUBE_KWOK_PORT'],
]

// ---------------------------------------------------------------------------------------------------------------
// Cluster objects the lab provides: fake nodes, a default StorageClass, an IngressClass

async function ensureObjects() {
  for (const node of NODES) {
    await apply({
      apiVersion: 'v1', kind: 'Node',
      metadata: {
        name: node,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          type: 'kwok', 'kubernetes.io/hostname': node, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64',
          'node-role.kubernetes.io/agent': '', 'topology.kubernetes.io/zone': 'lab',
        },
      },
    })
    // capacity is status: kwok keeps what is there (node-initialize), so it is set through the status subresource
    await apply({
      apiVersion: 'v1', kind: 'Node', metadata: { name: node },
      status: { capacity: NODE_SIZE, allocatable: NODE_SIZE },
    }, 'status')
  }
  await apply({
    apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass',
    metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: 'kubernetes.io/host-path', reclaimPolicy: 'Delete', volumeBindingMode: 'Immediate',
  })
  await apply({
    apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass',
    metadata: { name: 'nginx', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
    spec: { controller: 'k8s.io/ingress-nginx' },
  })
}

/** How many of the lab's fake nodes are Ready (real nodes, e.g. the node component's, report themselves). */
async function nodesReady() {
  const { items } = await client().core.listNode()
  const ready = items.filter((n) => NODES.includes(n.metadata?.name ?? '') && nodeIsReady(n))
  return { ready: ready.length, total: NODES.length }
}

// ---------------------------------------------------------------------------------------------------------------
// The component contract

export async function up() {
  const t0 = performance.now()
  const bin = await build()
  const tBuilt = performance.now()
  await ensureApt(['openssl'])
  for (const [daemon, p, envVar] of PORTS) await ensurePortFree(daemon, p, envVar)
  await ensurePki()
  for (const { id } of IDENTITIES) writeKubeconfig(id)

  let started = 0
  const restarted = []
  for (const spec of daemonSpecs(bin, await kwokStages())) {
    // a daemon running with other arguments than this lab gives it (an older lab) is restarted with the new ones:
    // same addresses, CA and kubeconfigs, so clients only see a few seconds without an answer
    fs.mkdirSync(DIR, { recursive: true })
    const done = await runDaemon(spec, { cwd: DIR })
    if (done.stopped) restarted.push(spec.name)
    if (done.started) started++
  }
  await ensureObjects()
  await waitFor('kwok', async () => {
    const n = await nodesReady()
    return n.ready >= NODES.length
  }, 90000)
  // new namespaces need their `default` ServiceAccount before pods can be created: wait for the controller
  await waitDefaultServiceAccount(client().core, 'default')

  const note = started
    ? `${KUBE_VERSION} on ${API} (${bin.built ? `built in ${seconds(t0, tBuilt)}s, ` : ''}started ${started} processes${restarted.length ? ` (restarted with new arguments: ${restarted.join(', ')})` : ''}, ready in ${seconds(tBuilt, performance.now())}s), ${NODES.length} fake nodes`
    : `${KUBE_VERSION} already running on ${API}`
  return { note, built: bin.built, ...upFigures(t0, tBuilt) }
}

export async function down() {
  let stopped = 0
  for (const d of [...DAEMONS].reverse()) if (await stopDaemon(d)) stopped++
  // the next up() starts a clean cluster: no objects survive in etcd, no provisioned volumes on disk
  fs.rmSync(ETCD_DATA, { recursive: true, force: true })
  fs.rmSync('/tmp/hostpath_pv', { recursive: true, force: true })
  return { note: stopped ? `stopped ${stopped} processes, etcd data wiped` : 'was not running' }
}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const running = Object.fromEntries(DAEMONS.map((d) => [d, Boolean(runningPid(d))]))
  if (!running['kube-apiserver']) {
    const built = exists(path.join(binDir('kubernetes', KUBE_VERSION), 'kube-apiserver'))
    return [{ name: 'kubernetes', state: built ? 'down' : 'missing', version: KUBE_VERSION, address: API }]
  }
  const version = await client().version.getCode().then((v) => v.gitVersion).catch(() => undefined)
  const ready = version ? await apiReady().catch(() => false) : false
  const nodes = ready ? await nodesReady().catch(() => ({ ready: 0, total: NODES.length })) : { ready: 0, total: NODES.length }
  const allRunning = Object.values(running).every(Boolean)
  /** @type {import('./component.js').StatusRow[]} */
  const rows = [{
    name: 'kubernetes', state: ready && allRunning ? 'ok' : 'down', version: version ?? KUBE_VERSION,
    address: allRunning ? API : `${API} (not running: ${DAEMONS.filter((d) => !running[d]).join(', ')})`,
  }, {
    name: 'kubernetes nodes', state: ready && nodes.ready === nodes.total ? 'ok' : 'down', version: `kwok ${KWOK_VERSION}`,
    address: `${nodes.ready}/${nodes.total} nodes ready`,
  }]
  return rows
}

export function env() {
  return { KUBECONFIG_LAB: KUBECONFIG, LAB_KUBE_API: API, LAB_KUBE_VERSION: KUBE_VERSION }
}
