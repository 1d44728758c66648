// Figures for the guarded deploy on the lab's REAL node (pods pull, start and probe): the dev overlay with the
// lab-real-node component, the three service images from the pipeline's own build and publish, deployed by the
// deployer identity into a throw-away namespace. Run by `node bench/node.mjs --deploy` (or `npx tsx bench/node-deploy.ts`
// with the lab env loaded). Prints: publish (cached or not), first deploy to every pod Ready, a one-service update,
// a rollback to the previous release, and two failing releases (an API that exits 3 at start, an API digest the
// registry lacks) from apply to "rolled back and Ready again".
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import { connection, dag } from '@dagger.io/dagger'
import { stringify } from 'yaml'
import { labVar } from '../lab/env.js'
import { labPinned, labPipeline, repoSource } from '../lab/pipeline.js'
import { roleBinding } from '../lab/components/deployer.mjs'
import { ensurePullSecret } from '../lab/components/node.mjs'
import { Kube, type KubeObject } from '../ci/src/adapters/kubernetes.js'
import { environment, type Environment } from '../ci/src/config/environments.js'
import { parseManifests, type K8sObject } from '../ci/src/plan/manifests.js'
import { rollbackTarget } from '../ci/src/plan/releases.js'
import { deployRelease, type ReleaseRequest } from '../ci/src/steps/deploy.js'
import { readManifest, readReleases } from '../ci/src/steps/history.js'
import { authFor, publish } from '../ci/src/steps/publish.js'
import { renderRelease, requiredSecrets } from '../ci/src/steps/release.js'
import { SERVICES } from '../ci/src/config/services.js'
import { ServiceName } from '../ci/src/config/services.js'

const run = crypto.randomBytes(3).toString('hex')
const COMMIT = 'ea1e0de0ea1e0de0ea1e0de0ea1e0de0ea1e0de0' // the real-node test's: its images are reused
const secs = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(1))
const figures: Record<string, number | string> = {}
async function timed(name: string, fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now()
  await fn()
  figures[name] = secs(t0)
}

const admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
const deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
const env: Environment = { ...environment('dev'), namespace: `gmi-bench-real-${run}` }
let images: Record<string, string> = {}
let template = ''
let crashing = ''
let required: Awaited<ReturnType<typeof requiredSecrets>>

await connection(async () => {
  const source = repoSource()
  const pipeline = labPipeline(source, COMMIT)
  const user = labVar('LAB_RELEASE_USER')
  const password = dag.setSecret('lab-release-password', fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim())
  await timed('build + publish the three images (engine cache: warm when the test ran before) s', async () => {
    images = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s.image, await pipeline.publish(s.name, user, password)] as const)))
  })
  const api = images['graphmemory/api']
  const crashRef = `${api.slice(0, api.indexOf('@'))}-crash`
  crashing = await publish(pipeline.build(ServiceName.api).withEntrypoint(['python3', '-c', 'import sys; sys.exit(3)']), crashRef, authFor(crashRef, user, password))
  await timed('render dev + lab-real-node s', async () => {
    const release = await renderRelease(source, environment('dev'), images, labPinned(), labVar('LAB_IMAGE_KUSTOMIZE'), ['lab-real-node'])
    template = release.manifest
    images = release.images
  })
  required = await requiredSecrets(source, environment('dev'), ['lab-real-node'])
})

const manifest = (edit: (o: K8sObject[]) => K8sObject[] = (o) => o, api = images['graphmemory/api']) =>
  edit(parseManifests(template.replaceAll('graphmemory-dev', env.namespace).replaceAll(images['graphmemory/api'], api))).map((o) => `---\n${stringify(o)}`).join('')
const request = (text: string, extra: Partial<ReleaseRequest> = {}): ReleaseRequest =>
  ({ env, required: { ...required, namespace: env.namespace }, manifest: text, images, commit: COMMIT, origin: 'bench', timeoutSeconds: 600, ...extra })
/** The dashboard's pod template annotated: a real rolling update of one service, same image. */
const touched = (objects: K8sObject[]) => objects.map((o) => {
  if (o.kind !== 'Deployment' || o.metadata.name !== 'dashboard') return o
  const t = (o.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template
  t.metadata.annotations = { ...t.metadata.annotations, 'graphmemory.dev/bench': run }
  return o
})
const failing = async (name: string, api: string) => {
  const t0 = performance.now()
  const err = await deployRelease(deployer, request(manifest(undefined, api), { images: { ...images, 'graphmemory/api': api } })).then(() => undefined, (e: Error) => e)
  if (!err || !/rolled back to release/.test(err.message)) throw new Error(`${name}: expected a rolled-back failure, got ${err?.message ?? 'success'}`)
  figures[`${name}: apply → failure seen → rolled back, Ready again s`] = secs(t0)
  figures[`${name}: condition`] = err.message.match(/(CrashLoopBackOff|ErrImagePull|ImagePullBackOff)[^\n]*/)?.[0].slice(0, 90) ?? '?'
  messages.push(`${name}:\n${err.message}`)
}
const messages: string[] = []

try {
  await admin.ensureNamespace(env.namespace)
  await admin.apply(roleBinding(env.namespace) as KubeObject)
  await ensurePullSecret(env.namespace)
  const secrets = {
    'graphmemory-postgres': { password: crypto.randomBytes(12).toString('hex') }, 'graphmemory-redis': { password: crypto.randomBytes(12).toString('hex') },
    'graphmemory-api': { 'bootstrap-api-key': crypto.randomBytes(12).toString('hex') }, 'graphmemory-tls': { 'tls.crt': 'x', 'tls.key': 'x' },
    'graphmemory-backup-s3': { 'access-key-id': crypto.randomBytes(8).toString('hex'), 'secret-access-key': crypto.randomBytes(12).toString('hex') },
  }
  const t0 = performance.now()
  const log = (line: string) => { if (line.startsWith('ready: ')) figures[`  first deploy: ${line.replace(/ \(.*/, '')} at s`] = secs(t0) }
  await timed('first deploy: every workload pulled, started, Ready on the real node (claims bound on its volumes) s', () => deployRelease(deployer, request(manifest(), { secrets, log })))
  await timed('no-change deploy s', () => deployRelease(deployer, request(manifest())))
  await timed('one-service update (dashboard rolled) to Ready s', () => deployRelease(deployer, request(manifest(touched))))
  await timed('rollback to the previous release, Ready s', async () => {
    const target = rollbackTarget(await readReleases(deployer, env.namespace), 'dev')
    await deployRelease(deployer, request(await readManifest(deployer, env.namespace, target.revision), { origin: `rollback to ${target.revision}` }))
  })
  await failing('API exits 3 at start', crashing)
  await failing('API digest not in the registry', `${images['graphmemory/api'].split('@')[0]}@sha256:${crypto.createHash('sha256').update(run).digest('hex')}`)
} finally {
  await admin.delete({ apiVersion: 'v1', kind: 'Namespace', name: env.namespace })
}

console.log(`deploy on the real node (${labVar('LAB_NODE_NAME')}), load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`)
const width = Math.max(...Object.keys(figures).map((k) => k.length))
for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(width)}  ${v}`)
for (const m of messages) console.log(`\n${m}`)
