// Module mode cannot run offline here; the SDK's own introspector proves what `dagger functions` would list.
import { beforeAll, describe, expect, it } from 'vitest'
import { introspect, type Surface } from './surface.js'
import { IMAGES } from '../src/config/images.js'
import { LAB_DEFAULTS } from './defaults.js'

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

  it('takes images, registry and the severity threshold as constructor options with online defaults', () => {
    const defaults = Object.fromEntries(surface.constructorArgs.map((a) => [a.name, a.defaultValue]))
    expect(defaults).toMatchObject({ builderImage: 'python:3.11-slim-bookworm', severity: 'CRITICAL,HIGH', trivyImage: 'docker.io/aquasec/trivy:0.76.0' })
    expect(surface.constructorArgs.map((a) => a.name)).toEqual(expect.arrayContaining(['registry', 'cosignImage', 'trivyDbRepository', 'commit']))
  })

  it('takes the stores\' exporters, pinned official images by default, then the public key images are verified with', () => {
    expect(surface.constructorArgs.slice(-3).map((a) => [a.name, `${a.type}${a.optional ? '?' : ''}`, a.defaultValue])).toEqual([
      ['postgresExporterImage', 'String?', 'quay.io/prometheuscommunity/postgres-exporter:v0.11.1'],
      ['redisExporterImage', 'String?', 'docker.io/oliver006/redis_exporter:v1.45.0'],
      ['publicKey', 'File?', undefined],
    ])
  })

  it('backs up, lists backups and restores an environment, with the kubeconfig as a Secret', () => {
    expect(args('backup')).toEqual({ env: 'EnvironmentName', kubeconfig: 'Secret', timeout: 'Integer?', cluster: 'Service?' })
    expect(args('backups')).toEqual({ env: 'EnvironmentName', kubeconfig: 'Secret', json: 'Boolean?', cluster: 'Service?' })
    expect(args('restore')).toEqual({ env: 'EnvironmentName', kubeconfig: 'Secret', from: 'String?', namespace: 'String?', timeout: 'Integer?', cluster: 'Service?' })
    for (const f of ['backup', 'backups', 'restore']) expect(fn(f).returns, f).toBe('String')
  })

  it('lists one function per step with typed arguments', () => {
    expect(args('build')).toEqual({ service: 'ServiceName' })
    expect(fn('build').returns).toBe('Container')
    expect(args('test')).toEqual({ service: 'ServiceName' })
    expect(fn('test').returns).toBe('File')
    expect(args('publish')).toMatchObject({ service: 'ServiceName', username: 'String?', password: 'Secret?' })
    expect(args('scan')).toEqual({ service: 'ServiceName', reportOnly: 'Boolean?' })
    expect(fn('scan').returns).toBe('Directory')
    expect(fn('sbom').returns).toBe('File')
    expect(args('sign')).toEqual({ ref: 'String', key: 'Secret', keyPassword: 'Secret', username: 'String?', password: 'Secret?' })
    expect(args('verify')).toEqual({ images: 'String', env: 'EnvironmentName?', json: 'Boolean?', username: 'String?', password: 'Secret?' })
    expect(fn('verify').description).toMatch(/Example: dagger call/)
    // deploy from source signs what its gate publishes; promote and rollback verify with the key's public half
    for (const f of ['deploy', 'promote', 'rollback']) expect(args(f)).toMatchObject({ signingKey: 'Secret?', signingPassword: 'Secret?' })
    expect(args('deploy')).toMatchObject({ env: 'EnvironmentName', kubeconfig: 'Secret', secrets: 'Secret?', images: 'String?', password: 'Secret?' })
    expect(fn('ci').returns).toBe('Directory')
    expect(args('ci')).toEqual({ services: 'String?', username: 'String?', password: 'Secret?', signingKey: 'Secret?', signingPassword: 'Secret?' })
  })

  it('takes every image option from the images table: its default is the table\'s (adding an image is one row and its parameter)', () => {
    const ctor = Object.fromEntries(surface.constructorArgs.map((a) => [a.name, a]))
    for (const [option, row] of Object.entries(IMAGES)) {
      expect(ctor[option], `constructor --${option}`).toMatchObject({ type: 'String', defaultValue: row.default })
    }
    expect(Object.keys(LAB_DEFAULTS)).toEqual(expect.arrayContaining(Object.keys(IMAGES)))
  })

  it('takes environments and services as enums: the CLI checks the value and --help lists them', () => {
    const arg = (f: string, a: string) => fn(f).args.find((x) => x.name === a)!
    for (const f of ['render', 'plan', 'deploy', 'rollback', 'history', 'verify']) expect(arg(f, 'env').values, f).toEqual(['dev', 'staging', 'prod'])
    for (const a of ['from', 'to']) expect(arg('promote', a).values).toEqual(['dev', 'staging', 'prod'])
    for (const f of ['build', 'test', 'testEnv', 'publish', 'scan', 'sbom']) expect(arg(f, 'service').values, f).toEqual(['api', 'analytics', 'dashboard'])
    expect(arg('verify', 'env').defaultValue).toBe('prod')
  })

  it('documents every function and argument (they become `dagger call --help`)', () => {
    const undocumented = [
      ...surface.constructorArgs.filter((a) => !a.description).map((a) => `constructor --${a.name}`),
      ...surface.functions.filter((f) => !f.description).map((f) => f.name),
      ...surface.functions.flatMap((f) => f.args.filter((a) => !a.description).map((a) => `${f.name} --${a.name}`)),
    ]
    expect(undocumented).toEqual([])
    // and each function shows one way to call it
    const kebabName = (n: string) => n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
    expect(surface.functions.filter((f) => !new RegExp(`Example: dagger call (--\\S+ \\S+ )*${kebabName(f.name)}\\b`).test(f.description)).map((f) => f.name)).toEqual([])
  })
})

describe('module loading (dagger.json)', () => {
  it('keeps the test files out of the module: the TypeScript runtime imports every .ts file under src/', async () => {
    const fs = await import('node:fs')
    const path = await import('node:path')
    const { default: picomatch } = await import('picomatch')
    const root = path.resolve(import.meta.dirname, '../..')
    const config = JSON.parse(fs.readFileSync(path.join(root, 'dagger.json'), 'utf8')) as { source: string; include?: string[] }
    const excluded = (config.include ?? []).filter((p) => p.startsWith('!')).map((p) => picomatch(p.slice(1)))
    const tests = fs.readdirSync(path.join(root, config.source, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.test.ts')).map((f) => path.posix.join(config.source, 'src', f))
    expect(tests.length).toBeGreaterThan(0)
    expect(tests.filter((t) => !excluded.some((m) => m(t)))).toEqual([])
  })
})
