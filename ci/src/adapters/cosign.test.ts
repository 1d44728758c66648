import { ExecError } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { registryUnanswered, twiceIfUnanswered } from './cosign.js'

/** A failed exec as the SDK reports it, cosign's words on stderr. */
const failedExec = (stderr: string) => new ExecError('exit code: 1', { cmd: ['cosign'], exitCode: 1, stdout: '', stderr, extensions: {} } as never)

/** A run that fails with `errors` in turn, then answers 'done'; counts its calls. */
function runs(...errors: unknown[]) {
  let calls = 0
  const run = async () => {
    const err = errors[calls++]
    if (err) throw err
    return 'done'
  }
  return { run, calls: () => calls }
}

describe('registryUnanswered', () => {
  it('is true for a connection the registry did not answer, not for what it holds', () => {
    expect(registryUnanswered('Get "https://127.0.0.1:5001/v2/": dial tcp 10.87.2.81:5001: i/o timeout')).toBe(true)
    expect(registryUnanswered('dial tcp 127.0.0.1:5001: connect: connection refused')).toBe(true)
    expect(registryUnanswered('no signatures found')).toBe(false)
    expect(registryUnanswered('no matching attestations: invalid signature when validating ASN.1 encoded signature')).toBe(false)
  })
})

describe('twiceIfUnanswered', () => {
  it('runs a cosign exec once more when it failed because the registry did not answer', async () => {
    const r = runs(failedExec('Error: signing [x]: dial tcp 10.87.2.196:5001: i/o timeout'))
    await expect(twiceIfUnanswered(r.run)).resolves.toBe('done')
    expect(r.calls()).toBe(2)
  })

  it('gives a second unanswered failure, any other failure, and errors that are not execs to the caller at once', async () => {
    const twice = runs(failedExec('connection reset by peer'), failedExec('dial tcp: i/o timeout (again)'))
    await expect(twiceIfUnanswered(twice.run)).rejects.toMatchObject({ stderr: 'dial tcp: i/o timeout (again)' })
    expect(twice.calls()).toBe(2)
    const refused = runs(failedExec('UNAUTHORIZED: authentication required'))
    await expect(twiceIfUnanswered(refused.run)).rejects.toBeInstanceOf(ExecError)
    expect(refused.calls()).toBe(1)
    const other = runs(new Error('connection refused by the engine session'))
    await expect(twiceIfUnanswered(other.run)).rejects.toThrow('engine session')
    expect(other.calls()).toBe(1)
  })

  it('runs once more when the result says a check went unanswered, and only once', async () => {
    let calls = 0
    const results = [{ output: 'i/o timeout' }, { output: 'i/o timeout' }]
    const got = await twiceIfUnanswered(async () => results[calls++], (r) => registryUnanswered(r.output))
    expect({ got, calls }).toEqual({ got: results[1], calls: 2 })
    calls = 0
    const fine = await twiceIfUnanswered(async () => ({ output: 'no signatures found', n: ++calls }), (r) => registryUnanswered(r.output))
    expect(fine).toEqual({ output: 'no signatures found', n: 1 })
  })
})
