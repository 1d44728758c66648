// Step records of one run: a progress line as each step starts and as it ends (with its duration), and the run's summary.

export type StepStatus = 'ok' | 'failed' | 'skipped'

/** One finished step of a run. */
export interface StepRecord {
  step: string
  service?: string
  status: StepStatus
  seconds: number
  detail?: string
}

/** What a run prints and returns: one human line per step, and the same as JSON. */
export interface Summary {
  ok: boolean
  steps: StepRecord[]
  seconds: number
}

const MARK: Record<StepStatus, string> = { ok: '✓', failed: '✗', skipped: '-' }

/** One human line for a step record. */
export function formatRecord(r: StepRecord): string {
  const who = [r.service, r.step].filter(Boolean).join(' ')
  const detail = r.detail ? `  ${r.detail.split('\n')[0]}` : ''
  return `${MARK[r.status]} ${who.padEnd(20)} ${r.seconds.toFixed(1).padStart(6)}s${detail}`
}

/** Collects the steps of one run and prints a line as each one starts and ends. */
export class Progress {
  readonly steps: StepRecord[] = []
  private readonly started = performance.now()

  constructor(private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)) {}

  /** Runs fn as a named step: records its duration and outcome, prints its line, passes its result or error on. */
  async step<T>(step: string, service: string | undefined, fn: () => Promise<T>, detail?: (result: T) => string): Promise<T> {
    const t0 = performance.now()
    this.write(`▶ ${[service, step].filter(Boolean).join(' ')}`)
    try {
      const result = await fn()
      this.record({ step, service, status: 'ok', seconds: (performance.now() - t0) / 1000, detail: detail?.(result) })
      return result
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      this.record({ step, service, status: 'failed', seconds: (performance.now() - t0) / 1000, detail: message })
      throw err
    }
  }

  /** Records a step that did not run, and why. */
  skip(step: string, service: string | undefined, why: string): void {
    this.record({ step, service, status: 'skipped', seconds: 0, detail: why })
  }

  private record(r: StepRecord): void {
    this.steps.push(r)
    this.write(formatRecord(r))
  }

  /** The run so far: ok when no step failed. */
  summary(): Summary {
    return { ok: this.steps.every((s) => s.status !== 'failed'), steps: this.steps, seconds: (performance.now() - this.started) / 1000 }
  }
}

/** The human form of a summary: a line per step, then the verdict. */
export function formatSummary(summary: Summary): string {
  const failed = summary.steps.filter((s) => s.status === 'failed')
  const verdict = summary.ok
    ? `ok: ${summary.steps.length} steps in ${summary.seconds.toFixed(1)}s`
    : `FAILED: ${failed.map((s) => [s.service, s.step].filter(Boolean).join(' ')).join(', ')} (${summary.seconds.toFixed(1)}s)`
  return [...summary.steps.map(formatRecord), verdict].join('\n')
}
