import { describe, expect, it } from 'vitest'
import { explainRegistryError, registryOf } from './registry.js'

describe('registryOf', () => {
  it.each([
    ['127.0.0.1:5001/gmi/api:1', '127.0.0.1:5001'],
    ['ghcr.io/org/api@sha256:abc', 'ghcr.io'],
    ['localhost/api', 'localhost'],
    ['library/python:3.11', 'docker.io'],
    ['alpine', 'docker.io'],
  ])('%s → %s', (ref, host) => expect(registryOf(ref)).toBe(host))
})

describe('explainRegistryError', () => {
  it('names the registry and says authentication failed on a 401', () => {
    const e = explainRegistryError(new Error('failed to push: 401 Unauthorized'), 'r.example:5001', 'push of x')
    expect(e.message).toMatch(/r\.example:5001: authentication failed/)
  })
  it('keeps the first line of other failures', () => {
    const e = explainRegistryError(new Error('connection refused\nstack'), 'r:1', 'push of x')
    expect(e.message).toBe('push of x to r:1 failed: connection refused')
  })
})
