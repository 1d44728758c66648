// Figures for the lab's three environments on the ONE real node at once: dev, staging and prod, each overlay rendered
// with the lab-real-node component (the lab's default), deployed side by side by the deployer identity into three
// throw-away namespaces (the lab's own graphmemory-* environments are not touched). Prints, per environment, the
// time from the start to its release deployed (every pod Ready on the node), the total, how many pods and claims, and
// what the node's pods request. Run by `node bench/node.mjs --envs` (or `npx tsx bench/node-envs.ts` with the lab
// env loaded). The images are the real-node test's (fixed commit): built and published first if missing.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import { connection, dag } from '@dagger.io/dagger'
import { stringify } from 'yaml'
import { labVar } from '../lab/env.js'
import { labPinned, labPipeline, labSigning, repoSource } from '../lab/pipeline.js'
import { roleBinding } from '../lab/components/deployer.mjs'
import { ensurePullSecret } from '../lab/components/node.mjs'
import { Kube, type KubeObject } from '../ci/src/adapters/kubernetes.js'
import { environment } from '../ci/src/config/environments.js'
import { parseManifests } from '../ci/src/plan/manifests.js'
import { deployRelease } from '../ci/src/steps/deploy.js'
import { renderRelease, requiredSecrets } from '../ci/src/steps/release.js'
import { SERVICES } from '../ci/src/config/services.js'

const ENVS = ['dev', 'staging', 'prod'] as const
const run = crypto.randomBytes(3).toString('hex')
const COMMIT = 'ea1e0de0ea1e0de0ea1e0de0ea1e0de0ea1e0de0' // the real-node test's: its images are reused
const secs = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(1))
const figures: Record<string, number | string> = {}

const admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
const deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
const rendered: Record<string, { manifest: string; images: Record<string, string>; required: Awaited<ReturnType<typeof requiredSecrets>> }> = {}

await connection(async () => {
  const source = repoSource()
  const pipeline = labPipeline(source, COMMIT)
  const password = dag.setSecret('lab-release-password', fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim())
  const t0 = performance.now()
  const services = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s.image, await pipeline.publish(s.name, labVar('LAB_RELEASE_USER'), password)] as const)))
  // signed with the lab's key: prod's namespace admits only signed images of ours (policy-controller, k8s/overlays/prod)
  const signing = labSigning()
  for (const ref of Object.values(services)) await pipeline.sign(ref, signing.key, signing.password, labVar('LAB_RELEASE_USER'), password)
  figures['build + publish the three images (cached when the test ran before) s'] = secs(t0)
  for (const name of ENVS) {
    const e = environment(name)
    const r = await renderRelease(source, e, services, labPinned(), labVar('LAB_IMAGE_KUSTOMIZE'), ['lab-real-node'])
    rendered[name] = { manifest: r.manifest, images: r.images, required: await requiredSecrets(source, e, ['lab-real-node']) }
  }
})

/** Values for every required Secret's keys but the pull secret, which the lab writes. */
const secretsFor = (req: Awaited<ReturnType<typeof requiredSecrets>>) => Object.fromEntries(Object.entries(req.secrets)
  .filter(([name]) => name !== 'lab-release-pull')
  .map(([name, s]) => [name, Object.fromEntries(s.keys.map((k) => [k, /url/.test(k) ? `http://127.0.0.1:9/${run}` : crypto.randomBytes(12).toString('hex')]))]))

const namespaces = ENVS.map((name) => `gmi-bench-${name}-${run}`)
try {
  for (const ns of namespaces) {
    await admin.ensureNamespace(ns)
    await admin.apply(roleBinding(ns) as KubeObject)
    await ensurePullSecret(ns)
  }
  const t0 = performance.now()
  await Promise.all(ENVS.map(async (name, i) => {
    const ns = namespaces[i]
    const manifest = parseManifests(rendered[name].manifest.replaceAll(`graphmemory-${name}`, ns)).map((o) => `---\n${stringify(o)}`).join('')
    const req = { ...rendered[name].required, namespace: ns }
    await deployRelease(deployer, {
      env: { ...environment(name), namespace: ns }, manifest, images: rendered[name].images, commit: COMMIT, origin: 'bench',
      required: req, secrets: secretsFor(req), timeoutSeconds: 900,
    })
    figures[`${name}: first deploy, every pod Ready on the node s`] = secs(t0)
  }))
  figures['all three, side by side s'] = secs(t0)
  type Pod = KubeObject & { spec: { nodeName?: string; containers: { resources?: { requests?: { cpu?: string } } }[] } }
  const pods = (await Promise.all(namespaces.map((ns) => admin.list<Pod>('v1', 'Pod', { namespace: ns })))).flat()
  const claims = (await Promise.all(namespaces.map((ns) => admin.list('v1', 'PersistentVolumeClaim', { namespace: ns })))).flat()
  const milli = (v = '0') => (v.endsWith('m') ? Number(v.slice(0, -1)) : Number(v) * 1000)
  figures['pods (all on the real node)'] = `${pods.length} (${pods.filter((p) => p.spec.nodeName === labVar('LAB_NODE_NAME')).length} there)`
  figures['claims bound'] = claims.length
  figures['CPU the three request'] = `${pods.reduce((n, p) => n + p.spec.containers.reduce((m, c) => m + milli(c.resources?.requests?.cpu), 0), 0)}m`
} finally {
  for (const ns of namespaces) await admin.delete({ apiVersion: 'v1', kind: 'Namespace', name: ns })
}

console.log(`dev, staging and prod on the real node (${labVar('LAB_NODE_NAME')}), load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`)
const width = Math.max(...Object.keys(figures).map((k) => k.length))
for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(width)}  ${v}`)
