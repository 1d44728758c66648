// Figures for the guarded deploy on the lab cluster, side by side with the plain-tools baseline (kubectl apply of
// the same rendered manifest + kubectl rollout status) in the same run: first deploy to ready, no-change deploy,
// one-service update, rollback to ready, and promote (the pipeline's function, render included).
//   make bench-deploy            (npx tsx bench/deploy.ts with the lab env loaded)
// Each side gets a namespace of its own (made by the lab admin, the deployer bound in it; removed at the end).
// kwok marks pods Ready at once, so these figures are the tools' own overhead, not image pulls or app start.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { $ } from 'zx'
import { connection, dag } from '@dagger.io/dagger'
import { stringify } from 'yaml'
import { labVar } from '../lab/env.js'
import { REPO, labPipeline, repoSource } from '../lab/pipeline.js'
import { roleBinding } from '../lab/components/deployer.mjs'
import { Kube, type KubeObject } from '../ci/src/adapters/kubernetes.js'
import { environment, type Environment } from '../ci/src/config/environments.js'
import { parseManifests, parseRequiredSecrets } from '../ci/src/plan/manifests.js'
import { rollbackTarget } from '../ci/src/plan/releases.js'
import { deployRelease, type ReleaseRequest } from '../ci/src/steps/deploy.js'
import { readManifest, readReleases } from '../ci/src/steps/history.js'
import { render } from '../ci/src/steps/render.js'
import { EnvironmentName } from '../ci/src/config/environments.js'

const run = crypto.randomBytes(3).toString('hex')
const ref = (s: string, v: string) => `127.0.0.1:5001/graphmemory/${s}@sha256:${crypto.createHash('sha256').update(s + v + run).digest('hex')}`
const imagesAt = (v: string, apiVersion = v) => ({
  'graphmemory/postgres': ref('postgres', '1'), 'graphmemory/redis': ref('redis', '1'),
  'graphmemory/api': ref('api', apiVersion), 'graphmemory/analytics': ref('analytics', v), 'graphmemory/dashboard': ref('dashboard', v),
})
const secs = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(1))
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return secs(t0)
}

const admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
const deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
const namespaces = [`gmi-bench-pipeline-${run}`, `gmi-bench-kubectl-${run}`]
for (const ns of namespaces) {
  await admin.ensureNamespace(ns)
  await admin.apply(roleBinding(ns) as KubeObject)
}
const [pipelineNs, kubectlNs] = namespaces

// the dev overlay rendered twice: every image at v1, and the API at v2
let v1 = ''
let v2 = ''
await connection(async () => {
  const k8s = dag.host().directory(path.join(REPO, 'k8s'))
  ;[v1, v2] = await Promise.all([imagesAt('1'), imagesAt('1', '2')].map((images) => render(k8s, 'dev', images, labVar('LAB_IMAGE_KUSTOMIZE')).contents()))
})
const into = (manifest: string, ns: string) => manifest.replaceAll('graphmemory-dev', ns)

const env: Environment = { ...environment('dev'), namespace: pipelineNs }
const required = { ...parseRequiredSecrets(fs.readFileSync(path.join(REPO, 'k8s/overlays/dev/required-secrets.yaml'), 'utf8')), namespace: pipelineNs }
const values = Object.fromEntries(Object.entries(required.secrets).map(([name, s]) => [name, Object.fromEntries(s.keys.map((k) => [k, crypto.randomBytes(12).toString('hex')]))]))
const request = (manifest: string, extra: Partial<ReleaseRequest> = {}): ReleaseRequest =>
  ({ env, required, manifest: into(manifest, pipelineNs), images: imagesAt('1'), commit: run, origin: 'deploy', timeoutSeconds: 120, ...extra })

const pipeline: Record<string, number> = {}
pipeline['first deploy to ready'] = await timed(() => deployRelease(deployer, request(v1, { secrets: values })))
pipeline['no-change deploy'] = await timed(() => deployRelease(deployer, request(v1)))
pipeline['one-service update to ready'] = await timed(() => deployRelease(deployer, request(v2)))
pipeline['rollback to ready'] = await timed(async () => {
  const target = rollbackTarget(await readReleases(deployer, pipelineNs), 'dev')
  await deployRelease(deployer, request(await readManifest(deployer, pipelineNs, target.revision), { origin: `rollback to ${target.revision}` }))
})

// the baseline: the same rendered manifests (plus the same Secrets) through kubectl, as the deployer
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-bench-deploy-'))
const file = (name: string, text: string) => { const f = path.join(dir, name); fs.writeFileSync(f, text, { mode: 0o600 }); return f }
const secretYaml = Object.entries(values).map(([name, keys]) => `---\n${stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: kubectlNs }, type: required.secrets[name].type, stringData: keys })}`).join('')
const files = { v1: file('v1.yaml', into(v1, kubectlNs) + secretYaml), v2: file('v2.yaml', into(v2, kubectlNs) + secretYaml) }
const kubectl = ['kubectl', '--kubeconfig', labVar('KUBECONFIG_DEPLOYER')]
const workloads = parseManifests(v1).filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind)).map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}`)
const rolloutStatus = () => Promise.all(workloads.map((w) => $`${kubectl} -n ${kubectlNs} rollout status ${w} --timeout=120s`.quiet()))
const apply = (f: string) => $`${kubectl} apply --server-side --force-conflicts --field-manager=bench-baseline -f ${f}`.quiet()
const baseline: Record<string, number> = {}
const haveKubectl = (await $`kubectl version --client`.nothrow().quiet()).exitCode === 0
if (haveKubectl) {
  baseline['first deploy to ready'] = await timed(async () => { await apply(files.v1); await rolloutStatus() })
  baseline['no-change deploy'] = await timed(async () => { await apply(files.v1); await rolloutStatus() })
  baseline['one-service update to ready'] = await timed(async () => { await apply(files.v2); await rolloutStatus() })
  baseline['rollback to ready'] = await timed(async () => { await $`${kubectl} -n ${kubectlNs} rollout undo deployment/api`.quiet(); await rolloutStatus() })
}

// promote through the module's function: dev's running release rendered for staging and deployed there
const promote = await timed(() => connection(async () => {
  await labPipeline(repoSource()).promote(EnvironmentName.dev, EnvironmentName.staging, dag.secret(`file://${labVar('KUBECONFIG_DEPLOYER')}`), undefined,
    dag.secret(`file://${labVar('LAB_DEPLOY_SECRETS')}/staging.yaml`), 120, undefined,
    labVar('LAB_RELEASE_USER'), dag.secret(`file://${labVar('LAB_RELEASE_PASSWORD_FILE')}`)) // to read the signatures it verifies
}))

await Promise.all(namespaces.map((name) => admin.delete({ apiVersion: 'v1', kind: 'Namespace', name })))
fs.rmSync(dir, { recursive: true, force: true })

const rows = Object.keys(pipeline).map((k) => `${k.padEnd(30)} ${String(pipeline[k]).padStart(8)} s ${haveKubectl ? `${String(baseline[k]).padStart(8)} s` : '   (no kubectl)'}`)
console.log(`${'deploy (kwok nodes, dev overlay)'.padEnd(30)} ${'pipeline'.padStart(10)} ${'kubectl'.padStart(10)}`)
console.log(rows.join('\n'))
console.log(`${'promote dev → staging'.padEnd(30)} ${String(promote).padStart(8)} s   (module function: render + plan + apply + rollout)`)
console.log(JSON.stringify({ pipeline, baseline, promote }))
