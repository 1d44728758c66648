// Tests that deploy to the lab's application namespaces (graphmemory-dev/staging/prod) run one at a time: vitest runs
// test files in parallel, and two of them promoting into the same environment would meet at the deploy lock (or see
// each other's digests). A file lock on this machine, freed when its holder ends (a dead holder's lock is taken over).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const LOCK = path.join(os.tmpdir(), 'graphmemory-lab-environments.lock')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Runs fn while holding the lab environments' lock. */
export async function withLabEnvironments<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' })
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number(fs.readFileSync(LOCK, 'utf8') || 0)
      if (holder && !alive(holder)) fs.rmSync(LOCK, { force: true })
      else await sleep(1000)
    }
  }
  try {
    return await fn()
  } finally {
    fs.rmSync(LOCK, { force: true })
  }
}
