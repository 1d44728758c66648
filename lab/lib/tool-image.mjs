// A lab component that packs one Go-built tool into an image on the lab's Debian base and pushes it to the mirror
// (kustomize, actionlint): the binary from its wrapper module in lab/go/<tool>, run in the image as a system user.
import { goBuild } from './gobuild.mjs'
import { buildAndPush, buildStamp, inRegistry } from './images.mjs'

/**
 * The build, Dockerfile, `up` and `status` of a tool image: `/usr/local/bin/<tool>` as the entrypoint, run as the
 * system user and group `<tool>` with `uid` (HOME and WORKDIR /tmp), labelled with the binary build's stamp.
 * @param {{ tool: string, version: string, uid: number, image: string, base: string,
 *   targets: import('./gobuild.mjs').GoTarget[] }} spec
 */
export function goToolImage({ tool, version, uid, image, base, targets }) {
  /** Builds (or reuses) the tool's binary at the lowest CPU priority. */
  const build = () => goBuild({ module: tool, version, targets, nice: true })

  /** The image's Dockerfile, labelled with the build's `stamp`. @param {string} stamp */
  const dockerfile = (stamp) => `FROM ${base}
COPY ${tool} /usr/local/bin/${tool}
RUN groupadd --system --gid ${uid} ${tool} \\
 && useradd --system --uid ${uid} --gid ${uid} --home-dir /tmp --no-create-home --shell /usr/sbin/nologin ${tool}
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="${tool}" org.opencontainers.image.version="${version}"
ENV HOME=/tmp
USER ${uid}:${uid}
WORKDIR /tmp
ENTRYPOINT ["${tool}"]
`

  /** Builds the binary and pushes its image unless the mirror holds this build of it. */
  async function up() {
    const { dir, built } = await build()
    const pushed = await buildAndPush({ image, context: dir, stamp: buildStamp(dir), name: tool, dockerfile })
    return { note: pushed ? `${image} pushed${built ? ' (binary built)' : ''}` : `${image} current` }
  }

  /** @returns {Promise<import('../components/component.js').StatusRow[]>} */
  async function status() {
    return [{ name: tool, state: (await inRegistry(image)) ? 'ok' : 'missing', version, address: image }]
  }

  /** Nothing runs: the image stays in the mirror. */
  const down = async () => {}

  return { build, dockerfile, up, down, status }
}
