// The pipeline's one poll: resolves to the first value, ends at once on an error, ends at its timeout with onTimeout.
import { describe, expect, it } from 'vitest'
import { poll } from './poll.js'

describe('poll', () => {
  it('checks until a value comes and resolves to it, pausing between checks', async () => {
    let calls = 0
    const started = Date.now()
    const value = await poll(async () => (++calls === 3 ? 'up' : undefined), { timeoutMs: 5000, everyMs: 20, onTimeout: () => { throw new Error('timed out') } })
    expect({ value, calls }).toEqual({ value: 'up', calls: 3 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(40)
  })

  it('takes false, 0 and an empty string as values (only undefined means not yet)', async () => {
    for (const v of [false, 0, '']) {
      expect(await poll(async () => v, { timeoutMs: 100, everyMs: 10, onTimeout: () => { throw new Error('timed out') } })).toBe(v)
    }
  })

  it('fails with onTimeout\'s error naming the last state seen, after the timeout and not before', async () => {
    let seen = 0
    const started = Date.now()
    const wait = poll(async () => { seen++; return undefined }, {
      timeoutMs: 100, everyMs: 10, onTimeout: () => { throw new Error(`the thing: not there after 0.1 s (checked ${seen} times)`) },
    })
    await expect(wait).rejects.toThrow(/^the thing: not there after 0\.1 s \(checked \d+ times\)$/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(100)
    expect(seen).toBeGreaterThan(2)
  })

  it('resolves to onTimeout\'s verdict when it returns one instead of throwing', async () => {
    expect(await poll<string>(async () => undefined, { timeoutMs: 0, everyMs: 10, onTimeout: () => 'timed out' })).toBe('timed out')
  })

  it('ends at once on an error from the check, without waiting for the timeout', async () => {
    let calls = 0
    const started = Date.now()
    const wait = poll(async () => { if (++calls === 2) throw new Error('image cannot be pulled'); return undefined },
      { timeoutMs: 60000, everyMs: 10, onTimeout: () => { throw new Error('timed out') } })
    await expect(wait).rejects.toThrow('image cannot be pulled')
    expect({ calls, quick: Date.now() - started < 5000 }).toEqual({ calls: 2, quick: true })
  })
})
