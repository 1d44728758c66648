// One error type for everything a user can fix: what failed, why, and what to do.

/** A failure the user can act on; its message says what, why and what to do. */
export class PipelineError extends Error {
  constructor(readonly what: string, readonly why: string, readonly fix: string) {
    super(`${what}: ${why}.\n  → ${fix}`)
    this.name = 'PipelineError'
  }
}

/** The message of any thrown value, without a stack. */
export const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err))
