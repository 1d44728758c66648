// The lab's one poll loop, one run-or-explain and free-port helpers (lab/lib/proc.mjs), with real timers, processes and
// sockets.
import net from 'node:net'
import * as k8s from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { freePort, listenOnFreePort, pollUntil, runOrExplain } from './proc.mjs'
import { LabError } from './step.mjs'

describe('pollUntil', () => {
  it('resolves to the first value that is done, counting a rejection as "not yet"', async () => {
    let calls = 0
    const value = await pollUntil(async () => {
      calls++
      if (calls === 1) throw new Error('not reachable yet')
      return calls
    }, { timeoutMs: 5000, everyMs: 10, done: (n) => n >= 3, onTimeout: () => new Error('timed out') })
    expect(value).toBe(3)
    expect(calls).toBe(3)
  })

  it('never carries on after its deadline: it throws what onTimeout makes of the last value or error', async () => {
    const t0 = Date.now()
    await expect(pollUntil(async () => 'still waiting', {
      timeoutMs: 200, everyMs: 20, done: () => false, onTimeout: (last) => new Error(`gave up on: ${String(last)}`),
    })).rejects.toThrow('gave up on: still waiting')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200)
    await expect(pollUntil(async () => { throw new Error('refused') }, {
      timeoutMs: 50, everyMs: 10, onTimeout: async (last) => new Error(`last error: ${(last as Error).message}`),
    })).rejects.toThrow('last error: refused')
  })

  it('hands onTimeout a description of what it last saw: a thrown error\'s message, describe(value), or the value as JSON', async () => {
    const seen = (check: () => Promise<{ phase: string }>, describe?: (v: { phase: string }) => string) =>
      pollUntil(check, { timeoutMs: 30, everyMs: 10, done: () => false, describe, onTimeout: (_, s) => new Error(s) }).catch((e: Error) => e.message)
    expect(await seen(async () => { throw new Error('connection refused') }, (v) => `phase ${v.phase}`)).toBe('connection refused')
    expect(await seen(async () => ({ phase: 'Pending' }), (v) => `phase ${v.phase}`)).toBe('phase Pending')
    expect(await seen(async () => ({ phase: 'Pending' }))).toBe('{"phase":"Pending"}')
    expect(await pollUntil(async () => undefined, { timeoutMs: 30, everyMs: 10, onTimeout: (_, s) => new Error(s) }).catch((e: Error) => e.message)).toBe('undefined')
  })

  it('describes a request the API server refused in its own words', async () => {
    const refused = new k8s.ApiException(403, 'Forbidden', { reason: 'Forbidden', message: 'pods is forbidden: exceeded quota' }, {})
    const message = await pollUntil(async () => { throw refused }, { timeoutMs: 30, everyMs: 10, onTimeout: (_, s) => new Error(s) }).catch((e: Error) => e.message)
    expect(message).toBe('403 Forbidden: pods is forbidden: exceeded quota')
  })
})

describe('runOrExplain', () => {
  it('resolves to the output of a command that succeeds', async () => {
    expect((await runOrExplain(['sh', '-c', 'echo "$0"', 'an argument with spaces'], { what: 'x', fix: 'y' })).stdout).toBe('an argument with spaces\n')
  })

  it('fails with one LabError: what, the tail of stderr (and stdout when asked), what to do', async () => {
    const failing = ['sh', '-c', 'echo out; for i in 1 2 3 4 5; do echo "line $i" >&2; done; exit 3']
    const err = await runOrExplain(failing, { what: 'the thing failed', fix: 'do this', tail: 2 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LabError)
    expect((err as Error).message).toBe('the thing failed: line 4\nline 5\n  → do this')
    const both = await runOrExplain(failing, { what: 'w', fix: 'f', tail: 1, withStdout: true }).catch((e: unknown) => e)
    expect((both as Error).message).toBe('w: out\n  → f')
  })
})

describe('free ports', () => {
  it('freePort gives a port nothing listens on; listenOnFreePort binds one and says which', async () => {
    const port = await freePort()
    const server = net.createServer()
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve))
    server.close()
    const other = net.createServer()
    const bound = await listenOnFreePort(other)
    expect((other.address() as net.AddressInfo).port).toBe(bound)
    other.close()
  })
})
