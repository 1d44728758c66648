// Progress lines per step with durations, and the lab's one-message errors.

/** An error a user can act on: what failed, why, and what to do. */
export class LabError extends Error {
  /**
   * @param {string} what what failed
   * @param {string} why why it failed (what the tool or server answered)
   * @param {string} [fix] what to do about it
   */
  constructor(what, why, fix) {
    super(`${what}: ${why}${fix ? `\n  → ${fix}` : ''}`)
    this.name = 'LabError'
  }
}

/** @param {number} t0 */
/**
 * Seconds from t0 to t1 (both performance.now() readings) with one decimal, e.g. '2.5'.
 * @param {number} t0
 * @param {number} [t1] default: now
 */
export const seconds = (t0, t1 = performance.now()) => ((t1 - t0) / 1000).toFixed(1)

/**
 * The figures an `up()` that builds reports beside its note (bench/lab.mjs reads them): seconds from t0 to tBuilt (the
 * build) and from tBuilt to now (the start).
 * @param {number} t0
 * @param {number} tBuilt
 */
export const upFigures = (t0, tBuilt) => ({ buildSeconds: Number(seconds(t0, tBuilt)), startSeconds: Number(seconds(tBuilt)) })

/**
 * A note's ` (built x, image pushed in 12.3s)` for what an `up()` made between t0 and tBuilt; '' when it made nothing.
 * @param {unknown[]} made names of what was made, false for what was not
 * @param {number} t0
 * @param {number} tBuilt
 */
export function madeNote(made, t0, tBuilt) {
  const names = made.filter(Boolean)
  return names.length ? ` (${names.join(', ')} in ${seconds(t0, tBuilt)}s)` : ''
}

/**
 * Runs fn as a named step and prints its duration; a failure names the step.
 * @template {{ note?: string } | void} T
 * @param {string} name
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
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

/**
 * Runs a lab command: one clear message and exit 1 on failure, exit 130 on Ctrl-C.
 * @param {() => Promise<void>} fn
 */
export async function main(fn) {
  process.on('SIGINT', () => {
    process.stderr.write('\ninterrupted: the next `make lab-up` resumes where this stopped\n')
    process.exit(130)
  })
  try {
    await fn()
  } catch (err) {
    const msg = err instanceof LabError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
    process.stderr.write(`\nlab: ${msg}\n`)
    process.exit(1)
  }
}
