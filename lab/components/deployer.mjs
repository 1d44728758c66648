// The deployer identity: a ServiceAccount bound by RBAC to what a deploy needs, in the application's namespaces only
// (the lab creates them; a deploy never needs to create namespaces here). `make deploy` and the deploy tests use its
// kubeconfig (KUBECONFIG_DEPLOYER), not the lab admin's.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { parse, stringify } from 'yaml'
import { REPO, SECRETS, STATE } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { environmentTls } from '../lib/ingress-ca.mjs'
import { messageOf } from '../lib/kube.mjs'
import * as kubernetes from './kubernetes.mjs'
import { apply, CA_FILE } from './kubernetes.mjs'
import { BACKUP_SECRET, backupSecretValues } from './object-store.mjs'

export const name = 'deployer'

const ADMIN_KUBECONFIG = path.join(STATE, 'kubernetes', 'kubeconfig')
const KUBECONFIG = path.join(STATE, 'kubernetes', 'kubeconfigs', 'deployer.kubeconfig')
/** Where the identity lives, and its name. */
export const SYSTEM_NAMESPACE = 'graphmemory-system'
export const ACCOUNT = 'deployer'
/** The ClusterRole a RoleBinding grants in each application namespace. */
export const ROLE = 'graphmemory-deployer'
/** The application's namespaces (one per environment). */
export const NAMESPACES = ['graphmemory-dev', 'graphmemory-staging', 'graphmemory-prod']
/** Token lifetime: renewed at every lab-up. */
const TOKEN_SECONDS = 7 * 24 * 3600

const ALL = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']
/** What a deploy reads and writes. Bound per namespace, so `namespaces` means only the namespace itself. */
const RULES = [
  { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'patch'] },
  { apiGroups: [''], resources: ['configmaps', 'secrets', 'services', 'serviceaccounts', 'persistentvolumeclaims', 'resourcequotas', 'limitranges'], verbs: ALL },
  { apiGroups: [''], resources: ['pods', 'events'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ALL },
  { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ALL },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ALL },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'], verbs: ALL },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ALL },
  // the backup component (k8s/components/backup): its CronJob, and the Jobs the backup, backups and restore functions
  // run from its template (their pods' results are read from the pods' status)
  { apiGroups: ['batch'], resources: ['cronjobs', 'jobs'], verbs: ALL },
  // the monitoring component (k8s/components/monitoring): Prometheus's discovery Role and its binding. RBAC lets an
  // identity grant only what it holds, so the deployer also reads endpoints (the Role grants pods, services, endpoints)
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ALL },
  { apiGroups: [''], resources: ['endpoints'], verbs: ['get', 'list', 'watch'] },
  // binding that one Role by name: without `bind`, the API server checks a RoleBinding against the Role's rules, and a
  // dry run (the plan) of a first deploy fails because the Role is not stored yet
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['bind'], resourceNames: ['prometheus-discovery'] },
]

const exists = (/** @type {string} */ f) => fs.existsSync(f)
const objects = kubernetes.adminClient

/**
 * Binds the deployer's role in one namespace (the lab uses it for the deploy tests' own namespaces too).
 * @param {string} namespace
 */
export const roleBinding = (namespace) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding',
  metadata: { name: ROLE, namespace },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ROLE },
  subjects: [{ kind: 'ServiceAccount', name: ACCOUNT, namespace: SYSTEM_NAMESPACE }],
})

/**
 * The deployer's kubeconfig: the admin's cluster and CA, the ServiceAccount's token.
 * @param {string} token
 */
function writeKubeconfig(token) {
  const { kc } = objects()
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new LabError('the lab admin kubeconfig names no cluster', `${ADMIN_KUBECONFIG} has no current cluster`, 'run `make lab-up` (kubernetes writes it)')
  const config = {
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'graphmemory-lab', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData ?? fs.readFileSync(cluster.caFile ?? CA_FILE).toString('base64') } }],
    users: [{ name: `${SYSTEM_NAMESPACE}/${ACCOUNT}`, user: { token } }],
    contexts: [{ name: 'graphmemory-lab-deployer', context: { cluster: 'graphmemory-lab', user: `${SYSTEM_NAMESPACE}/${ACCOUNT}` } }],
    'current-context': 'graphmemory-lab-deployer',
  }
  fs.mkdirSync(path.dirname(KUBECONFIG), { recursive: true })
  fs.writeFileSync(KUBECONFIG, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 })
}

/** Where the lab keeps each environment's Secret values for deploys (YAML, 0600): `--secrets file:<this>/<env>.yaml`. */
export const DEPLOY_SECRETS = path.join(SECRETS, 'deploy')

/**
 * A lab value for one key of a required Secret: a URL key gets an address where nothing listens (the lab reaches no
 * PagerDuty or chat service), any other key a URL-safe random value.
 */
const labValue = (/** @type {string} */ key) => (/url$/i.test(key) ? `http://127.0.0.1:9/lab-${key}` : crypto.randomBytes(24).toString('hex'))

/**
 * The values of an environment's Secrets in the lab, following the committed list (k8s/overlays/<env>/
 * required-secrets.yaml): values already made are kept, a Secret or key the list gained is made, one it lost is
 * dropped (a deploy refuses values the environment does not use).
 * @param {string} env
 */
async function writeDeploySecrets(env) {
  const file = path.join(DEPLOY_SECRETS, `${env}.yaml`)
  /** @type {Record<string, { type?: string, keys: string[] }>} */
  const required = parse(fs.readFileSync(path.join(REPO, 'k8s', 'overlays', env, 'required-secrets.yaml'), 'utf8')).secrets
  /** @type {Record<string, Record<string, string>>} */
  const before = exists(file) ? parse(fs.readFileSync(file, 'utf8')) ?? {} : {}
  fs.mkdirSync(DEPLOY_SECRETS, { recursive: true, mode: 0o700 })
  /** @type {Record<string, Record<string, string>>} */
  const values = {}
  for (const [name, { type, keys }] of Object.entries(required)) {
    // values the lab owns elsewhere: the Ingress certificate is the lab ingress CA's for the overlay's hosts (kept in
    // state, renewed there); the backups' key pair is the lab object store's
    /** @type {Record<string, string>} */
    const fixed = type === 'kubernetes.io/tls' ? await environmentTls(env) : name === BACKUP_SECRET ? backupSecretValues() : {}
    const kept = before[name] ?? {}
    values[name] = Object.fromEntries(keys.map((k) => [k, fixed[k] ?? kept[k] ?? labValue(k)]))
  }
  const text = stringify(values)
  if (!exists(file) || fs.readFileSync(file, 'utf8') !== text) fs.writeFileSync(file, text, { mode: 0o600 })
}

export async function up() {
  if (!exists(ADMIN_KUBECONFIG)) throw new LabError('no lab cluster to make the deployer in', `${ADMIN_KUBECONFIG} is missing`, 'run `make lab-up` (kubernetes comes first)')
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYSTEM_NAMESPACE } })
  await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: ACCOUNT, namespace: SYSTEM_NAMESPACE }, automountServiceAccountToken: false })
  await apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: ROLE }, rules: RULES })
  for (const ns of NAMESPACES) {
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    await apply(roleBinding(ns))
  }
  const token = await objects().core.createNamespacedServiceAccountToken({
    name: ACCOUNT, namespace: SYSTEM_NAMESPACE, body: { spec: { expirationSeconds: TOKEN_SECONDS, audiences: [] } },
  }).catch((err) => { throw new LabError('the deployer token was not issued', messageOf(err).slice(0, 300), 'check the API server log (make lab-status)') })
  const issued = token.status?.token
  if (!issued) throw new LabError('the deployer token was not issued', 'the TokenRequest came back without a token', 'check the API server log (make lab-status)')
  writeKubeconfig(issued)
  for (const ns of NAMESPACES) await writeDeploySecrets(ns.replace('graphmemory-', ''))
  return { note: `ServiceAccount ${SYSTEM_NAMESPACE}/${ACCOUNT} bound in ${NAMESPACES.join(', ')}` }
}

export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  return [{ name, state: exists(KUBECONFIG) ? 'ok' : 'missing', version: `${SYSTEM_NAMESPACE}/${ACCOUNT}`, address: KUBECONFIG }]
}

export function env() {
  return { KUBECONFIG_DEPLOYER: KUBECONFIG, LAB_DEPLOY_SECRETS: DEPLOY_SECRETS }
}
