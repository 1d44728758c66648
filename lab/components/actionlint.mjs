// actionlint built from Go modules (lab/go/actionlint), packed into a lab image on the lab's Debian base and pushed to
// the mirror (LAB_IMAGE_ACTIONLINT): the workflow tests lint .github/workflows with it, as a container. Online users
// run the official image (rhysd/actionlint) or any actionlint binary the same way.
import { goToolImage } from '../lib/tool-image.mjs'
import { MIRROR } from './registries.mjs'
import { DEBIAN_IMAGE } from './base-images.mjs'

export const name = 'actionlint'

/** The version the Go module proxy serves (lab/go/actionlint/go.mod pins it). */
export const VERSION = 'v1.7.12'
/** The image's user: not root. */
export const UID = 65532
const REPO_NAME = 'gmi-lab/actionlint'
const IMAGE = `${MIRROR}/${REPO_NAME}:${VERSION}`

const TARGETS = [{
  pkg: 'github.com/rhysd/actionlint/cmd/actionlint',
  out: 'actionlint',
  ldflags: `-X github.com/rhysd/actionlint.version=${VERSION}`,
}]

const tool = goToolImage({ tool: 'actionlint', version: VERSION, uid: UID, image: IMAGE, base: DEBIAN_IMAGE, targets: TARGETS })
/** Builds (or reuses) the actionlint binary at the lowest CPU priority. */
export const build = tool.build

export const { up, down, status } = tool

export function env() {
  return { LAB_IMAGE_ACTIONLINT: IMAGE }
}
