// The lab tests' one wait for something to appear, on the lab's poll loop (lab/lib/proc.mjs pollUntil).
import { pollUntil } from './proc.mjs'

/**
 * Polls `fn` every `everyMs` until it gives a value (anything but undefined or false) and resolves to it; an error
 * counts as "not yet". After `timeoutMs` it fails naming `what` (and the last error, if any): it never carries on.
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60000, everyMs = 500): Promise<T> {
  const value = await pollUntil(fn, {
    timeoutMs, everyMs, done: (v) => v !== undefined && v !== false, describe: () => 'nothing yet',
    onTimeout: (_, seen) => new Error(`${what}: not seen after ${timeoutMs / 1000}s (${seen})`),
  })
  return value as T
}
