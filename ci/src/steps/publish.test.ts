import { describe, expect, it } from 'vitest'
import { serviceConfig } from '../config/services.js'
import { commitTag, imageRef } from './publish.js'
import { createdLabel } from './build.js'
import { pytestSummary } from './test.js'

describe('image naming', () => {
  it('tags with the commit, or dev for a dirty or missing one', () => {
    expect(commitTag('0123456789abcdef0123456789abcdef01234567')).toBe('0123456789ab')
    expect(commitTag('0123456789abcdef0123456789abcdef01234567-dirty')).toBe('dev')
    expect(commitTag('')).toBe('dev')
  })

  it('names the image under the registry and refuses a registry with a scheme', () => {
    expect(imageRef('127.0.0.1:5001', serviceConfig('api'), 'abc')).toBe('127.0.0.1:5001/graphmemory/api:abc')
    expect(() => imageRef('https://ghcr.io', serviceConfig('api'), 'abc')).toThrow(/registry "https:\/\/ghcr.io" is not usable/)
    expect(() => imageRef('', serviceConfig('api'), 'abc')).toThrow(/not usable/)
  })

  it('labels the creation time from the commit time', () => {
    expect(createdLabel(1700000000)).toBe('2023-11-14T22:13:20.000Z')
    expect(createdLabel(0)).toBe('unknown')
  })

  it('keeps the failing tests and the count from pytest output', () => {
    const out = 'tests/test_a.py ..F\n\nFAILED tests/test_a.py::test_x - assert 1 == 2\n1 failed, 2 passed in 0.3s\n'
    expect(pytestSummary(out)).toBe('FAILED tests/test_a.py::test_x - assert 1 == 2\n1 failed, 2 passed in 0.3s')
  })
})
