// kustomize built from Go modules (lab/go/kustomize), packed into a lab image on the lab's Debian base and pushed to
// the mirror: the pipeline's render step runs it as a container (LAB_IMAGE_KUSTOMIZE). Online users pass any image
// with `kustomize` on its PATH instead.
import fs from 'node:fs'
import path from 'node:path'
import { $ } from 'zx'
import { LabError } from '../lib/step.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { MIRROR } from './registries.mjs'
import { IMAGES, ref } from './base-images.mjs'
import { imageStamp, inRegistry } from '../lib/images.mjs'

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

/** Builds (or reuses) the kustomize binary at the lowest CPU priority. */
export async function build() {
  return goBuild({ module: 'kustomize', version: VERSION, targets: TARGETS, nice: true })
}

export async function up() {
  const { dir, built } = await build()
  const stamp = fs.readFileSync(path.join(dir, '.stamp'), 'utf8').slice(0, 16)
  if ((await imageStamp(IMAGE)) === stamp && (await inRegistry(IMAGE))) return { note: `${IMAGE} current` }
  const base = ref(IMAGES.find((i) => i.repo === 'gmi-lab/debian'))
  const r = await $({ input: dockerfile(base, stamp) })`docker build -q -f - -t ${IMAGE} ${dir}`.nothrow().quiet()
  if (r.exitCode !== 0) {
    throw new LabError('building the kustomize image failed', r.stderr.trim().split('\n').slice(-8).join('\n'),
      'fix the error above, then run `make lab-up`')
  }
  const p = await $`docker push ${IMAGE}`.nothrow().quiet()
  if (p.exitCode !== 0) throw new LabError(`pushing ${IMAGE} failed`, p.stderr.trim(), 'run `make lab-status` (is the mirror up?), then `make lab-up`')
  return { note: `${IMAGE} pushed${built ? ' (binary built)' : ''}` }
}

export async function down() {}

export async function status() {
  return [{ name: 'kustomize', state: (await inRegistry(IMAGE)) ? 'ok' : 'missing', version: VERSION, address: IMAGE }]
}

export function env() {
  return { LAB_IMAGE_KUSTOMIZE: IMAGE }
}
