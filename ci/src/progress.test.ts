import { describe, expect, it } from 'vitest'
import { Progress, formatSummary } from './progress.js'

describe('progress', () => {
  it('records each step with its outcome and prints a line as it starts and as it ends', async () => {
    const lines: string[] = []
    const progress = new Progress((l) => lines.push(l))
    expect(await progress.step('build', 'api', async () => 42)).toBe(42)
    await expect(progress.step('test', 'api', async () => { throw new Error('2 failed\nmore') })).rejects.toThrow('2 failed')
    progress.skip('publish', undefined, 'a check failed')
    expect(lines).toHaveLength(5)
    expect(lines[0]).toBe('▶ api build')
    expect(lines[1]).toMatch(/^✓ api build\s+\d+\.\ds$/)
    expect(lines[2]).toBe('▶ api test')
    expect(lines[3]).toMatch(/^✗ api test\s+\d+\.\ds {2}2 failed$/)
    const summary = progress.summary()
    expect(summary.ok).toBe(false)
    expect(summary.steps.map((s) => s.status)).toEqual(['ok', 'failed', 'skipped'])
    expect(formatSummary(summary).split('\n').at(-1)).toMatch(/^FAILED: api test \(/)
  })

  it('a run without failures is ok', async () => {
    const progress = new Progress(() => {})
    await progress.step('build', 'api', async () => 1)
    expect(progress.summary().ok).toBe(true)
    expect(formatSummary(progress.summary())).toMatch(/ok: 1 steps in/)
  })
})
