// actionlint built from Go modules (lab/go/actionlint), packed into a lab image on the lab's Debian base and pushed to
// the mirror (LAB_IMAGE_ACTIONLINT): the workflow tests lint .github/workflows with it, as a container. Online users
// run the official image (rhysd/actionlint) or any actionlint binary the same way.
import { goBuild } from '../lib/gobuild.mjs'
import { MIRROR } from './registries.mjs'
import { DEBIAN_IMAGE } from './base-images.mjs'
import { buildAndPush, buildStamp, inRegistry } from '../lib/images.mjs'

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

/** The image's Dockerfile on `base`, labelled with the build's `stamp`. @param {string} base @param {string} stamp */
const dockerfile = (base, stamp) => `FROM ${base}
COPY actionlint /usr/local/bin/actionlint
RUN groupadd --system --gid ${UID} actionlint \\
 && useradd --system --uid ${UID} --gid ${UID} --home-dir /tmp --no-create-home --shell /usr/sbin/nologin actionlint
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="actionlint" org.opencontainers.image.version="${VERSION}"
ENV HOME=/tmp
USER ${UID}:${UID}
WORKDIR /tmp
ENTRYPOINT ["actionlint"]
`

/** Builds (or reuses) the actionlint binary at the lowest CPU priority. */
export async function build() {
  return goBuild({ module: 'actionlint', version: VERSION, targets: TARGETS, nice: true })
}

export async function up() {
  const { dir, built } = await build()
  const pushed = await buildAndPush({ image: IMAGE, context: dir, stamp: buildStamp(dir), name: 'actionlint', dockerfile: (stamp) => dockerfile(DEBIAN_IMAGE, stamp) })
  return { note: pushed ? `${IMAGE} pushed${built ? ' (binary built)' : ''}` : `${IMAGE} current` }
}

export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  return [{ name: 'actionlint', state: (await inRegistry(IMAGE)) ? 'ok' : 'missing', version: VERSION, address: IMAGE }]
}

export function env() {
  return { LAB_IMAGE_ACTIONLINT: IMAGE }
}
