// Progress lines per step with durations, and the lab's one-message errors.

/** An error a user can act on: what failed, why, and what to do. */
export class LabError extends Error {
  constructor(what, why, fix) {
    super(`${what}: ${why}${fix ? `\n  → ${fix}` : ''}`)
    this.name = 'LabError'
  }
}

const seconds = (t0) => ((performance.now() - t0) / 1000).toFixed(1)

/** Runs fn as a named step and prints its duration; a failure names the step. */
export async function step(name, fn) {
  const t0 = performance.now()
  process.stdout.write(`▶ ${name}\n`)
  try {
    const result = await fn()
    process.stdout.write(`✓ ${name} (${seconds(t0)}s)${result?.note ? `: ${result.note}` : ''}\n`)
    return result
  } catch (err) {
    process.stdout.write(`✗ ${name} (${seconds(t0)}s)\n`)
    throw err
  }
}

/** Runs a lab command: one clear message and exit 1 on failure, exit 130 on Ctrl-C. */
export async function main(fn) {
  process.on('SIGINT', () => {
    process.stderr.write('\ninterrupted: the next `make lab-up` resumes where this stopped\n')
    process.exit(130)
  })
  try {
    await fn()
  } catch (err) {
    const msg = err instanceof LabError ? err.message : (err?.stack ?? String(err))
    process.stderr.write(`\nlab: ${msg}\n`)
    process.exit(1)
  }
}
