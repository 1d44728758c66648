// The Docker engine from Debian's docker.io: installed when missing, started when not running.
import fs from 'node:fs'
import { $ } from 'zx'
import { ensureApt } from '../lib/apt.mjs'
import { startDaemon, runningPid, stopDaemon, waitFor, logTail, logFile } from '../lib/proc.mjs'
import { LabError } from '../lib/step.mjs'

export const name = 'docker'

/** Debian packages the lab uses on the host, installed with the engine. */
const HOST_PACKAGES = ['docker.io', 'docker-registry', 'debootstrap', 'apache2-utils', 'openssl', 'iptables', 'ca-certificates']

const answers = async () => (await $`docker info --format {{.ServerVersion}}`.nothrow().quiet()).exitCode === 0

export async function up() {
  const installed = await ensureApt(HOST_PACKAGES)
  if (await answers()) return { note: installed.length ? `installed ${installed.join(' ')}` : 'already running' }
  if (!fs.existsSync('/usr/sbin/dockerd')) {
    throw new LabError('dockerd is missing', '/usr/sbin/dockerd was not installed by docker.io', 'run `apt-get install --reinstall docker.io`')
  }
  startDaemon('dockerd', '/usr/sbin/dockerd', ['--host=unix:///var/run/docker.sock'])
  try {
    await waitFor('dockerd', answers, 60000)
  } catch {
    await stopDaemon('dockerd')
    throw new LabError('dockerd did not start', `log tail (${logFile('dockerd')}):\n${logTail('dockerd')}`,
      'fix the cause shown in the log (another dockerd running? iptables missing?), then run `make lab-up`')
  }
  return { note: 'started' }
}

export async function down() {
  // Only a dockerd the lab started is stopped; a system-managed one is left alone.
  if (runningPid('dockerd')) await stopDaemon('dockerd', 30000)
}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const r = await $`docker version --format {{.Server.Version}}`.nothrow().quiet()
  if (r.exitCode === 0) return [{ name, state: 'ok', version: r.stdout.trim(), address: 'unix:///var/run/docker.sock' }]
  return [{ name, state: fs.existsSync('/usr/sbin/dockerd') ? 'down' : 'missing' }]
}
