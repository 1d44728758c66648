// Tests that deploy to the lab's application namespaces (graphmemory-dev/staging/prod) run one at a time: two of them
// promoting into the same environment would meet at the deploy lock (or see each other's digests). The lab test
// project already runs its files one at a time (vitest.config.ts); this lock also holds across processes, e.g. two
// vitest runs against one lab.
//
// The lock is a listening Unix socket in Linux's abstract namespace, not a file: binding a name is atomic (exactly one
// taker wins, the others get EADDRINUSE), and the kernel frees the name the moment its holder exits or is killed. So
// there is no stale lock to detect or take over, and no window in which two waiters both take a dead holder's lock
// (the race of a pid file, and of mkdir-based lock libraries, which delete a stale lock and then re-create it).
import net from 'node:net'

/** The lock's name in the abstract namespace (a leading NUL byte: no file on disk). */
export const ENVIRONMENTS_LOCK = '\0graphmemory-lab-environments'

export interface LockOptions {
  /** The lock's name (default: ENVIRONMENTS_LOCK); tests of the lock use names of their own. */
  name?: string
  /** How often a waiter tries again, in milliseconds (default: 250). */
  pollMs?: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Binds the lock's name: the bound server when this process took it, undefined when another holder has it. */
function tryTake(name: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)))
    server.listen({ path: name, exclusive: true }, () => resolve(server))
  })
}

/** Runs fn while holding the lab environments' lock, waiting for the current holder (if any) to finish or die. */
export async function withLabEnvironments<T>(fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const name = opts.name ?? ENVIRONMENTS_LOCK
  let held = await tryTake(name)
  while (!held) {
    await sleep(opts.pollMs ?? 250)
    held = await tryTake(name)
  }
  const lock = held
  try {
    return await fn()
  } finally {
    await new Promise((r) => lock.close(r))
  }
}
