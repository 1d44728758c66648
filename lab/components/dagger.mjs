// A Dagger engine and CLI built from Go modules, run as a container with the capability set that works here
// (the VM lacks CAP_SYS_RESOURCE, so --privileged fails). Host networking keeps the lab on 127.0.0.1.
import fs from 'node:fs'
import path from 'node:path'
import { $ } from 'zx'
import { LOGS, REPO, STATE, binDir } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { ensureApt } from '../lib/apt.mjs'
import { pollUntil, runOrExplain } from '../lib/proc.mjs'
import { MIRROR } from './registries.mjs'
import { DEBIAN_IMAGE } from './base-images.mjs'
import { imageStamp } from '../lib/images.mjs'
import { ensureChain, removeChain } from '../lib/iptables.mjs'
import { BRIDGE as NODE_BRIDGE } from './node/layout.mjs'

export const name = 'dagger'

/** The engine version: the newest tag whose whole module graph the Go proxy serves (docs/lab.md says why). */
export const VERSION = 'v0.19.10'
const CONTAINER = 'gmi-dagger-engine'
const IMAGE = `gmi-lab/dagger-engine:${VERSION}`
const VOLUME = 'gmi-dagger-state'
const CONFIG = path.join(STATE, 'dagger', 'engine.toml')
const GC_CONFIG = path.join(STATE, 'dagger', 'engine.json')
/** The bridge of the engine's containers (its default CNI network, 10.87.0.0/16), on the host: the engine runs there. */
export const ENGINE_BRIDGE = 'dagger0'
/** The lab's chain that lets the bridge's traffic through the host's FORWARD chain (see ensureForwarding). */
const FORWARD_CHAIN = 'GMI-LAB-ENGINE'

const stamp = `-X github.com/dagger/dagger/engine.Version=${VERSION} -X github.com/dagger/dagger/engine.Tag=${VERSION}`
const TARGETS = [
  { pkg: 'github.com/dagger/dagger/cmd/dagger', out: 'dagger', ldflags: stamp },
  { pkg: 'github.com/dagger/dagger/cmd/engine', out: 'dagger-engine', ldflags: stamp, tags: ['dfexcludepatterns', 'dfparents'] },
  { pkg: 'github.com/dagger/dagger/cmd/init', out: 'dagger-init', ldflags: stamp },
  { pkg: 'github.com/dagger/dagger/cmd/dialstdio', out: 'dial-stdio', ldflags: stamp },
  { pkg: 'github.com/dagger/dagger/cmd/dnsname', out: 'dnsname', ldflags: stamp },
  { pkg: 'github.com/opencontainers/runc', out: 'runc', cgo: true, tags: ['seccomp'] },
  ...['main/bridge', 'main/loopback', 'meta/firewall', 'ipam/host-local'].map((p) => (
    { pkg: `github.com/containernetworking/plugins/plugins/${p}`, out: path.basename(p) })),
]

/** Engine configuration: docker.io pulls go through the lab mirror. */
const engineToml = () => `debug = false\n\n[registry."docker.io"]\n  mirrors = ["${MIRROR}"]\n`

/**
 * The cache's garbage collection. The engine's default keeps 20 % of the disk free (minFreeSpace), and on a host with
 * less free than that it prunes down to 10 GB at every collection: on this machine (252 GB disk, 5-80 GB free) that
 * evicted the pip and venv layers between two builds, so a one-line change reinstalled every dependency. Instead:
 * keep at least 16 GiB of cache and prune above 24 GiB. minFreeSpace cannot guard this machine's disk: BuildKit reads
 * the filesystem's free blocks, not those available to us (the disk is mounted with a strict reservation: 164 GB free,
 * 3 GB available, seen 2026-12-05), so the cap is what keeps the disk from filling (at 40 GiB it had reached 34 GB and
 * the real node's kubelet reported DiskPressure and evicted pods).
 */
const GC = { gc: { reservedSpace: '16GiB', maxUsedSpace: '24GiB', minFreeSpace: '2GiB' } }
const engineJson = () => `${JSON.stringify(GC, null, 2)}\n`

/** @param {string} binDir @param {string} buildStamp */
async function buildImage(binDir, buildStamp) {
  if ((await imageStamp(IMAGE)) === buildStamp) return false
  await runOrExplain(['docker', 'build', '-q', '-f', path.join(REPO, 'lab/engine/Dockerfile'), '--build-arg', `BASE_IMAGE=${DEBIAN_IMAGE}`,
    '--build-arg', `VERSION=${VERSION}`, '--build-arg', `STAMP=${buildStamp}`, '-t', IMAGE, binDir], { what: 'building the engine image failed', fix: 'fix the error above, then run `make lab-up`' })
  return true
}

const containerImage = async () =>
  (await $`docker inspect -f ${'{{.State.Running}} {{.Config.Image}}'} ${CONTAINER}`.nothrow().quiet()).stdout.trim()

/**
 * The engine answers a client: a session opens and reports the engine's version. A socket file alone is not enough:
 * it survives in a container that restarts in a loop (seen: an engine killed mid-write kept failing at start with
 * "failed to create engine", while the stale socket made it look ready and every test waited on it until CI's limit).
 */
const engineAnswers = async () =>
  (await $({ env: { ...process.env, ...env() } })`timeout 60 ${env()._EXPERIMENTAL_DAGGER_CLI_BIN} core version`.nothrow().quiet()).exitCode === 0

/** True when the container is up and not between two crashes of a restart loop. */
const containerSteady = async () =>
  (await $`docker inspect -f ${'{{.State.Running}} {{.State.Restarting}}'} ${CONTAINER}`.nothrow().quiet()).stdout.trim() === 'true false'

/** The reason the engine refuses to start when its state volume is broken, from its log, or ''. */
async function brokenState() {
  const logs = await $`docker logs --tail 200 ${CONTAINER}`.nothrow().quiet()
  return (logs.stdout + logs.stderr).split('\n').find((l) => l.includes('failed to create engine')) ?? ''
}

/**
 * Keeps the last lines the engine container logged in state/logs/dagger-engine.<suffix>.log (nothing when there is
 * no container): a container that died or broke its state is removed before the next start, and with it the reason.
 * Returns the file's path, or '' when nothing was kept. @param {string} suffix
 */
async function keepEngineLog(suffix) {
  const r = await $`docker logs --timestamps --tail 300 ${CONTAINER}`.nothrow().quiet()
  if (r.exitCode !== 0) return ''
  const file = path.join(LOGS, `dagger-engine.${suffix}.log`)
  fs.mkdirSync(LOGS, { recursive: true })
  fs.writeFileSync(file, r.stdout + r.stderr)
  return file
}

/**
 * Lets the engine's containers reach each other (services, the host tunnels) through the host's FORWARD chain, whose
 * policy is DROP, with one chain of the lab's own. The engine's CNI firewall plugin accepts each container by address,
 * but kube-router (the network-policy component) rewrites the whole filter table from a copy it took moments before
 * (iptables-save, then iptables-restore): a container started in between loses its rules, and its connections time
 * out (seen as 'dial tcp 10.87.x.x:5001: i/o timeout' to the registry tunnel and Redis timeouts in a service's suite).
 * The lab's chain is there before any copy is taken, so every copy keeps it; it accepts what the plugin's rules did,
 * except new connections to the real node's pods, which stay kube-router's to judge.
 */
async function ensureForwarding() {
  await ensureChain(FORWARD_CHAIN, 'FORWARD', [], 'graphmemory lab dagger engine', [
    ['-i', ENGINE_BRIDGE, '!', '-o', NODE_BRIDGE, '-j', 'ACCEPT'], // towards the node's pods, kube-router's policies judge
    ['-o', ENGINE_BRIDGE, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ])
}

/** True when FORWARD jumps to the lab's chain for the engine's bridge (ensureForwarding made it). */
const forwarding = async () => (await $`iptables -w -C FORWARD -j ${FORWARD_CHAIN}`.nothrow().quiet()).exitCode === 0

/** Stops and removes the engine container (gracefully: it flushes its state on SIGTERM). */
async function removeContainer() {
  await $`docker stop --time 60 ${CONTAINER}`.nothrow().quiet()
  await $`docker rm -f ${CONTAINER}`.nothrow().quiet()
}

async function startEngine() {
  fs.mkdirSync(path.dirname(CONFIG), { recursive: true })
  fs.writeFileSync(CONFIG, engineToml())
  fs.writeFileSync(GC_CONFIG, engineJson())
  await keepEngineLog('previous')
  await removeContainer()
  const args = [
    '-d', '--name', CONTAINER, '--restart', 'unless-stopped', '--network', 'host',
    '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE',
    '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--security-opt', 'systempaths=unconfined',
    '--device-cgroup-rule', 'a *:* rwm', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
    '-v', `${VOLUME}:/var/lib/dagger`, '-v', `${CONFIG}:/etc/dagger/engine.toml:ro`,
    '-v', `${GC_CONFIG}:/etc/dagger/engine.json:ro`,
  ]
  await runOrExplain(['docker', 'run', ...args, IMAGE], { tail: 100, what: 'starting the Dagger engine container failed', fix: 'run `make lab-status`, fix what it shows, then `make lab-up`' })
  return waitUntilAnswering(120000)
}

/**
 * Waits for the engine to answer: true when it does; false at once when its state is broken, or when it does not
 * answer within the time given. The false is a verdict, not silence: the callers restart the engine, reset its
 * broken state, or fail with its log (failedToStart). @param {number} timeoutMs
 */
async function waitUntilAnswering(timeoutMs) {
  const outcome = async () => ((await containerSteady()) && (await engineAnswers()) ? 'up' : (await brokenState()) ? 'broken' : undefined)
  return pollUntil(outcome, { timeoutMs, everyMs: 1000, onTimeout: () => new Error('the engine did not answer') })
    .then((o) => o === 'up', () => false)
}

/**
 * Starts the engine; when its state volume is broken (an engine killed mid-write can leave a snapshot its metadata
 * still names, and then never starts again), the volume is dropped and the engine starts with an empty cache.
 * Returns what was done, for the note.
 */
async function startOrReset() {
  if (await startEngine()) return 'started'
  const reason = await brokenState()
  if (!reason) await failedToStart()
  const kept = await keepEngineLog('broken')
  await $`docker rm -f ${CONTAINER}`.nothrow().quiet()
  await $`docker volume rm ${VOLUME}`.nothrow().quiet()
  if (await startEngine()) {
    return `started with an empty cache: its state was broken (${reason.trim().slice(0, 160)}; the engine that ran before it: ${path.join(LOGS, 'dagger-engine.previous.log')}, the broken start: ${kept})`
  }
  await failedToStart()
}

async function failedToStart() {
  const logs = await $`docker logs --tail 20 ${CONTAINER}`.nothrow().quiet()
  throw new LabError('the Dagger engine did not start', `docker logs ${CONTAINER}:\n${(logs.stdout + logs.stderr).trim()}`,
    'fix the cause shown, then run `make lab-up`')
}

/** @param {string} file @param {string} text */
const sameFile = (file, text) => fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text

/** Builds (or reuses) the CLI, the engine and its helper binaries from lab/go/dagger. */
export async function build() {
  await ensureApt(['gcc', 'libc6-dev', 'libseccomp-dev', 'pkg-config'])
  return goBuild({ module: 'dagger', version: VERSION, targets: TARGETS })
}

export async function up() {
  await ensureForwarding()
  const { dir, built } = await build()
  const buildStamp = fs.readFileSync(path.join(dir, '.stamp'), 'utf8').slice(0, 16)
  const rebuilt = await buildImage(dir, buildStamp)
  const current = await containerImage()
  const changed = rebuilt || current !== `true ${IMAGE}` || !sameFile(CONFIG, engineToml()) || !sameFile(GC_CONFIG, engineJson())
  if (!changed && (await waitUntilAnswering(60000))) return { note: `engine ${VERSION} already running` }
  return { note: `engine ${VERSION} ${await startOrReset()}${built ? ' (binaries built)' : ''}` }
}

/**
 * Stops the engine gracefully (it flushes its state on SIGTERM; a kill mid-write once left it unable to start), and
 * removes the lab's forwarding chain.
 */
export async function down() {
  await removeContainer()
  await removeChain('iptables', 'filter', FORWARD_CHAIN, ['FORWARD'])
}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const running = (await containerImage()) === `true ${IMAGE}` && (await containerSteady()) && (await engineAnswers())
  const cli = env()._EXPERIMENTAL_DAGGER_CLI_BIN
  return [
    { name: 'dagger-engine', state: running ? 'ok' : (await imageStamp(IMAGE)) ? 'down' : 'missing', version: VERSION, address: `docker-container://${CONTAINER}` },
    { name: 'dagger-cli', state: fs.existsSync(cli) ? 'ok' : 'missing', version: VERSION, address: cli },
    { name: 'dagger-forwarding', state: (await forwarding()) ? 'ok' : 'missing', address: `iptables chain ${FORWARD_CHAIN} for ${ENGINE_BRIDGE}` },
  ]
}

export function env() {
  return {
    _EXPERIMENTAL_DAGGER_CLI_BIN: path.join(binDir('dagger', VERSION), 'dagger'),
    _EXPERIMENTAL_DAGGER_RUNNER_HOST: `docker-container://${CONTAINER}`,
    DO_NOT_TRACK: '1',
    DAGGER_NO_UPDATE_CHECK: '1',
    DAGGER_NO_NAG: '1',
  }
}
