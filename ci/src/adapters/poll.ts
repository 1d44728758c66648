// The pipeline's one wait for a condition (ci/ must not import lab/, whose tests have lab/lib/until.testkit.ts).

/** How a poll waits. */
export interface PollOptions<T> {
  /** How long it may wait, from the first check. */
  timeoutMs: number
  /** The pause between two checks. */
  everyMs: number
  /**
   * Called once the time is up: it throws the error naming what was waited for and the last state seen (or returns
   * the caller's verdict on a wait that ran out, which the caller then reports).
   */
  onTimeout: () => T
}

/**
 * Calls `check` until it gives a value other than undefined and resolves to it; an error from `check` ends the wait
 * at once (a state that will never come right). After `timeoutMs` it resolves to `onTimeout()`: it never carries on.
 */
export async function poll<T>(check: () => Promise<T | undefined>, { timeoutMs, everyMs, onTimeout }: PollOptions<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() >= deadline) return onTimeout()
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
