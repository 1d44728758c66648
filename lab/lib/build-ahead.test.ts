// buildAhead: the pool lab-up starts its components' builds in (no lab needed).
import { describe, expect, it } from 'vitest'
import { buildAhead, buildJobs } from './build-ahead.mjs'

/** A component whose build takes `ms` and records when it ran; `fail` makes it reject. */
function component(name: string, log: string[], ms = 20, fail = false) {
  return {
    name,
    build: async () => {
      log.push(`start ${name}`)
      await new Promise((r) => setTimeout(r, ms))
      log.push(`end ${name}`)
      if (fail) throw new Error(`${name} failed`)
    },
  }
}

describe('buildAhead', () => {
  it('runs the builds `jobs` at a time, in the order given, and skips components without one', async () => {
    const log: string[] = []
    const cs = [component('a', log, 30), { name: 'no-build' }, component('b', log, 10), component('c', log, 10), component('d', log, 10)]
    const ahead = buildAhead(cs, 2)
    expect([...ahead.keys()].map((c) => c.name)).toEqual(['a', 'b', 'c', 'd'])
    await Promise.all(ahead.values())
    // a and b start together; c takes b's place when b ends (a still runs); d takes the next free place
    expect(log.slice(0, 2)).toEqual(['start a', 'start b'])
    expect(log.indexOf('start c')).toBeGreaterThan(log.indexOf('end b'))
    expect(log.indexOf('start c')).toBeLessThan(log.indexOf('end a'))
    let running = 0
    let most = 0
    for (const line of log) { running += line.startsWith('start') ? 1 : -1; most = Math.max(most, running) }
    expect(most).toBe(2)
  })

  it('one at a time with jobs 1', async () => {
    const log: string[] = []
    await Promise.all(buildAhead([component('a', log), component('b', log)], 1).values())
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b'])
  })

  it('a failed build settles (the component\'s up() reports it) and the others still run', async () => {
    const log: string[] = []
    const ahead = buildAhead([component('a', log, 5, true), component('b', log)], 1)
    await expect(Promise.all(ahead.values())).resolves.toEqual([undefined, undefined])
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b'])
  })

  it('takes its width from LAB_BUILD_JOBS, 2 by default, at least 1', () => {
    expect(buildJobs({})).toBe(2)
    expect(buildJobs({ LAB_BUILD_JOBS: '3' })).toBe(3)
    expect(buildJobs({ LAB_BUILD_JOBS: '0' })).toBe(2)
    expect(buildJobs({ LAB_BUILD_JOBS: 'x' })).toBe(2)
  })
})
