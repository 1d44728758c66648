#!/usr/bin/env node
// Measures what admission adds to a pod create: server-side dry-run creates (admission runs, nothing is stored) of
// a pod in a namespace labelled policy.sigstore.dev/include=true (an image signed with the lab key: signature fetched
// and verified; a pinned third-party image: static policy) against the same in a namespace without the label.
// Makes a throw-away namespace pair and one tiny signed image in the release registry; removes them at the end.
// Usage (lab up, lab.env loaded): node bench/admission.mjs [--runs N]
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { $, argv } from 'zx'
import * as k8s from '@kubernetes/client-node'
import * as admission from '../lab/components/admission.mjs'
import * as signing from '../lab/components/signing.mjs'
import { pinned } from '../lab/components/log-collector.mjs'
import { percentile, timeRuns } from './timing.mjs'
import { deleteTags, registryTags } from '../lab/lib/images.mjs'

$.verbose = false
const runs = Number(argv.runs ?? 20)
const need = (k) => process.env[k] ?? (() => { throw new Error(`${k} is not set: load ~/.graphmemory-lab/state/lab.env`) })()
const id = crypto.randomBytes(3).toString('hex')
const release = need('LAB_RELEASE_REGISTRY')
const repo = `${release}/graphmemory/admission-bench`
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-admission-bench-'))
const dockerConfig = path.join(work, 'docker')
const auth = `Basic ${Buffer.from(`${need('LAB_RELEASE_USER')}:${fs.readFileSync(need('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim()}`).toString('base64')}`

const kc = new k8s.KubeConfig()
kc.loadFromFile(need('KUBECONFIG_LAB'))
const core = kc.makeApiClient(k8s.CoreV1Api)
const opted = `bench-admission-${id}`
const plain = `bench-admission-plain-${id}`

/** A one-file image pushed to the release registry and signed with the lab key (classic layout); → repo@digest. */
async function signedImage() {
  fs.mkdirSync(dockerConfig, { mode: 0o700 })
  fs.writeFileSync(path.join(work, 'id'), `${id}\n`)
  await $({ input: fs.readFileSync(need('LAB_RELEASE_PASSWORD_FILE')) })`docker --config ${dockerConfig} login -u ${need('LAB_RELEASE_USER')} --password-stdin ${release}`.quiet()
  await $({ input: 'FROM scratch\nCOPY id /id\n' })`docker build -q -t ${repo}:${id} -f - ${work}`.quiet()
  await $`docker --config ${dockerConfig} push -q ${repo}:${id}`.quiet()
  const ref = (await $`docker inspect -f ${'{{index .RepoDigests 0}}'} ${repo}:${id}`).stdout.trim()
  await $`docker rmi ${repo}:${id}`.nothrow().quiet()
  const password = fs.readFileSync(need('LAB_SIGNING_PASSWORD_FILE'), 'utf8')
  await $({ env: { ...process.env, COSIGN_PASSWORD: password, DOCKER_CONFIG: dockerConfig } })`${await signing.cosignBinary()} sign --key ${need('LAB_SIGNING_KEY_FILE')} --tlog-upload=false --use-signing-config=false --new-bundle-format=false --yes ${ref}`.quiet()
  return ref
}

/** Milliseconds of `runs` dry-run pod creates of `image` in `namespace` (one warm-up first). */
const timeCreates = (namespace, image) =>
  timeRuns(() => core.createNamespacedPod({ namespace, dryRun: 'All', body: { metadata: { generateName: 'b-' }, spec: { containers: [{ name: 'm', image }] } } }), runs)
const pct = (ms, p) => percentile(ms, p)

async function cleanup() {
  for (const n of [opted, plain]) await core.deleteNamespace({ name: n }).catch(() => undefined)
  const headers = { authorization: auth }
  await deleteTags(release, 'graphmemory/admission-bench', await registryTags(release, 'graphmemory/admission-bench', headers), headers)
  fs.rmSync(work, { recursive: true, force: true })
}

try {
  await core.createNamespace({ body: { metadata: { name: opted, labels: { [admission.OPT_IN_LABEL.key]: admission.OPT_IN_LABEL.value } } } })
  await core.createNamespace({ body: { metadata: { name: plain } } })
  const signed = await signedImage()
  const thirdParty = await pinned(need('LAB_IMAGE_POSTGRES'))
  console.log(`pod create, server dry run, ${runs} runs each: median / p90 (ms)`)
  for (const [label, ns, image] of [
    ['opted in, signed image (signature verified)', opted, signed],
    ['opted in, pinned third-party (static policy)', opted, thirdParty],
    ['no label, same signed image (no webhook)', plain, signed],
  ]) {
    const ms = await timeCreates(ns, image)
    console.log(`  ${label.padEnd(48)} ${pct(ms, 0.5)} / ${pct(ms, 0.9)}`)
  }
} finally {
  await cleanup()
}
