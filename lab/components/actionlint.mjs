// actionlint built from Go modules (lab/go/actionlint), packed into a lab image on the lab's Debian base and pushed to
// the mirror (LAB_IMAGE_ACTIONLINT): the workflow tests lint .github/workflows with it, as a container. Online users
// run the official image (rhysd/actionlint) or any actionlint binary the same way.
import fs from 'node:fs'
import path from 'node:path'
import { $ } from 'zx'
import { LabError } from '../lib/step.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { MIRROR } from './registries.mjs'
import { IMAGES, ref } from './base-images.mjs'
import { imageStamp, inRegistry } from '../lib/images.mjs'

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
  const stamp = fs.readFileSync(path.join(dir, '.stamp'), 'utf8').slice(0, 16)
  if ((await imageStamp(IMAGE)) === stamp && (await inRegistry(IMAGE))) return { note: `${IMAGE} current` }
  const base = ref(IMAGES.find((i) => i.repo === 'gmi-lab/debian'))
  const r = await $({ input: dockerfile(base, stamp) })`docker build -q -f - -t ${IMAGE} ${dir}`.nothrow().quiet()
  if (r.exitCode !== 0) {
    throw new LabError('building the actionlint image failed', r.stderr.trim().split('\n').slice(-8).join('\n'),
      'fix the error above, then run `make lab-up`')
  }
  const p = await $`docker push ${IMAGE}`.nothrow().quiet()
  if (p.exitCode !== 0) throw new LabError(`pushing ${IMAGE} failed`, p.stderr.trim(), 'run `make lab-status` (is the mirror up?), then `make lab-up`')
  return { note: `${IMAGE} pushed${built ? ' (binary built)' : ''}` }
}

export async function down() {}

export async function status() {
  return [{ name: 'actionlint', state: (await inRegistry(IMAGE)) ? 'ok' : 'missing', version: VERSION, address: IMAGE }]
}

export function env() {
  return { LAB_IMAGE_ACTIONLINT: IMAGE }
}
