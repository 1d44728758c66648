// Module mode cannot run offline here; the SDK's own introspector proves what `dagger functions` would list.
import { beforeAll, describe, expect, it } from 'vitest'
import { introspect, type Surface } from './surface.js'

let surface: Surface
beforeAll(async () => { surface = await introspect() }, 180000)

const fn = (name: string) => {
  const found = surface.functions.find((f) => f.name === name)
  if (!found) throw new Error(`no function ${name}`)
  return found
}
const args = (name: string) => Object.fromEntries(fn(name).args.map((a) => [a.name, `${a.type}${a.optional ? '?' : ''}`]))

describe('module surface (the SDK introspector, offline)', () => {
  it('has the main object of the module with a description', () => {
    expect(surface.object).toBe('GraphmemoryIde')
    expect(surface.description).toMatch(/delivery pipeline/)
  })

  it('takes the repository from defaultPath "/" without .git or node_modules', () => {
    const source = surface.constructorArgs.find((a) => a.name === 'source')
    expect(source).toMatchObject({ type: 'Directory', defaultPath: '/' })
    expect(source?.ignore).toEqual(expect.arrayContaining(['.git', '**/node_modules']))
  })

  it('lists one function per step with typed arguments', () => {
    expect(args('build')).toEqual({ service: 'String' })
    expect(fn('build').returns).toBe('Container')
    expect(args('test')).toEqual({ service: 'String' })
    expect(fn('test').returns).toBe('File')
    expect(args('publish')).toMatchObject({ service: 'String', username: 'String?', password: 'Secret?' })
    expect(fn('ci').returns).toBe('Directory')
    expect(args('ci')).toMatchObject({ services: 'String?', password: 'Secret?' })
  })

  it('documents every function and argument (they become `dagger call --help`)', () => {
    const undocumented = [
      ...surface.constructorArgs.filter((a) => !a.description).map((a) => `constructor --${a.name}`),
      ...surface.functions.filter((f) => !f.description).map((f) => f.name),
      ...surface.functions.flatMap((f) => f.args.filter((a) => !a.description).map((a) => `${f.name} --${a.name}`)),
    ]
    expect(undocumented).toEqual([])
  })
})
