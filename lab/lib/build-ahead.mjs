// lab-up's builds, started ahead: every component's Go builds run in the background, `jobs` at a time in start order,
// while the components start one by one. On two cores a single `go build` leaves a core idle in its downloads and its
// link (one thread), so two builds at a time keep both busy; each up() waits for its own build before it starts.

/** How many component builds run at once: LAB_BUILD_JOBS, or 2 when it is unset, 0 or not a number. */
export const buildJobs = (env = process.env) => Math.max(1, Number(env.LAB_BUILD_JOBS) || 2)

/**
 * Starts every component's `build()` (components without one are skipped), `jobs` at a time, in the order given.
 * Returns, per component, a promise that settles when its build ended: it never rejects, since the component's own
 * up() builds again (goBuild shares what this process built) and reports a failure as its step's error.
 * @template {{ name: string, build?: () => Promise<unknown> }} C
 * @param {C[]} components
 * @param {number} [jobs]
 * @returns {Map<C, Promise<void>>}
 */
export function buildAhead(components, jobs = buildJobs()) {
  /** @type {Map<C, { promise: Promise<void>, start: () => void }>} */
  const slots = new Map()
  for (const c of components) {
    if (!c.build) continue
    /** @type {() => void} */
    let start = () => undefined
    const started = new Promise((resolve) => { start = () => resolve(undefined) })
    const build = /** @type {() => Promise<unknown>} */ (c.build)
    slots.set(c, { promise: started.then(() => build()).then(() => undefined, () => undefined), start })
  }
  const queue = [...slots.values()]
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      next.start()
      await next.promise
    }
  }
  for (let i = 0; i < Math.min(jobs, queue.length); i++) void worker()
  return new Map([...slots].map(([c, s]) => [c, s.promise]))
}
