// The lab environments' lock with real processes: takers in this process and in child processes (node with tsx's loader
// running the same module), a holder killed with SIGKILL. Every taker appends "<who> in" and "<who> out" to one log file around its
// critical section; mutual exclusion means the log alternates in/out of the same taker.
import { spawn, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { withLabEnvironments } from './environments-lock.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const REPO = path.join(HERE, '..')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const cleanups: Array<() => void> = []
afterEach(() => { while (cleanups.length) cleanups.pop()!() })

/** A lock name and a log file of this test's own (never the real lab lock). */
function scratch() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-lock-test-'))
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  return { dir, name: `\0graphmemory-lock-test-${crypto.randomBytes(6).toString('hex')}`, log: path.join(dir, 'log') }
}

/** The critical section of taker `who`: logs in, holds for `ms`, logs out. */
const section = (log: string, who: string, ms: number) => async () => {
  fs.appendFileSync(log, `${who} in\n`)
  await sleep(ms)
  fs.appendFileSync(log, `${who} out\n`)
}

/** Fails unless the log is a sequence of "X in" immediately followed by "X out"; returns the takers in order. */
function exclusive(log: string): string[] {
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n')
  expect(lines.length % 2, lines.join(', ')).toBe(0)
  const order: string[] = []
  for (let i = 0; i < lines.length; i += 2) {
    const who = lines[i].replace(/ in$/, '')
    expect([lines[i], lines[i + 1]], `overlapping critical sections: ${lines.join(', ')}`).toEqual([`${who} in`, `${who} out`])
    order.push(who)
  }
  return order
}

/** A child process that takes the lock and holds it for holdMs (forever when omitted); resolves once it holds it. */
function childTaker(scratchDir: string, name: string, log: string, who: string, holdMs?: number): { child: ChildProcess; holding: Promise<void>; done: Promise<number | null> } {
  const script = path.join(scratchDir, `${who}.mts`)
  fs.writeFileSync(script, [
    `import fs from 'node:fs'`,
    `import { withLabEnvironments } from ${JSON.stringify(path.join(HERE, 'environments-lock.ts'))}`,
    `await withLabEnvironments(async () => {`,
    `  fs.appendFileSync(${JSON.stringify(log)}, ${JSON.stringify(`${who} in\n`)})`,
    `  process.stdout.write('holding\\n')`,
    holdMs === undefined ? `  await new Promise(() => setInterval(() => {}, 1000))` : `  await new Promise((r) => setTimeout(r, ${holdMs}))`,
    `  fs.appendFileSync(${JSON.stringify(log)}, ${JSON.stringify(`${who} out\n`)})`,
    `}, { name: ${JSON.stringify(name)}, pollMs: 20 })`,
  ].join('\n'))
  // node with tsx's loader in the same process (the tsx CLI would run the script in a grandchild a SIGKILL misses)
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] })
  cleanups.push(() => child.kill('SIGKILL'))
  const holding = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('holding')) resolve() })
    child.once('exit', (code) => reject(new Error(`taker ${who} exited (${code}) before holding the lock`)))
  })
  const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return { child, holding, done }
}

describe('the lab environments lock', () => {
  it('two takers in one process run one after the other, both to the end', async () => {
    const { name, log } = scratch()
    const results = await Promise.all([
      withLabEnvironments(async () => { await section(log, 'a', 150)(); return 'a' }, { name, pollMs: 10 }),
      withLabEnvironments(async () => { await section(log, 'b', 150)(); return 'b' }, { name, pollMs: 10 }),
    ])
    expect(results).toEqual(['a', 'b'])
    expect(exclusive(log).sort()).toEqual(['a', 'b'])
  })

  it('is released after fn throws, and the error reaches the caller', async () => {
    const { name, log } = scratch()
    await expect(withLabEnvironments(async () => { throw new Error('deploy failed') }, { name })).rejects.toThrow('deploy failed')
    const t0 = performance.now()
    await withLabEnvironments(section(log, 'next', 0), { name, pollMs: 1000 })
    expect(performance.now() - t0, 'taken at the first try').toBeLessThan(500)
  })

  it("a holder killed with SIGKILL frees the lock at once, and two waiters in two processes take it one at a time", async () => {
    const { dir, name, log } = scratch()
    const holder = childTaker(dir, name, log, 'holder')
    await holder.holding
    // two waiters: this process and another child, both polling while the holder lives
    const waiter = childTaker(dir, name, log, 'child', 300)
    const local = withLabEnvironments(section(log, 'local', 300), { name, pollMs: 20 })
    await sleep(300)
    expect(fs.readFileSync(log, 'utf8')).toBe('holder in\n') // nobody took it from a live holder
    const killed = performance.now()
    holder.child.kill('SIGKILL')
    await holder.done
    await Promise.all([local, waiter.done.then((code) => expect(code).toBe(0))])
    expect(performance.now() - killed, 'no stale-lock timeout: both done within their 2 × 300 ms and some start-up').toBeLessThan(5000)
    // the dead holder never logged out; after it, the two waiters one at a time
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n')
    expect(lines[0]).toBe('holder in')
    fs.writeFileSync(log, `${lines.slice(1).join('\n')}\n`)
    expect(exclusive(log).sort()).toEqual(['child', 'local'])
  })
})
