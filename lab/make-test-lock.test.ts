// `make test` one run at a time on a machine (the Makefile's TEST_LOCK): a second run waits for the first, saying so,
// and gives up with a clear message after TEST_LOCK_WAIT. The suites are replaced by an echo (test-suites=...): what
// is checked is the Makefile's lock, with the real make and flock.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'

const REPO = path.resolve(import.meta.dirname, '..')
const locks: string[] = []
const lockFile = () => { locks.push(path.join(os.tmpdir(), `gmi-make-test-${crypto.randomBytes(4).toString('hex')}.lock`)); return locks.at(-1)! }
const held = (lock: string) => spawnSync('flock', ['-n', lock, 'true']).status !== 0
let holder: ChildProcess | undefined

/** Another `make test` stood for by a process that holds the lock for `seconds`. */
async function holdLock(lock: string, seconds: number): Promise<void> {
  holder = spawn('flock', [lock, 'sleep', String(seconds)], { stdio: 'ignore', detached: true }) // its own group: sleep holds the lock too
  await expect.poll(() => held(lock), { timeout: 5000, interval: 50 }).toBe(true)
}

const makeTest = (lock: string, ...vars: string[]) =>
  spawnSync('make', ['-s', '--no-print-directory', 'test', `TEST_LOCK=${lock}`, 'test-suites=echo the suites ran', ...vars], { cwd: REPO, encoding: 'utf8' })

afterEach(() => {
  if (holder?.pid && holder.exitCode === null) process.kill(-holder.pid)
  for (const lock of locks.splice(0)) fs.rmSync(lock, { force: true })
})

describe('make test, one at a time on a machine', () => {
  it('runs the suites at once when no other run holds the lock, without a word about waiting', () => {
    const r = makeTest(lockFile())
    expect({ status: r.status, out: r.stdout.trim() }).toEqual({ status: 0, out: 'the suites ran' })
  })

  it('a second run waits for the first, saying so, and runs its suites once the first has ended', async () => {
    const lock = lockFile()
    await holdLock(lock, 3)
    const started = Date.now()
    const r = makeTest(lock)
    expect(r.status).toBe(0)
    expect(r.stdout).toContain(`another make test is running on this machine (it holds ${lock}) and would share the lab; waiting up to 3600 s`)
    expect(r.stdout.trim().split('\n').at(-1)).toBe('the suites ran')
    expect(held(lock)).toBe(false)
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000) // it waited for the holder, it did not run beside it
  })

  it('gives up after TEST_LOCK_WAIT seconds: a message naming the lock and what to do, a non-zero exit, no suite run', async () => {
    const lock = lockFile()
    await holdLock(lock, 30)
    const r = makeTest(lock, 'TEST_LOCK_WAIT=1')
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain(`another make test still holds ${lock} after 1 s: wait for it or stop it (\`fuser -v ${lock}\` names it), then run make test again`)
    expect(r.stdout).not.toContain('the suites ran')
  })
})
