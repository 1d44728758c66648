// Background daemons the lab starts itself, tracked by pid files so `lab-down` stops exactly what it started.
import fs from 'node:fs'
import path from 'node:path'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { $ } from 'zx'
import { RUN, LOGS } from './paths.mjs'
import { LabError } from './step.mjs'
import { messageOf } from './errors.mjs'

/** @param {string} name */
const pidFile = (name) => path.join(RUN, `${name}.pid`)
/** The log file of a daemon the lab starts. @param {string} name */
export const logFile = (name) => path.join(LOGS, `${name}.log`)

/**
 * The pid of a running daemon the lab started, or undefined (a recycled pid running another program does not count).
 * @param {string} name
 */
export function runningPid(name) {
  try {
    const [pid, cmd] = fs.readFileSync(pidFile(name), 'utf8').split('\n')
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]
    return cmdline === cmd ? Number(pid) : undefined
  } catch {
    return undefined
  }
}

/**
 * The arguments (without the command) a running daemon was started with, or undefined when it is not running.
 * @param {string} name
 */
export function runningArgs(name) {
  const pid = runningPid(name)
  if (!pid) return undefined
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1, -1)
  } catch {
    return undefined
  }
}

/**
 * Starts a detached daemon with its output in the lab log folder; returns its pid.
 * @param {string} name pid and log name
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ env?: Record<string, string>, cwd?: string }} [options]
 */
export function startDaemon(name, cmd, args, { env = {}, cwd } = {}) {
  fs.mkdirSync(RUN, { recursive: true })
  fs.mkdirSync(LOGS, { recursive: true })
  const out = fs.openSync(logFile(name), 'a')
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out], env: { ...process.env, ...env }, cwd })
  child.unref()
  fs.writeFileSync(pidFile(name), `${child.pid}\n${cmd}`)
  return child.pid
}

/**
 * Stops a daemon the lab started (TERM, then KILL after a grace period); true when it was running.
 * @param {string} name
 */
export async function stopDaemon(name, graceMs = 10000) {
  const pid = runningPid(name)
  if (pid) {
    process.kill(pid, 'SIGTERM')
    const until = Date.now() + graceMs
    while (Date.now() < until && runningPid(name)) await sleep(100)
    if (runningPid(name)) process.kill(pid, 'SIGKILL')
  }
  fs.rmSync(pidFile(name), { force: true })
  return Boolean(pid)
}

/** Resolves after ms milliseconds. @param {number} ms @returns {Promise<void>} */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Last lines of a daemon's log, for error messages. @param {string} name */
export function logTail(name, lines = 15) {
  try {
    return fs.readFileSync(logFile(name), 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/**
 * The lab's one poll loop: calls `check` every `everyMs` until `done(value)` (default: the value is truthy) and
 * resolves to that value; a rejection counts as "not yet". After `timeoutMs` it throws what `onTimeout(last, seen)`
 * gives: `last` is the last value or error, `seen` says what it was (a thrown error's message, in the API server's words
 * for a refused request; else `describe(value)`, by default the value as JSON). A wait never carries on silently.
 * @template T
 * @param {() => Promise<T>} check
 * @param {{ timeoutMs: number, everyMs?: number, done?: (value: T) => boolean, describe?: (value: T) => string | Promise<string>, onTimeout: (last: T | unknown, seen: string) => Error | Promise<Error> }} options
 * @returns {Promise<T>}
 */
export async function pollUntil(check, { timeoutMs, everyMs = 250, done = Boolean, describe = asJson, onTimeout }) {
  const until = Date.now() + timeoutMs
  for (;;) {
    /** @type {{ value: T } | { error: unknown }} */
    let last
    try {
      const value = await check()
      if (done(value)) return value
      last = { value }
    } catch (error) {
      last = { error }
    }
    if (Date.now() >= until) {
      const seen = 'error' in last ? messageOf(last.error) : await describe(last.value)
      throw await onTimeout('error' in last ? last.error : last.value, seen)
    }
    await sleep(everyMs)
  }
}

/** A value as JSON (what JSON cannot show, as String gives it). @param {unknown} value @returns {string} */
function asJson(value) {
  return JSON.stringify(value) ?? String(value)
}

/**
 * Waits until check() is truthy; fails with the daemon's log tail after timeoutMs.
 * @param {string} name the daemon (its log is shown)
 * @param {() => Promise<unknown>} check
 */
export async function waitFor(name, check, timeoutMs = 60000) {
  await pollUntil(check, {
    timeoutMs,
    onTimeout: () => new LabError(`${name} did not become ready in ${timeoutMs / 1000}s`, `log tail (${logFile(name)}):\n${logTail(name)}`,
      'fix the cause shown in the log, then run `make lab-up` again'),
  })
}

/**
 * Starts `server` listening on a free port of 127.0.0.1; resolves to that port.
 * @param {net.Server} server
 * @returns {Promise<number>}
 */
export const listenOnFreePort = (server) => new Promise((resolve, reject) => {
  server.once('error', reject)
  server.listen(0, '127.0.0.1', () => resolve(/** @type {net.AddressInfo} */ (server.address()).port))
})

/** A TCP port of 127.0.0.1 that nothing listens on (free a moment ago: hand it to what binds it next). */
export async function freePort() {
  const server = net.createServer()
  const port = await listenOnFreePort(server)
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * True when something accepts TCP connections on host:port.
 * @param {number} port
 * @returns {Promise<boolean>}
 */
export function portOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host }, () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
    s.setTimeout(1000, () => { s.destroy(); resolve(false) })
  })
}

/**
 * Makes a daemon run as `spec` says: stopped first when it runs with other arguments (or `restart`), started when it
 * is not running, then waited for until `spec.ready()` (the log tail after `spec.timeoutMs`, default 60 s). `retries`:
 * how many times a daemon that exits while starting is started again (default none). Resolves to what it did.
 * @param {DaemonSpec} spec
 * @param {{ restart?: boolean, retries?: number, cwd?: string }} [options]
 */
export async function runDaemon(spec, { restart = false, retries = 0, cwd } = {}) {
  const args = runningArgs(spec.name)
  const stopped = args !== undefined && (restart || JSON.stringify(args) !== JSON.stringify(spec.args))
  if (stopped) await stopDaemon(spec.name)
  const started = !runningPid(spec.name)
  if (started) startDaemon(spec.name, spec.cmd, spec.args, { cwd })
  let restarts = 0
  await waitFor(spec.name, async () => {
    if (!runningPid(spec.name)) {
      if (restarts >= retries) return false // waitFor ends with the log tail
      restarts++
      await sleep(1000)
      startDaemon(spec.name, spec.cmd, spec.args, { cwd })
      return false
    }
    return spec.ready()
  }, spec.timeoutMs ?? 60000)
  return { stopped, started, restarts }
}

/**
 * Fails clearly when a host port that a pod on the real node's host network needs is held by another process than
 * `program` (its name as `ss` shows it: 15 characters at most); `who` says what listens there.
 * @param {number[]} ports
 * @param {{ program: string, who: string, host?: string }} options
 */
export async function ensureHostPortsFree(ports, { program, who, host = '127.0.0.1' }) {
  for (const port of ports) {
    if (!(await portOpen(port, host))) continue
    const owner = (await $`ss -ltnpH sport = :${port}`.nothrow().quiet()).stdout.trim()
    if (owner.includes(`"${program}`)) continue
    throw new LabError(`port ${port} is taken`, `${who} listens on ${host}:${port} on the real node's host network${owner ? `; held by: ${owner}` : ''}`,
      'stop that process, then run `make lab-up`')
  }
}

/**
 * A daemon as a component starts it: pid and log `name`, command, arguments, a readiness check, how long it may take.
 * @typedef {{ name: string, cmd: string, args: string[], ready: () => Promise<unknown>, timeoutMs?: number }} DaemonSpec
 */

/**
 * Runs a command (zx, output captured); resolves to its output, or fails with a LabError: `what` failed, the last
 * `tail` lines of what it printed on stderr (`withStdout`: and then on stdout), and `fix`. The lab's one way to run a
 * tool and explain its failure.
 * @param {string[]} cmd the command and its arguments (each passed as one argument: nothing is parsed by a shell)
 * @param {{ what: string, fix: string, tail?: number, withStdout?: boolean, input?: string | Buffer, cwd?: string, env?: NodeJS.ProcessEnv }} options
 */
export async function runOrExplain(cmd, { what, fix, tail = 8, withStdout = false, ...options }) {
  const r = await $({ ...options, nothrow: true, quiet: true })`${cmd}`
  if (r.exitCode !== 0) throw new LabError(what, `${r.stderr}${withStdout ? r.stdout : ''}`.trim().split('\n').slice(-tail).join('\n'), fix)
  return r
}

/**
 * A port from the environment variable `envVar` (the user may move it), else `fallback`.
 * @param {string} envVar
 * @param {number} fallback
 */
export const portFromEnv = (envVar, fallback) => Number(process.env[envVar] ?? fallback)

/**
 * Fails clearly when a port the lab needs is held by a process the lab did not start.
 * @param {string} name the daemon that needs it
 * @param {number} port
 * @param {string} envVar the variable that chooses another port
 */
export async function ensurePortFree(name, port, envVar) {
  if (runningPid(name) || !(await portOpen(port))) return
  const owner = (await $`ss -ltnpH sport = :${port}`.nothrow().quiet()).stdout.trim()
  throw new LabError(`port ${port} on 127.0.0.1 is taken`, `${name} needs it, and it is held by another process${owner ? `: ${owner}` : ''}`,
    `stop that process, or choose another port with ${envVar}=<port> make lab-up`)
}
