// Timing helpers the bench scripts share: repeated calls timed one by one, and percentiles of the times.

/**
 * Milliseconds of `runs` sequential calls of `once` (after one warm-up call that is not counted), sorted ascending.
 * @param {() => Promise<unknown>} once
 * @param {number} runs
 */
export async function timeRuns(once, runs) {
  await once()
  const ms = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await once()
    ms.push(performance.now() - t0)
  }
  return ms.sort((a, b) => a - b)
}

/**
 * The `p` percentile (0..1) of ascending `sorted` times, with `digits` decimals.
 * @param {number[]} sorted
 * @param {number} p
 */
export const percentile = (sorted, p, digits = 1) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))].toFixed(digits)
