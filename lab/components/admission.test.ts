// Admission in the lab's cluster (`make lab-up`): in a namespace of the test's own labelled
// policy.sigstore.dev/include=true, policy-controller refuses an unsigned image of the release registry, an image signed
// by another key, and an image no policy names; it admits an image signed with the lab's key (as `make ci` signs) and a
// pinned third-party image; a namespace without the label is not checked. The test's images are tiny images of its
// own, pushed to the release registry and signed with the lab's cosign on the host; all of it is removed afterwards.
import { execFileSync, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as admission from './admission.mjs'
import * as signing from './signing.mjs'
import { pinned } from './log-collector.mjs'
import { render } from './kustomize.mjs'
import { kubeClient } from '../lib/kube.mjs'
import { deleteTags, registryTags } from '../lib/images.mjs'

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run \`make lab-up\` and load ~/.graphmemory-lab/state/lab.env`)
  return v
}

const id = `${Date.now().toString(36)}${crypto.randomBytes(2).toString('hex')}`
const ns = `lab-admission-test-${id}`
const plainNs = `lab-admission-plain-${id}`
const repo = () => `${env('LAB_RELEASE_REGISTRY')}/graphmemory/admission-test`
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-admission-test-'))
const dockerConfig = path.join(work, 'docker')
let core: k8s.CoreV1Api
let cosign: string
/**
 * The test's images by digest: unsigned, signed by another key, signed by the lab's key, and signed by the lab's key
 * in cosign v3's default (new bundle) format.
 */
const images: Record<'unsigned' | 'other' | 'lab' | 'bundle', string> = { unsigned: '', other: '', lab: '', bundle: '' }

const releaseAuth = () => `Basic ${Buffer.from(`${env('LAB_RELEASE_USER')}:${fs.readFileSync(env('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim()}`).toString('base64')}`

/** Builds a one-file image (its content unique to this run) and pushes it; returns `repo@digest`. */
function pushTinyImage(tag: string): string {
  const ctx = path.join(work, tag)
  fs.mkdirSync(ctx)
  fs.writeFileSync(path.join(ctx, 'id'), `${id} ${tag} ${crypto.randomBytes(8).toString('hex')}\n`)
  const ref = `${repo()}:${tag}`
  execFileSync('docker', ['build', '-q', '-t', ref, '-f', '-', ctx], { input: 'FROM scratch\nCOPY id /id\n', stdio: ['pipe', 'ignore', 'pipe'] })
  execFileSync('docker', ['--config', dockerConfig, 'push', '-q', ref], { stdio: ['ignore', 'ignore', 'pipe'] })
  const digest = execFileSync('docker', ['inspect', '-f', '{{index .RepoDigests 0}}', ref], { encoding: 'utf8' }).trim().split('@')[1]
  spawnSync('docker', ['rmi', ref], { stdio: 'ignore' })
  return `${repo()}@${digest}`
}

/**
 * Signs `ref` with a cosign key as the pipeline does: offline, cosign's classic layout (the `.sig` tag), the password
 * by environment only. `bundle` keeps cosign v3's default format instead (a Sigstore bundle as an OCI referrer).
 */
function sign(ref: string, key: string, password: string, bundle = false) {
  const format = bundle ? [] : ['--new-bundle-format=false']
  const r = spawnSync(cosign, ['sign', '--key', key, '--tlog-upload=false', '--use-signing-config=false', ...format,
    '--allow-http-registry', '--yes', ref], { encoding: 'utf8', env: { ...process.env, COSIGN_PASSWORD: password, DOCKER_CONFIG: dockerConfig } })
  if (r.status !== 0) throw new Error(`cosign sign ${ref} failed: ${r.stderr}`)
}

/** Creates a pod of `image` in `namespace`: undefined when admitted, the API server's refusal message otherwise. */
async function refusal(image: string, namespace = ns): Promise<string | undefined> {
  const podName = `p-${crypto.randomBytes(4).toString('hex')}`
  try {
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: podName }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image, command: ['/id'] }] } },
    })
    return undefined
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err
    return String(typeof err.body === 'string' ? JSON.parse(err.body).message : err.body?.message)
  }
}

/** Removes the test's manifests (the images and their signature tags) from the release registry. */
async function deleteManifests() {
  const [host, repo, headers] = [env('LAB_RELEASE_REGISTRY'), 'graphmemory/admission-test', { authorization: releaseAuth() }]
  const ours = (tag: string) => tag.startsWith(id) || Object.values(images).some((i) => i && tag.startsWith(i.split('@')[1].replace(':', '-')))
  await deleteTags(host, repo, (await registryTags(host, repo, headers)).filter(ours), headers)
}

beforeAll(async () => {
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(env('KUBECONFIG_LAB'))
  core = kc.makeApiClient(k8s.CoreV1Api)
  cosign = await signing.cosignBinary()
  await core.createNamespace({ body: { metadata: { name: ns, labels: { [admission.OPT_IN_LABEL.key]: admission.OPT_IN_LABEL.value } } } })
  await core.createNamespace({ body: { metadata: { name: plainNs } } })

  fs.mkdirSync(dockerConfig, { mode: 0o700 })
  execFileSync('docker', ['--config', dockerConfig, 'login', '-u', env('LAB_RELEASE_USER'), '--password-stdin', env('LAB_RELEASE_REGISTRY')],
    { input: fs.readFileSync(env('LAB_RELEASE_PASSWORD_FILE')), stdio: ['pipe', 'ignore', 'pipe'] })
  fs.chmodSync(path.join(dockerConfig, 'config.json'), 0o600)
  for (const k of Object.keys(images) as (keyof typeof images)[]) images[k] = pushTinyImage(`${id}-${k}`)

  const labPassword = fs.readFileSync(env('LAB_SIGNING_PASSWORD_FILE'), 'utf8')
  sign(images.lab, env('LAB_SIGNING_KEY_FILE'), labPassword)
  sign(images.bundle, env('LAB_SIGNING_KEY_FILE'), labPassword, true)
  const other = spawnSync(cosign, ['generate-key-pair', '--output-key-prefix', 'other'], { cwd: work, env: { ...process.env, COSIGN_PASSWORD: 'other' } })
  if (other.status !== 0) throw new Error(`cosign generate-key-pair failed: ${other.stderr}`)
  sign(images.other, path.join(work, 'other.key'), 'other')
})

afterAll(async () => {
  for (const n of [ns, plainNs]) await core?.deleteNamespace({ name: n }).catch(() => undefined)
  await deleteManifests().catch(() => undefined)
  fs.rmSync(work, { recursive: true, force: true })
})

describe('admission in an opted-in namespace', () => {
  it('refuses an unsigned image of the release registry, naming it and the missing signature', async () => {
    const msg = await refusal(images.unsigned)
    expect(msg).toBeDefined()
    expect(msg).toContain(images.unsigned)
    expect(msg).toContain(admission.POLICIES.services)
    expect(msg).toMatch(/no signatures found/)
  })

  it('refuses an image signed by another key', async () => {
    const msg = await refusal(images.other)
    expect(msg).toBeDefined()
    expect(msg).toContain(images.other)
    expect(msg).toMatch(/no matching signatures: invalid signature/)
  })

  it('admits an image signed with the lab key', async () => {
    expect(await refusal(images.lab)).toBeUndefined()
  })

  it('refuses the lab key\'s signature in the new bundle format: v0.13.1 reads key signatures in the classic layout only', async () => {
    const msg = await refusal(images.bundle)
    expect(msg).toContain(images.bundle)
    expect(msg).toMatch(/no signatures found/)
  })

  it('admits a pinned third-party image, by digest and by tag', async () => {
    expect(await refusal(await pinned(env('LAB_IMAGE_POSTGRES')))).toBeUndefined()
    expect(await refusal(env('LAB_IMAGE_REDIS'))).toBeUndefined()
  })

  it('refuses an image no policy names', async () => {
    const msg = await refusal(await pinned(env('LAB_IMAGE_PYTHON_RUNTIME')))
    expect(msg).toBeDefined()
    expect(msg).toMatch(/no matching policies/)
  })
})

describe('admission elsewhere', () => {
  it('does not check a namespace without the label', async () => {
    expect(await refusal(images.unsigned, plainNs)).toBeUndefined()
  })
})

/**
 * The online bundle rendered here: its two remote resources (upstream's config/ at the release tag, and its
 * webhook.yaml) replaced by the same files from the Go module the lab builds from; `keyless` adds its component.
 */
async function renderOnline(keyless: boolean) {
  const dir = path.join(work, `online-${keyless ? 'keyless' : 'key'}`)
  fs.cpSync(admission.BUNDLE, dir, { recursive: true })
  fs.cpSync(admission.UPSTREAM_CONFIG, path.join(dir, 'upstream'), { recursive: true })
  const file = path.join(dir, 'kustomization.yaml')
  const text = fs.readFileSync(file, 'utf8')
    .replace(/^ {2}- https:\/\/github\.com\/sigstore\/policy-controller\/\/config\?ref=v0\.13\.1$/m, '  - upstream')
    .replace(/^ {2}- https:\/\/raw\.githubusercontent\.com\/sigstore\/policy-controller\/v0\.13\.1\/config\/webhook\.yaml$/m, '  - upstream/webhook.yaml')
  expect(text).not.toMatch(/https:\/\/(github|raw)/)
  fs.writeFileSync(file, keyless ? `${text}\ncomponents:\n  - keyless\n` : text)
  return render(dir) as Promise<any[]>
}

describe('the online bundle (rendered, never applied here)', () => {
  it('renders upstream\'s objects with the release image pinned by digest, deny by default, and both policies', async () => {
    const objects = await renderOnline(false)
    const kinds = new Set(objects.map((o) => o.kind))
    for (const k of ['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'Deployment', 'Service', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      expect(kinds, k).toContain(k)
    }
    const dep = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === admission.DEPLOYMENT)
    expect(dep.spec.template.spec.containers[0].image).toMatch(/^ghcr\.io\/sigstore\/policy-controller\/policy-controller@sha256:[0-9a-f]{64}$/)
    expect(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'config-policy-controller').data['no-match-policy']).toBe('deny')
    const hooks = objects.filter((o) => /WebhookConfiguration$/.test(o.kind) && o.metadata.name === 'policy.sigstore.dev')
    for (const h of hooks) {
      expect(h.webhooks[0].failurePolicy).toBe('Fail')
      expect(h.webhooks[0].namespaceSelector.matchExpressions).toEqual([{ key: admission.OPT_IN_LABEL.key, operator: 'In', values: [admission.OPT_IN_LABEL.value] }])
    }
    const cips = objects.filter((o) => o.kind === 'ClusterImagePolicy').map((o) => o.metadata.name).sort()
    expect(cips).toEqual([admission.POLICIES.services, admission.POLICIES.thirdParty].sort())
  })

  it('its policies, key and keyless, pass policy-controller\'s own validation (server-side dry run in the lab)', async () => {
    const admin = kubeClient(env('KUBECONFIG_LAB'))
    for (const keyless of [false, true]) {
      for (const cip of (await renderOnline(keyless)).filter((o) => o.kind === 'ClusterImagePolicy')) {
        const dry = { ...cip, metadata: { name: `${cip.metadata.name}-dry-run-${id}` } }
        await expect(admin.objects.create(dry, undefined, 'All'), `${keyless ? 'keyless' : 'key'} ${cip.metadata.name}`).resolves.toBeDefined()
      }
    }
    // the validation is real: a policy whose authority has no key, keyless or static is refused
    const bad = { apiVersion: 'policy.sigstore.dev/v1beta1', kind: 'ClusterImagePolicy', metadata: { name: `bad-${id}` },
      spec: { images: [{ glob: 'example.com/*' }], authorities: [{ name: 'none' }] } }
    await expect(admin.objects.create(bad, undefined, 'All')).rejects.toThrow(/authorit|key/i)
  })
})
