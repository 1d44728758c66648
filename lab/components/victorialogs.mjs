// The log store: VictoriaLogs v1.52.2 (github.com/VictoriaMetrics/VictoriaLogs, Apache-2.0) built from the Go module
// proxy (lab/go/victorialogs, `app/victoria-logs`, CGO off: the pure-Go zstd), its image on the lab's Debian base
// pushed to the mirror as LAB_IMAGE_VICTORIALOGS. Laid out like the official image (victoriametrics/victoria-logs:
// the server as entrypoint, flags as arguments) but as nobody, with /victoria-logs-data owned by it so that a fresh
// named volume is writable. The cluster's store (k8s/cluster/log-collector) and the compose stack's run it; this
// component only builds and pushes (log-collector.mjs deploys it).
import { goBuild } from '../lib/gobuild.mjs'
import { MIRROR } from './registries.mjs'
import { IMAGES, ref } from './base-images.mjs'
import { ensureBinaryImage, inRegistry } from '../lib/images.mjs'

export const name = 'victorialogs'

export const VERSION = 'v1.52.2' // lab/go/victorialogs/go.mod
export const IMAGE = `${MIRROR}/gmi-lab/victoria-logs:${VERSION}`
/** Where the image keeps its data (the bundle's and the compose file's -storageDataPath). */
export const DATA = '/victoria-logs-data'
const BIN = 'victoria-logs'

/** Builds (or finds cached) the server at the lowest CPU priority; returns { dir, built }. */
export function build() {
  return goBuild({
    module: 'victorialogs', version: VERSION, nice: true,
    targets: [{ pkg: 'github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs', out: BIN,
      ldflags: `-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-logs-${VERSION}` }],
  })
}

/** The image's Dockerfile on `base`, labelled with the build's `stamp`. @param {string} base @param {string} stamp */
const dockerfile = (base, stamp) => `FROM ${base}
COPY ${BIN} /usr/local/bin/${BIN}
RUN mkdir -p ${DATA} && chown 65534:65534 ${DATA}
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="victoria-logs" org.opencontainers.image.version="${VERSION}"
USER 65534:65534
WORKDIR ${DATA}
EXPOSE 9428
ENTRYPOINT ["/usr/local/bin/${BIN}"]
`

/**
 * Builds, checks and pushes the image unless the mirror holds this build of it; true when it pushed.
 * @param {string} binDir
 */
async function ensureImage(binDir) {
  const base = ref(IMAGES.find((i) => i.repo === 'gmi-lab/debian'))
  return ensureBinaryImage({ image: IMAGE, binDir, dockerfile: (stamp) => dockerfile(base, stamp), versionArgs: ['-version'], version: VERSION })
}

export async function up() {
  const t0 = performance.now()
  const bin = await build()
  const pushed = await ensureImage(bin.dir)
  const secs = ((performance.now() - t0) / 1000).toFixed(1)
  const made = [bin.built && `built victoria-logs ${VERSION}`, pushed && 'image pushed'].filter(Boolean)
  return { note: made.length ? `${made.join(', ')} in ${secs}s` : 'current', built: bin.built, buildSeconds: Number(secs) }
}

export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const mirrorUp = await fetch(`http://${MIRROR}/v2/`).then(() => true, () => false)
  return [{ name, state: !mirrorUp ? 'down' : (await inRegistry(IMAGE)) ? 'ok' : 'missing', version: VERSION, address: IMAGE }]
}

export function env() {
  return { LAB_IMAGE_VICTORIALOGS: IMAGE }
}
