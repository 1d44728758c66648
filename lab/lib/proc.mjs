// Background daemons the lab starts itself, tracked by pid files so `lab-down` stops exactly what it started.
import fs from 'node:fs'
import path from 'node:path'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { $ } from 'zx'
import { RUN, LOGS } from './paths.mjs'
import { LabError } from './step.mjs'

const pidFile = (name) => path.join(RUN, `${name}.pid`)
export const logFile = (name) => path.join(LOGS, `${name}.log`)

/** The pid of a running daemon the lab started, or undefined (a recycled pid running another program does not count). */
export function runningPid(name) {
  try {
    const [pid, cmd] = fs.readFileSync(pidFile(name), 'utf8').split('\n')
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]
    return cmdline === cmd ? Number(pid) : undefined
  } catch {
    return undefined
  }
}

/** The arguments (without the command) a running daemon was started with, or undefined when it is not running. */
export function runningArgs(name) {
  const pid = runningPid(name)
  if (!pid) return undefined
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1, -1)
  } catch {
    return undefined
  }
}

/** Starts a detached daemon with its output in the lab log folder; returns its pid. */
export function startDaemon(name, cmd, args, { env = {}, cwd } = {}) {
  fs.mkdirSync(RUN, { recursive: true })
  fs.mkdirSync(LOGS, { recursive: true })
  const out = fs.openSync(logFile(name), 'a')
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out], env: { ...process.env, ...env }, cwd })
  child.unref()
  fs.writeFileSync(pidFile(name), `${child.pid}\n${cmd}`)
  return child.pid
}

/** Stops a daemon the lab started (TERM, then KILL after a grace period). */
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Last lines of a daemon's log, for error messages. */
export function logTail(name, lines = 15) {
  try {
    return fs.readFileSync(logFile(name), 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** Waits until check() is truthy; fails with the daemon's log tail after timeoutMs. */
export async function waitFor(name, check, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check().catch(() => false)) return
    await sleep(250)
  }
  throw new LabError(`${name} did not become ready in ${timeoutMs / 1000}s`, `log tail (${logFile(name)}):\n${logTail(name)}`,
    'fix the cause shown in the log, then run `make lab-up` again')
}

/** True when something accepts TCP connections on host:port. */
export function portOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host }, () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
    s.setTimeout(1000, () => { s.destroy(); resolve(false) })
  })
}

/** Fails clearly when a port the lab needs is held by a process the lab did not start. */
export async function ensurePortFree(name, port, envVar) {
  if (runningPid(name) || !(await portOpen(port))) return
  const owner = (await $`ss -ltnpH sport = :${port}`.nothrow().quiet()).stdout.trim()
  throw new LabError(`port ${port} on 127.0.0.1 is taken`, `${name} needs it, and it is held by another process${owner ? `: ${owner}` : ''}`,
    `stop that process, or choose another port with ${envVar}=<port> make lab-up`)
}
