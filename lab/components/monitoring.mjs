// The monitoring tools the pipeline's lint step and the compose stack run: Prometheus (with promtool) and
// Alertmanager (with amtool) from Debian's `prometheus` and `prometheus-alertmanager` packages, packed on the lab's
// Debian base and pushed to the mirror under lab names (LAB_IMAGE_PROMETHEUS, LAB_IMAGE_ALERTMANAGER). They are laid
// out like the official images (user nobody, the server as entrypoint, promtool/amtool on the PATH), so the pipeline
// and the compose file take either by configuration only. Debian builds Prometheus without Kubernetes service
// discovery, so its server refuses and its promtool cannot read the Kubernetes config: the image runs the server and
// promtool of the same version built from Go modules (lab/go/promtool) with every discovery, first on the PATH, so
// the cluster's Prometheus runs on the real node with the repository's config. The log collector
// (LAB_IMAGE_OTELCOL) is an OpenTelemetry Collector built from Go modules (lab/go/otelcol), and kube-state-metrics
// (LAB_IMAGE_KUBE_STATE_METRICS) too (lab/go/kube-state-metrics). The Postgres and Redis
// exporters (LAB_IMAGE_POSTGRES_EXPORTER, LAB_IMAGE_REDIS_EXPORTER) are Debian's prometheus-postgres-exporter and
// prometheus-redis-exporter, laid out the same way (user nobody, the exporter as entrypoint, configured by flags and
// environment like the official images).
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { $ } from 'zx'
import { LabError } from '../lib/step.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { MIRROR } from './registries.mjs'
import { DEBIAN_IMAGE } from './base-images.mjs'
import { buildAndPush, buildStamp, imageState } from '../lib/images.mjs'

export const name = 'monitoring'

/** The versions Debian bookworm ships (checked in each image after its build: `promtool --version`, `amtool --version`). */
export const PROMETHEUS_VERSION = '2.42.0'
export const ALERTMANAGER_VERSION = '0.25.0'
export const POSTGRES_EXPORTER_VERSION = '0.11.1'
export const REDIS_EXPORTER_VERSION = '1.45.0'
/** The official images' user (nobody): the servers run as it and own their data folders. */
const UID = 65534

/**
 * A tool image from a Debian package: its repository and tag, the package and version, the command that shows the
 * version (and what it says), its data folder, Go binaries of promtool's build to add, entrypoint, cmd and links.
 * @typedef {{ repo: string, tag: string, version: string, pkg: string, check: string[], says?: string, data?: string,
 *   binaries?: string[], entrypoint: string, cmd?: string, links: string[][] }} ToolImage
 */
/** @type {ToolImage[]} */
const TOOLS = [
  {
    repo: 'gmi-lab/prometheus', tag: `${PROMETHEUS_VERSION}-bookworm`, version: PROMETHEUS_VERSION, pkg: 'prometheus',
    check: ['prometheus', '--version'], data: '/prometheus', binaries: ['promtool', 'prometheus'],
    entrypoint: '["/usr/local/bin/prometheus"]',
    cmd: '["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]',
    links: [],
  },
  {
    repo: 'gmi-lab/alertmanager', tag: `${ALERTMANAGER_VERSION}-bookworm`, version: ALERTMANAGER_VERSION, pkg: 'prometheus-alertmanager',
    check: ['amtool', '--version'], data: '/alertmanager',
    entrypoint: '["/usr/bin/prometheus-alertmanager"]',
    cmd: '["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]',
    // the official image names the server `alertmanager`
    links: [['/usr/bin/prometheus-alertmanager', '/usr/local/bin/alertmanager']],
  },
  {
    repo: 'gmi-lab/postgres-exporter', tag: `${POSTGRES_EXPORTER_VERSION}-bookworm`, version: POSTGRES_EXPORTER_VERSION,
    pkg: 'prometheus-postgres-exporter', check: ['prometheus-postgres-exporter', '--version'],
    entrypoint: '["/usr/bin/prometheus-postgres-exporter"]',
    // the official image's path of the exporter
    links: [['/usr/bin/prometheus-postgres-exporter', '/bin/postgres_exporter']],
  },
  {
    repo: 'gmi-lab/redis-exporter', tag: `${REDIS_EXPORTER_VERSION}-bookworm`, version: REDIS_EXPORTER_VERSION,
    pkg: 'prometheus-redis-exporter', check: ['prometheus-redis-exporter', '--version'], says: `Exporter ${REDIS_EXPORTER_VERSION}`,
    entrypoint: '["/usr/bin/prometheus-redis-exporter"]',
    links: [['/usr/bin/prometheus-redis-exporter', '/redis_exporter']],
  },
]

/** An image's reference in the mirror. @param {{ repo: string, tag: string }} t */
const image = (t) => `${MIRROR}/${t.repo}:${t.tag}`

/**
 * promtool and the Prometheus server from Go modules, at Debian's version (Go module v0.42.0 is Prometheus 2.42.0),
 * with every service discovery: Debian's server lacks Kubernetes discovery and refuses the repository's prometheus.yml,
 * so the image runs this one (the compose stack and the cluster alike). One build graph: the server adds little to
 * promtool's. No web UI assets (upstream embeds them only with the builtinassets tag, after an npm build): the query
 * API, rules, alerts and targets pages' APIs are all there.
 */
const VERSION_FLAGS = `-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION} -X github.com/prometheus/common/version.Branch=HEAD`
const PROMTOOL_TARGETS = [
  { pkg: 'github.com/prometheus/prometheus/cmd/promtool', out: 'promtool', ldflags: VERSION_FLAGS },
  { pkg: 'github.com/prometheus/prometheus/cmd/prometheus', out: 'prometheus', ldflags: VERSION_FLAGS },
]

/** Builds (or reuses) promtool at the lowest CPU priority; its folder is the prometheus image's build context. */
const buildPromtool = () => goBuild({ module: 'promtool', version: `v${PROMETHEUS_VERSION.replace(/^2\./, '0.')}`, targets: PROMTOOL_TARGETS, nice: true })

/** Builds (or reuses) every Go binary of this component: promtool and Prometheus, then the collector and kube-state-metrics. */
export async function build() {
  const promtool = await buildPromtool()
  for (const g of GO_IMAGES) await goBuild({ module: g.module, version: g.version, targets: g.targets, nice: true })
  return promtool
}

/**
 * The image's Dockerfile. Debian's postinst scripts find no running init in a build and start nothing.
 * @param {ToolImage} t
 * @param {string} base
 * @param {string} stamp
 */
const dockerfile = (t, base, stamp) => `FROM ${base}
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${t.pkg}=${t.version}* \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc /usr/share/man${t.data ? ` \\\n && mkdir -p ${t.data} && chown ${UID}:${UID} ${t.data}` : ''}${t.links.map(([from, to]) => ` \\\n && ln -s ${from} ${to}`).join('')}
${t.binaries ? `COPY ${t.binaries.join(' ')} /usr/local/bin/\n` : ''}LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="${t.repo.split('/')[1]}" org.opencontainers.image.version="${t.version}"
USER ${UID}:${UID}
${t.data ? `WORKDIR ${t.data}\n` : ''}ENTRYPOINT ${t.entrypoint}
${t.cmd ? `CMD ${t.cmd}\n` : ''}`

/**
 * What an image is made of: its Dockerfile on the base image's reference, and the build of its Go binaries.
 * @param {ToolImage} t
 * @param {string} [binDir]
 */
const stampOf = (t, binDir) => crypto.createHash('sha256').update(dockerfile(t, DEBIAN_IMAGE, ''))
  .update(binDir ? fs.readFileSync(path.join(binDir, '.stamp')) : '').digest('hex').slice(0, 16)

/**
 * Builds, checks and pushes one tool image unless the mirror already holds this build of it.
 * @param {ToolImage} t
 * @param {string} [binDir]
 */
async function toolImage(t, binDir) {
  const target = image(t)
  return buildAndPush({
    image: target, context: binDir, stamp: stampOf(t, binDir), name: t.repo, dockerfile: (stamp) => dockerfile(t, DEBIAN_IMAGE, stamp),
    check: async () => {
      const v = await $`docker run --rm --entrypoint ${t.check[0]} ${target} ${t.check.slice(1)}`.nothrow().quiet()
      if (!`${v.stdout}${v.stderr}`.includes(t.says ?? `version ${t.version}`)) {
        throw new LabError(`${t.repo} holds the wrong ${t.check[0]}`, `expected version ${t.version}, got: ${`${v.stdout}${v.stderr}`.trim().split('\n')[0]}`,
          `Debian's ${t.pkg} moved: set the new version in lab/components/monitoring.mjs, then run \`make lab-up\``)
      }
    },
  })
}

/**
 * Images of one Go binary built here, on the lab's Debian base, laid out like the official image (user, entrypoint).
 * The OpenTelemetry Collector (lab/go/otelcol: core and contrib v0.165.0, one release): filelog (container and JSON
 * parsers), OTLP receiver, batch, debug and OTLP/HTTP exporters; user 10001 like the official contrib image (the
 * compose stack runs it as root to read Docker's log files). kube-state-metrics (lab/go/kube-state-metrics) v2.13.0:
 * user nobody, `/kube-state-metrics --port=8080 --telemetry-port=8081` like the official image.
 */
export const OTELCOL_VERSION = 'v0.165.0'
export const KUBE_STATE_METRICS_VERSION = 'v2.13.0'
const PROM_COMMON = 'github.com/prometheus/common/version'
/**
 * An image of one Go binary: its module's build, where the binary goes, the user, args and cmd, the version check.
 * @typedef {{ repo: string, tag: string, module: string, version: string, targets: import('../lib/gobuild.mjs').GoTarget[],
 *   path: string, user: string, cmd?: string, args?: string[], check: string[] }} GoImage
 */
/** @type {GoImage[]} */
const GO_IMAGES = [
  {
    repo: 'gmi-lab/otelcol', tag: OTELCOL_VERSION, module: 'otelcol', version: OTELCOL_VERSION,
    targets: [{ pkg: '.', out: 'otelcol-gmi', ldflags: `-X main.version=${OTELCOL_VERSION}` }],
    path: '/usr/local/bin/otelcol-gmi', user: '10001:10001', cmd: '["--config=/etc/otelcol/config.yaml"]', check: ['--version'],
  },
  {
    repo: 'gmi-lab/kube-state-metrics', tag: KUBE_STATE_METRICS_VERSION, module: 'kube-state-metrics', version: KUBE_STATE_METRICS_VERSION,
    targets: [{ pkg: 'k8s.io/kube-state-metrics/v2', out: 'kube-state-metrics', ldflags: `-X ${PROM_COMMON}.Version=${KUBE_STATE_METRICS_VERSION} -X ${PROM_COMMON}.Branch=HEAD` }],
    path: '/kube-state-metrics', user: '65534:65534', args: ['--port=8080', '--telemetry-port=8081'], check: ['version'],
  },
]
const [OTELCOL, KUBE_STATE_METRICS] = GO_IMAGES
/** @param {GoImage} g @param {string} base @param {string} stamp */
const goDockerfile = (g, base, stamp) => `FROM ${base}
COPY ${g.targets[0].out} ${g.path}
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="${g.repo.split('/')[1]}" org.opencontainers.image.version="${g.version}"
USER ${g.user}
ENTRYPOINT ${JSON.stringify([g.path, ...(g.args ?? [])]).replaceAll(',', ', ')}
${g.cmd ? `CMD ${g.cmd}\n` : ''}`

/**
 * Builds (or reuses) the binary at the lowest CPU priority and pushes its image unless the mirror holds this build.
 * @param {GoImage} g
 */
async function goImage(g) {
  const bin = await goBuild({ module: g.module, version: g.version, targets: g.targets, nice: true })
  const target = image(g)
  const name = g.repo.split('/')[1]
  return buildAndPush({
    image: target, context: bin.dir, stamp: buildStamp(bin.dir), name, dockerfile: (stamp) => goDockerfile(g, DEBIAN_IMAGE, stamp),
    check: async () => {
      const v = await $`docker run --rm --entrypoint ${g.path} ${target} ${g.check}`.nothrow().quiet()
      if (!`${v.stdout}${v.stderr}`.includes(g.version.replace(/^v/, ''))) throw new LabError(`the ${name} image does not run`, `${v.stdout}${v.stderr}`.trim(), `check lab/go/${g.module}, then run \`make lab-up\``)
    },
  })
}

/**
 * A stand-in for Grafana, which no package source here carries: an image that only says so and exits 1. The lab's
 * staging and prod deploys pin graphmemory/grafana to it (LAB_IMAGE_GRAFANA) so the rendered manifest is complete;
 * their pods land on kwok nodes, which never run an image. Online, the pipeline's default is the official image.
 */
export const GRAFANA_VERSION = '12.3.0'
const GRAFANA_STANDIN = { repo: 'gmi-lab/grafana-standin', tag: GRAFANA_VERSION }
/** @param {string} base @param {string} stamp */
const standinDockerfile = (base, stamp) => `FROM ${base}
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="grafana-standin" org.opencontainers.image.version="${GRAFANA_VERSION}" \\
      org.opencontainers.image.description="Not Grafana: a lab stand-in, pinned by deploys to kwok nodes only"
USER 472:472
ENTRYPOINT ["sh", "-c", "echo 'graphmemory lab: a stand-in for Grafana ${GRAFANA_VERSION}, which cannot be built here' >&2; exit 1"]
`

/** Builds and pushes the Grafana stand-in unless the mirror holds this build. */
function grafanaStandin() {
  const stamp = crypto.createHash('sha256').update(standinDockerfile(DEBIAN_IMAGE, '')).digest('hex').slice(0, 16)
  return buildAndPush({ image: image(GRAFANA_STANDIN), stamp, name: 'Grafana stand-in', dockerfile: (s) => standinDockerfile(DEBIAN_IMAGE, s) })
}

export async function up() {
  const promtool = await build()
  const done = []
  for (const t of TOOLS) if (await toolImage(t, t.binaries ? promtool.dir : undefined)) done.push(`${t.repo.split('/')[1]} ${t.version}`)
  for (const g of GO_IMAGES) if (await goImage(g)) done.push(`${g.repo.split('/')[1]} ${g.version}`)
  if (await grafanaStandin()) done.push(`grafana-standin ${GRAFANA_VERSION}`)
  return { note: done.length ? `pushed ${done.join(', ')}${promtool.built ? ' (built promtool)' : ''}` : 'all current' }
}

export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  return Promise.all([...TOOLS, ...GO_IMAGES, { ...GRAFANA_STANDIN, version: GRAFANA_VERSION }].map(async (t) => ({
    name: t.repo.split('/')[1],
    state: await imageState(image(t)),
    version: t.version,
    address: image(t),
  })))
}

export function env() {
  return {
    LAB_IMAGE_PROMETHEUS: image(TOOLS[0]), LAB_IMAGE_ALERTMANAGER: image(TOOLS[1]), LAB_IMAGE_OTELCOL: image(OTELCOL),
    LAB_IMAGE_GRAFANA: image(GRAFANA_STANDIN), LAB_IMAGE_POSTGRES_EXPORTER: image(TOOLS[2]), LAB_IMAGE_REDIS_EXPORTER: image(TOOLS[3]),
    LAB_IMAGE_KUBE_STATE_METRICS: image(KUBE_STATE_METRICS),
  }
}
