// The lab's component contract (lab/components/README.md), checked for every component in index.mjs by
// `npx tsc -p lab` (lab/tsconfig.json: checkJs over lab/**/*.mjs).

/** One line of `make lab-status`. */
export interface StatusRow {
  /** The component's (or its part's) short name. */
  name: string
  /** ok: running and answering; down: set up but not running (or not answering); missing: not built or installed. */
  state: 'ok' | 'down' | 'missing'
  version?: string
  /** Where it answers, or what it holds. */
  address?: string
}

/** What `up()` may hand back: a note for the progress line; anything else is the component's own. */
export interface UpResult {
  note?: string
}

/** What `down()` may hand back: a note for the progress line. */
export interface DownResult {
  note?: string
}

/** One component of the lab: a module of lab/components that exports these. */
export interface Component {
  /** Short name shown in progress and status lines. */
  readonly name: string
  /** Idempotent: a second call on a warm machine does (almost) nothing. */
  up(): Promise<UpResult | void>
  /** Stops only what the lab started (pid files, see lib/proc.mjs). */
  down(): Promise<DownResult | void>
  /** One row or more for `make lab-status`. */
  status(): Promise<StatusRow[]>
  /** Variables written to the lab env file (state/lab.env). */
  env?(): Record<string, string>
  /**
   * Its Go builds alone (cached: a second call builds nothing), which lab-up starts ahead, two at a time, before the
   * components start (lib/build-ahead.mjs); up() builds through the same function.
   */
  build?(): Promise<unknown>
}
