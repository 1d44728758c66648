// The trace store: Jaeger v2 (github.com/jaegertracing/jaeger v1.75.0 = Jaeger v2.12.0, Apache-2.0, `cmd/jaeger`)
// built from the Go module proxy (lab/go/jaeger, CGO off), its image on the lab's Debian base pushed to the mirror as
// LAB_IMAGE_JAEGER (laid out like the official jaegertracing/jaeger image: the server as entrypoint, as nobody), and
// run on the host as the container `gmi-jaeger` with monitoring/tracing/jaeger.yaml: OTLP in, spans kept in memory
// (bounded: the oldest traces go beyond max_traces), the query API out.
// Where it answers (host network, so every address is the host's own):
//   - OTLP/HTTP and OTLP/gRPC on the real node's address (NODE_IP, e.g. 10.88.0.1:4318 / :4317): the host and its
//     processes (the pipeline, LAB_OTLP_ENDPOINT), the Dagger engine (host network) and the real node's pods (the
//     node's INPUT chain admits the host and the pod bridge only; lab/components/node.mjs) reach it there;
//   - the query API (and the placeholder UI: the module's zip carries no built UI) on 127.0.0.1:16686
//     (LAB_JAEGER_URL), the health check on 127.0.0.1:13133, its own metrics on 127.0.0.1:14269.
// The compose stack runs its own Jaeger (docker/production/docker-compose.prod.yml, profile monitoring).
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { $ } from 'zx'
import { REPO } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { pollUntil } from '../lib/proc.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { ensureBinaryImage, inRegistry } from '../lib/images.mjs'
import { MIRROR } from './registries.mjs'
import { IMAGES, ref } from './base-images.mjs'
import { NODE_IP } from './node.mjs'

export const name = 'jaeger'

/** The module version (lab/go/jaeger/go.mod) and the Jaeger v2 release it is. */
export const VERSION = 'v1.75.0'
export const V2_VERSION = 'v2.12.0'
export const IMAGE = `${MIRROR}/gmi-lab/jaeger:${VERSION}`
/** The container on the host. */
export const CONTAINER = 'gmi-jaeger'
/** The configuration the lab and the compose stack run (OTLP in, memory store, query API). */
export const CONFIG = path.join(REPO, 'monitoring', 'tracing', 'jaeger.yaml')
export const OTLP_HTTP_PORT = 4318
export const OTLP_GRPC_PORT = 4317
export const QUERY_PORT = 16686
export const HEALTH_PORT = 13133
/** The query API from the host (api/services, api/traces). */
export const QUERY_URL = `http://127.0.0.1:${QUERY_PORT}`
/** OTLP/HTTP from the host, the engine and the real node's pods (exporters add /v1/traces). */
export const OTLP_ENDPOINT = `http://${NODE_IP}:${OTLP_HTTP_PORT}`
const BIN = 'jaeger'
const UID = 10001 // the official image's user

/** Builds (or finds cached) cmd/jaeger at the lowest CPU priority; returns { dir, built }. */
export function build() {
  const v = 'github.com/jaegertracing/jaeger/internal/version'
  return goBuild({
    module: 'jaeger', version: VERSION, nice: true,
    targets: [{ pkg: 'github.com/jaegertracing/jaeger/cmd/jaeger', out: BIN,
      ldflags: `-X ${v}.latestVersion=${V2_VERSION} -X ${v}.commitSHA=${VERSION} -X ${v}.date=2025-11-05T00:00:00Z` }],
  })
}

/** The image's Dockerfile on `base`, labelled with the build's `stamp`. @param {string} base @param {string} stamp */
const dockerfile = (base, stamp) => `FROM ${base}
COPY ${BIN} /usr/local/bin/${BIN}
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="jaeger" org.opencontainers.image.version="${V2_VERSION}"
USER ${UID}:${UID}
EXPOSE 4317 4318 16686 13133
ENTRYPOINT ["/usr/local/bin/${BIN}"]
`

/**
 * Builds, checks and pushes the image unless the mirror holds this build of it; true when it pushed.
 * @param {string} binDir
 */
async function ensureImage(binDir) {
  const base = ref(IMAGES.find((i) => i.repo === 'gmi-lab/debian'))
  return ensureBinaryImage({ image: IMAGE, binDir, dockerfile: (stamp) => dockerfile(base, stamp), versionArgs: ['version'], version: V2_VERSION })
}

/** What the running container must match: the image's ID, the config's content and the node address. @returns {Promise<string>} */
async function wantedStamp() {
  const id = (await $`docker image inspect -f ${'{{.Id}}'} ${IMAGE}`.quiet()).stdout.trim()
  return crypto.createHash('sha256').update(id).update(fs.readFileSync(CONFIG)).update(NODE_IP).digest('hex').slice(0, 16)
}

/** `true <stamp>` when the container runs, with the stamp it was started with. @returns {Promise<string>} */
const runningStamp = async () =>
  (await $`docker inspect -f ${'{{.State.Running}} {{index .Config.Labels "org.gmi-lab.run"}}'} ${CONTAINER}`.nothrow().quiet()).stdout.trim()

/** True when the query API answers (GET api/services). @returns {Promise<boolean>} */
export const answers = () => fetch(`${QUERY_URL}/api/services`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false)

/**
 * (Re)starts the container with the current image and config; a LabError when it does not answer in 60 s.
 * @param {string} stamp
 */
async function start(stamp) {
  await $`docker rm -f ${CONTAINER}`.nothrow().quiet()
  const args = [
    '-d', '--name', CONTAINER, '--restart', 'unless-stopped', '--network', 'host', '--read-only',
    '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true', '--memory', '768m',
    '--label', `org.gmi-lab.run=${stamp}`,
    '-e', `JAEGER_OTLP_HOST=${NODE_IP}`, '-e', 'JAEGER_QUERY_HOST=127.0.0.1', '-e', 'GOMEMLIMIT=600MiB',
    '-v', `${CONFIG}:/etc/jaeger/config.yaml:ro`,
  ]
  const r = await $`docker run ${args} ${IMAGE} --config=/etc/jaeger/config.yaml`.nothrow().quiet()
  if (r.exitCode !== 0) throw new LabError('starting the Jaeger container failed', r.stderr.trim(), 'run `make lab-status`, fix what it shows, then `make lab-up`')
  await pollUntil(answers, {
    timeoutMs: 60000, everyMs: 500,
    onTimeout: async () => {
      const logs = await $`docker logs --tail 20 ${CONTAINER}`.nothrow().quiet()
      return new LabError(`Jaeger does not answer at ${QUERY_URL} after 60s`, `${logs.stdout}${logs.stderr}`.trim(), `fix ${path.relative(REPO, CONFIG)} or the image, then run \`make lab-up\``)
    },
  })
}

/** Builds and pushes the image if needed, and (re)starts the container when its image, config or address changed. */
export async function up() {
  const t0 = performance.now()
  const bin = await build()
  const pushed = await ensureImage(bin.dir)
  const stamp = await wantedStamp()
  const restarted = (await runningStamp()) !== `true ${stamp}` || !(await answers())
  if (restarted) await start(stamp)
  const secs = ((performance.now() - t0) / 1000).toFixed(1)
  const made = [bin.built && `built jaeger ${VERSION}`, pushed && 'image pushed', restarted && 'started'].filter(Boolean)
  return { note: `${made.length ? `${made.join(', ')} in ${secs}s` : 'current'}; OTLP ${OTLP_ENDPOINT}, query ${QUERY_URL}`, built: bin.built, buildSeconds: Number(secs) }
}

/** Removes the container (the traces were in memory only). */
export async function down() {
  await $`docker rm -f ${CONTAINER}`.nothrow().quiet()
}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const mirrorUp = await fetch(`http://${MIRROR}/v2/`).then(() => true, () => false)
  const image = !mirrorUp ? 'down' : (await inRegistry(IMAGE)) ? 'ok' : 'missing'
  const state = image !== 'ok' ? image : (await answers()) ? 'ok' : 'down'
  return [{ name, state, version: V2_VERSION, address: `OTLP ${OTLP_ENDPOINT}, query ${QUERY_URL}` }]
}

/** The image, the query API's URL and the OTLP endpoint, for the tests, the compose stack and the pipeline. */
export function env() {
  return { LAB_IMAGE_JAEGER: IMAGE, LAB_JAEGER_URL: QUERY_URL, LAB_OTLP_ENDPOINT: OTLP_ENDPOINT }
}
