// The pure parts of reaching loopback registries (the tunnel itself is exercised by the scan and sign tests).
import { describe, expect, it } from 'vitest'
import { aliasOf, isLoopback, rehost, unalias } from './loopback.js'
import { digestOnly } from './cosign.js'

describe('loopback registries', () => {
  it('knows the host loopback from other registries', () => {
    expect(['127.0.0.1:5001', '127.0.0.1', 'localhost:5000', '[::1]:5000'].map(isLoopback)).toEqual([true, true, true, true])
    expect(['ghcr.io', 'mirror.gcr.io', '10.0.0.1:5000', '127.0.0.1.example.com'].map(isLoopback)).toEqual([false, false, false, false])
  })

  it('rewrites references to the alias and messages back', () => {
    expect(aliasOf('127.0.0.1:5001')).toBe('host-registry-5001')
    expect(rehost('127.0.0.1:5001/a/b@sha256:1', '127.0.0.1:5001', 'host-registry-5001:5001')).toBe('host-registry-5001:5001/a/b@sha256:1')
    expect(rehost('ghcr.io/a/b:1', 'ghcr.io', 'ghcr.io')).toBe('ghcr.io/a/b:1')
    expect(unalias('GET http://host-registry-5001:5001/v2/a: UNAUTHORIZED', '127.0.0.1:5001')).toBe('GET http://127.0.0.1:5001/v2/a: UNAUTHORIZED')
  })

  it('names an image by digest alone for cosign', () => {
    const d = `sha256:${'a'.repeat(64)}`
    expect(digestOnly(`127.0.0.1:5001/lab/x:tag@${d}`)).toBe(`127.0.0.1:5001/lab/x@${d}`)
    expect(digestOnly(`127.0.0.1:5001/lab/x@${d}`)).toBe(`127.0.0.1:5001/lab/x@${d}`)
    expect(digestOnly('127.0.0.1:5001/lab/x:tag')).toBe('127.0.0.1:5001/lab/x:tag')
  })
})
