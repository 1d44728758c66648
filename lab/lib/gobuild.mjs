// Builds upstream binaries from a wrapper Go module in lab/go/<module> (go.mod + go.sum are committed).
// Module and build caches live in the lab cache, so an interrupted build resumes where it stopped.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { $ } from 'zx'
import { CACHE, REPO, goCache, binDir } from './paths.mjs'
import { LabError } from './step.mjs'

/** Environment for `go`: caches in the lab folder, dependencies exactly as go.sum records them. */
export const goEnv = () => ({
  ...process.env,
  GOMODCACHE: goCache('mod'),
  GOCACHE: goCache('build'),
  GOFLAGS: '-mod=readonly -trimpath',
  GOSUMDB: 'off', // go.sum is committed and checked; the proxy's checksum endpoint refuses some modules
  GOTOOLCHAIN: 'local',
})

/**
 * One binary to build: package, output name, build tags, ldflags, cgo, extra environment.
 * @typedef {{ pkg: string, out: string, tags?: string[], ldflags?: string, cgo?: boolean, env?: Record<string, string> }} GoTarget
 */

/** @param {string} moduleDir @param {GoTarget[]} targets */
function stampOf(moduleDir, targets) {
  const h = crypto.createHash('sha256')
  for (const f of ['go.mod', 'go.sum']) h.update(fs.readFileSync(path.join(moduleDir, f)))
  h.update(JSON.stringify(targets))
  return h.digest('hex')
}

/**
 * Explains a failed `go build`: a module the proxy does not serve gets its own message.
 * @param {string} module
 * @param {GoTarget} target
 * @param {string} stderr
 */
function buildError(module, target, stderr) {
  const refused = stderr.match(/reading (https?:\/\/\S+?):? (4\d\d) /)
  if (refused) {
    return new LabError(`Go module download refused while building ${target.pkg}`, `${refused[1]} answered ${refused[2]}`,
      `that version is not served by the module proxy: pin a served version in lab/go/${module}/go.mod (docs/lab.md lists how), then run \`make lab-up\``)
  }
  return new LabError(`go build ${target.pkg} failed`, stderr.trim().split('\n').slice(-8).join('\n'),
    'fix the error above, then run `make lab-up` again (finished work is cached)')
}

/**
 * Downloads one module version through the module proxy into the lab's module cache and checks its hash against the
 * pinned `sum` (go.sum's h1: form); returns its (read-only) folder in the cache.
 * @param {{ path: string, version: string, sum: string }} module
 * @returns {Promise<string>}
 */
export async function downloadModule({ path: mod, version, sum }) {
  fs.mkdirSync(CACHE, { recursive: true }) // outside any module
  const r = await $({ cwd: CACHE, env: { ...goEnv(), GOFLAGS: '' } })`go mod download -json ${`${mod}@${version}`}`.nothrow().quiet()
  /** @type {{ Dir?: string, Sum?: string, Error?: string }} */
  const info = r.exitCode === 0 ? JSON.parse(r.stdout) : {}
  if (r.exitCode !== 0 || info.Error || !info.Dir) {
    throw new LabError(`downloading ${mod}@${version} failed`, (info.Error ?? r.stderr).trim(), 'check the Go module proxy (GOPROXY), then run `make lab-up`')
  }
  if (info.Sum !== sum) {
    throw new LabError(`${mod}@${version} does not match its pinned hash`, `got ${info.Sum}, expected ${sum}`,
      'the module proxy served other content for this version: do not use it; check GOPROXY, then run `make lab-up`')
  }
  return info.Dir
}

/**
 * A writable copy of a folder of the module cache (which is read-only) at `to`: made beside it and renamed into place,
 * so a half-made copy is never used.
 * @param {string} from
 * @param {string} to
 */
export async function writableCopy(from, to) {
  const tmp = `${to}.partial`
  fs.rmSync(tmp, { recursive: true, force: true })
  fs.mkdirSync(path.dirname(to), { recursive: true })
  fs.cpSync(from, tmp, { recursive: true })
  await $`chmod -R u+w ${tmp}`.quiet()
  fs.renameSync(tmp, to)
  return to
}

/**
 * Builds each target of lab/go/<module> into the binary cache and returns that folder.
 * A target: { pkg, out, tags?: string[], ldflags?: string, cgo?: boolean, env?: { VAR: value } } (env: extra build
 * environment, e.g. GOEXPERIMENT).
 * `nice: true` runs the compiler at the lowest CPU priority (`nice -n 19`), so a build started beside other work
 * (a lab already serving tests, another component's build) does not starve it; the default keeps the old behaviour.
 * `name` (default: the module) names the binary folder, so two components can build different targets of one module
 * (each folder has its own stamp).
 * @param {{ module: string, version: string, targets: GoTarget[], moduleDir?: string, nice?: boolean, name?: string }} options
 * @returns {Promise<{ dir: string, built: boolean }>}
 */
export function goBuild({ module, version, targets, moduleDir = path.join(REPO, 'lab', 'go', module), nice = false, name = module }) {
  const out = binDir(name, version)
  const stamp = stampOf(moduleDir, targets)
  const key = `${out}@${stamp}`
  let build = inFlight.get(key)
  if (!build) {
    build = buildInto(out, stamp, { module, targets, moduleDir, nice })
      .then((r) => (r.built ? (builtHere.add(key), r) : { ...r, built: builtHere.has(key) }))
      .finally(() => inFlight.delete(key))
    inFlight.set(key, build)
  }
  return build
}

/**
 * lab-up starts the builds ahead (lab/lib/build-ahead.mjs) and each component's up() asks again: a caller whose build is
 * running waits for it, and one asking after this process built it hears `built: true` (so a daemon running the old
 * binary is restarted). A failed build is not remembered: the next caller tries again and reports the error.
 * @type {Map<string, Promise<{ dir: string, built: boolean }>>}
 */
const inFlight = new Map()
/** @type {Set<string>} */
const builtHere = new Set()

/**
 * @param {string} out
 * @param {string} stamp
 * @param {{ module: string, targets: GoTarget[], moduleDir: string, nice: boolean }} options
 * @returns {Promise<{ dir: string, built: boolean }>}
 */
async function buildInto(out, stamp, { module, targets, moduleDir, nice }) {
  const stampFile = path.join(out, '.stamp')
  const done = fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp
  if (done && targets.every((t) => fs.existsSync(path.join(out, t.out)))) return { dir: out, built: false }

  fs.mkdirSync(out, { recursive: true })
  for (const t of targets) {
    const tmp = path.join(out, `${t.out}.partial`)
    const args = ['build', '-o', tmp]
    if (t.tags?.length) args.push('-tags', t.tags.join(','))
    args.push('-ldflags', `-s -w ${t.ldflags ?? ''}`.trim(), t.pkg)
    const env = { ...goEnv(), CGO_ENABLED: t.cgo ? '1' : '0', ...t.env }
    const t0 = performance.now()
    const cmd = nice ? ['nice', '-n', '19', 'go', ...args] : ['go', ...args]
    const r = await $({ cwd: moduleDir, env })`${cmd}`.nothrow().quiet()
    if (r.exitCode !== 0) throw buildError(module, t, r.stderr)
    fs.renameSync(tmp, path.join(out, t.out))
    process.stdout.write(`  built ${t.out} (${((performance.now() - t0) / 1000).toFixed(1)}s)\n`)
  }
  fs.writeFileSync(stampFile, stamp)
  return { dir: out, built: true }
}
