// kustomize built from Go modules (lab/go/kustomize), packed into a lab image on the lab's Debian base and pushed to
// the mirror: the pipeline's render step runs it as a container (LAB_IMAGE_KUSTOMIZE). Online users pass any image
// with `kustomize` on its PATH instead.
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { REPO } from '../lib/paths.mjs'
import { runOrExplain } from '../lib/proc.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { MIRROR } from './registries.mjs'
import { DEBIAN_IMAGE } from './base-images.mjs'
import { buildAndPush, buildStamp, inRegistry } from '../lib/images.mjs'

export const name = 'kustomize'

/** The newest kustomize whose go directive the lab's Go toolchain accepts (lab/go/kustomize/go.mod says why). */
export const VERSION = 'v5.8.2'
/** The image's user: not root, and the uid render runs kustomize as. */
export const UID = 65532
const IMAGE = `${MIRROR}/gmi-lab/kustomize:${VERSION}`

const TARGETS = [{
  pkg: 'sigs.k8s.io/kustomize/kustomize/v5',
  out: 'kustomize',
  ldflags: `-X sigs.k8s.io/kustomize/api/provenance.version=kustomize/${VERSION}`,
}]

/** The image's Dockerfile on `base`, labelled with the build's `stamp`. @param {string} base @param {string} stamp */
const dockerfile = (base, stamp) => `FROM ${base}
COPY kustomize /usr/local/bin/kustomize
RUN groupadd --system --gid ${UID} kustomize \\
 && useradd --system --uid ${UID} --gid ${UID} --home-dir /tmp --no-create-home --shell /usr/sbin/nologin kustomize
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="kustomize" org.opencontainers.image.version="${VERSION}"
ENV HOME=/tmp
USER ${UID}:${UID}
WORKDIR /tmp
ENTRYPOINT ["kustomize"]
`

/**
 * `kustomize build <dir>` with the lab's kustomize binary → the objects, in order (what the lab applies of a bundle).
 * @param {string} dir
 * @returns {Promise<import('../lib/kube.mjs').BundleObject[]>}
 */
export async function render(dir) {
  const bin = path.join((await build()).dir, 'kustomize')
  const r = await runOrExplain([bin, 'build', dir], { what: `kustomize build ${path.relative(REPO, dir)} failed`, tail: 1000, fix: 'fix the bundle, then run `make lab-up`' })
  return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean)
}

/** Builds (or reuses) the kustomize binary at the lowest CPU priority. */
export async function build() {
  return goBuild({ module: 'kustomize', version: VERSION, targets: TARGETS, nice: true })
}

export async function up() {
  const { dir, built } = await build()
  const pushed = await buildAndPush({ image: IMAGE, context: dir, stamp: buildStamp(dir), name: 'kustomize', dockerfile: (stamp) => dockerfile(DEBIAN_IMAGE, stamp) })
  return { note: pushed ? `${IMAGE} pushed${built ? ' (binary built)' : ''}` : `${IMAGE} current` }
}

export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  return [{ name: 'kustomize', state: (await inRegistry(IMAGE)) ? 'ok' : 'missing', version: VERSION, address: IMAGE }]
}

export function env() {
  return { LAB_IMAGE_KUSTOMIZE: IMAGE }
}
