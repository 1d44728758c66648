import { describe, expect, it } from 'vitest'
import { parseCall, helpText, kebab } from './args.js'
import type { Surface } from './surface.js'

const surface: Surface = {
  object: 'GraphmemoryIde', description: 'the pipeline',
  constructorArgs: [
    { name: 'source', description: 'repo', type: 'Directory', optional: true, defaultPath: '/' },
    { name: 'registry', description: 'where', type: 'String', optional: true, defaultValue: 'ghcr.io/x' },
    { name: 'verbose', description: 'chatty', type: 'Boolean', optional: true },
  ],
  functions: [
    { name: 'build', description: 'Build one.', returns: 'Container', args: [{ name: 'service', description: 'which', type: 'ServiceName', optional: false, values: ['api', 'dashboard'] }] },
    { name: 'testEnv', description: 'Env.', returns: 'Container', args: [{ name: 'service', description: 'which', type: 'String', optional: false }] },
    { name: 'ci', description: 'All.', returns: 'Directory', args: [{ name: 'password', description: 'pw', type: 'Secret', optional: true }] },
  ],
}

describe('library-mode command line', () => {
  it('splits constructor flags, function and function flags', () => {
    const call = parseCall(['--registry', '127.0.0.1:5001', '--verbose', 'build', '--service=api', '-o', 'out'], surface)
    expect(call.constructorArgs).toEqual({ registry: '127.0.0.1:5001', verbose: 'true' })
    expect(call.fn.name).toBe('build')
    expect(call.args).toEqual({ service: 'api' })
    expect(call.output).toBe('out')
  })

  it('takes kebab-case function names', () => {
    expect(parseCall(['test-env', '--service', 'api'], surface).fn.name).toBe('testEnv')
    expect(kebab('commitTime')).toBe('commit-time')
  })

  it('an unknown function lists the known ones', () => {
    expect(() => parseCall(['deploy'], surface)).toThrow(/unknown function "deploy".*build, test-env, ci/s)
  })

  it('an unknown flag lists the flags of that function', () => {
    expect(() => parseCall(['build', '--svc', 'api'], surface)).toThrow(/unknown flag --svc of build.*--service \(required\)/s)
  })

  it('a missing required argument is named', () => {
    expect(() => parseCall(['build'], surface)).toThrow(/build needs --service/)
  })

  it('a flag without its value is refused', () => {
    expect(() => parseCall(['ci', '--password'], surface)).toThrow(/--password has no value/)
  })

  it('an enum flag takes only its values, and says which', () => {
    expect(parseCall(['build', '--service', 'api'], surface).args).toEqual({ service: 'api' })
    expect(() => parseCall(['build', '--service', 'web'], surface)).toThrow(/--service "web" is not a valid ServiceName: it takes one of api, dashboard/)
    expect(() => parseCall(['build', '--service=API'], surface)).toThrow(/not a valid ServiceName/)
  })

  it('help lists every function and a function help lists its flags, an enum\'s values with it', () => {
    expect(helpText(surface)).toMatch(/build\s+Build one\.[\s\S]*test-env[\s\S]*--registry String/)
    expect(helpText(surface, 'build')).toMatch(/--service ServiceName \(api \| dashboard\) \(required\)/)
  })
})
