// A deployed environment for lab tests that need the application really running on the real node: the dev overlay
// with the lab-real-node component, the service images the pipeline publishes (the same fixed commit as
// ci/src/steps/deploy-real-node.test.ts, so the engine's cache and the registry make a second run cheap), deployed by
// the deployer identity into a throw-away namespace `gmi-t-<label>-<run>` (deleted by `remove()`).
import crypto from 'node:crypto'
import { connection } from '@dagger.io/dagger'
import { stringify } from 'yaml'
import { labVar } from '../env.js'
import { labPinned, labPipeline, publishLabImages, repoSource } from '../pipeline.js'
import { roleBinding } from './deployer.mjs'
import { ensurePullSecret } from './node.mjs'
import { BACKUP_SECRET, backupSecretValues } from './object-store.mjs'
import { Kube, type KubeObject } from '../../ci/src/adapters/kubernetes.js'
import { EnvironmentName, environment, type Environment } from '../../ci/src/config/environments.js'
import { parseManifests } from '../../ci/src/plan/manifests.js'
import { deployRelease } from '../../ci/src/steps/deploy.js'
import { renderRelease, requiredSecrets } from '../../ci/src/steps/release.js'

const COMMIT = 'ea1e0de0ea1e0de0ea1e0de0ea1e0de0ea1e0de0'

/**
 * A copy's Ingress hosts made its own (`<namespace>.<host>`): two Ingresses naming one host split its traffic in the
 * lab's ingress (online, ingress-nginx's admission refuses the second), so a test's copy of dev would take half of
 * dev's requests while it runs.
 */
export function ownHosts<T extends { kind?: string; spec?: unknown }>(o: T, namespace: string): T {
  if (o.kind !== 'Ingress') return o
  const spec = o.spec as { rules?: { host?: string }[]; tls?: { hosts?: string[] }[] }
  const own = (h: string) => `${namespace}.${h}`
  return { ...o, spec: { ...spec,
    rules: spec.rules?.map((r) => (r.host ? { ...r, host: own(r.host) } : r)),
    tls: spec.tls?.map((t) => ({ ...t, hosts: t.hosts?.map(own) })) } }
}

export interface AppEnv {
  env: Environment
  admin: Kube
  /** The objects deployed (the rendered manifest, moved into the namespace). */
  objects: KubeObject[]
  /** The Secrets' values given to the deploy. */
  secrets: Record<string, Record<string, string>>
  remove(): Promise<void>
}

/** Values for every required Secret's keys (URLs where a key names one). */
function secretsFor(req: Awaited<ReturnType<typeof requiredSecrets>>): Record<string, Record<string, string>> {
  const out = Object.fromEntries(Object.entries(req.secrets).map(([name, s]) => [name, Object.fromEntries(s.keys.map((k) => [k,
    /url/.test(k) ? `http://127.0.0.1:9/${crypto.randomBytes(6).toString('hex')}` : crypto.randomBytes(12).toString('hex')]))]))
  delete out['lab-release-pull'] // the lab writes it (ensurePullSecret), never the deploy
  out[BACKUP_SECRET] = backupSecretValues() // the backups' key pair: the lab object store's
  return out
}

/**
 * Publishes (cached), renders and deploys dev (or the overlay named: staging and prod bring the monitoring component,
 * Prometheus included; every overlay the backup CronJob) with lab-real-node (or the components given, e.g.
 * lab-real-node and lab-backup, whose backups go to the lab's object store) into a fresh namespace; resolves once it
 * rolled out.
 */
export async function deployApp(label: string, components: string[] = ['lab-real-node'], overlay: EnvironmentName = EnvironmentName.dev): Promise<AppEnv> {
  const admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
  const deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
  const base = environment(overlay)
  let manifest = ''
  let images: Record<string, string> = {}
  let required: Awaited<ReturnType<typeof requiredSecrets>> | undefined
  await connection(async () => {
    const source = repoSource()
    const pipeline = labPipeline(source, COMMIT)
    const services = await publishLabImages(pipeline)
    const release = await renderRelease(source, base, services, labPinned(), labVar('LAB_IMAGE_KUSTOMIZE'), components)
    manifest = release.manifest
    images = release.images
    required = await requiredSecrets(source, base, components)
  })
  const namespace = `gmi-t-${label}-${crypto.randomBytes(3).toString('hex')}`
  const env: Environment = { ...base, namespace }
  const remove = () => admin.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace }).then(() => undefined)
  await admin.ensureNamespace(namespace)
  try {
    await admin.apply(roleBinding(namespace) as KubeObject)
    await ensurePullSecret(namespace)
    const objects = parseManifests(manifest.replaceAll(base.namespace, namespace)).map((o) => ownHosts(o, namespace)) as KubeObject[]
    const secrets = secretsFor(required!)
    await deployRelease(deployer, {
      env, required: { ...required!, namespace }, manifest: objects.map((o) => `---\n${stringify(o)}`).join(''), images,
      commit: COMMIT, origin: 'deploy', timeoutSeconds: 300, secrets,
    })
    return { env, admin, objects, secrets, remove }
  } catch (err) {
    await remove().catch(() => undefined)
    throw err
  }
}

type Pod = KubeObject & { spec: { nodeName?: string }; status?: { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] } }

/** The namespace's Ready pods of one app (label app.kubernetes.io/name), not being deleted. */
export async function readyPods(admin: Kube, namespace: string, app: string): Promise<Pod[]> {
  const pods = await admin.list<Pod>('v1', 'Pod', { namespace, labelSelector: `app.kubernetes.io/name=${app}` })
  return pods.filter((p) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'))
}

/** A Service's address from this machine: its cluster IP and first port, reached through kube-proxy's rules on the host. */
export async function serviceUrl(admin: Kube, namespace: string, name: string): Promise<string> {
  const svc = await admin.get<KubeObject & { spec: { clusterIP: string; ports: { port: number }[] } }>({ apiVersion: 'v1', kind: 'Service', name, namespace })
  if (!svc) throw new Error(`no Service ${name} in ${namespace}`)
  return `http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}`
}

/** The API's address from this machine (serviceUrl of Service api). */
export const apiUrl = (admin: Kube, namespace: string): Promise<string> => serviceUrl(admin, namespace, 'api')
