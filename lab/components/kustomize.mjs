// kustomize built from Go modules (lab/go/kustomize), packed into a lab image on the lab's Debian base and pushed to
// the mirror: the pipeline's render step runs it as a container (LAB_IMAGE_KUSTOMIZE). Online users pass any image
// with `kustomize` on its PATH instead.
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { REPO } from '../lib/paths.mjs'
import { runOrExplain } from '../lib/proc.mjs'
import { goToolImage } from '../lib/tool-image.mjs'
import { MIRROR } from './registries.mjs'
import { DEBIAN_IMAGE } from './base-images.mjs'

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

/**
 * The cluster owner's bundle k8s/cluster/<name>, and the lab's variant of it, k8s/cluster/lab/<name>.
 * @param {string} name
 */
export const clusterBundle = (name) => ({ BUNDLE: path.join(REPO, 'k8s', 'cluster', name), LAB_BUNDLE: path.join(REPO, 'k8s', 'cluster', 'lab', name) })

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

const tool = goToolImage({ tool: 'kustomize', version: VERSION, uid: UID, image: IMAGE, base: DEBIAN_IMAGE, targets: TARGETS })
/** Builds (or reuses) the kustomize binary at the lowest CPU priority. */
export const build = tool.build

export const { up, down, status } = tool

export function env() {
  return { LAB_IMAGE_KUSTOMIZE: IMAGE }
}
