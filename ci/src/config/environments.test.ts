import { describe, expect, it } from 'vitest'
import { ENVIRONMENT_NAMES, PROMOTION_ORDER, UnknownEnvironmentError, environment, nextEnvironment } from './environments.js'

describe('environments', () => {
  it('describes dev, staging and prod with their namespace and overlay', () => {
    expect(ENVIRONMENT_NAMES).toEqual(['dev', 'staging', 'prod'])
    for (const name of ENVIRONMENT_NAMES) {
      const e = environment(name)
      expect(e).toMatchObject({ name, namespace: `graphmemory-${name}`, overlay: `overlays/${name}` })
      expect(e.replicas).toBeGreaterThanOrEqual(1)
      expect(e.replicas).toBeLessThanOrEqual(10)
    }
  })

  it('promotes dev → staging → prod, and nothing after prod', () => {
    expect(PROMOTION_ORDER).toEqual(['dev', 'staging', 'prod'])
    expect(nextEnvironment('dev')?.name).toBe('staging')
    expect(nextEnvironment('staging')?.name).toBe('prod')
    expect(nextEnvironment('prod')).toBeUndefined()
    expect(environment('staging').promotesFrom).toBe('dev')
    expect(environment('prod').promotesFrom).toBe('staging')
    expect(environment('dev').promotesFrom).toBeUndefined()
  })

  it('an unknown name fails with one message listing the valid names', () => {
    for (const bad of ['production', 'Prod', 'qa', 'toString', '__proto__', ' dev']) {
      expect(() => environment(bad)).toThrow(UnknownEnvironmentError)
      expect(() => environment(bad)).toThrow(`unknown environment "${bad}": valid environments are dev, staging, prod`)
    }
    expect(() => environment('')).toThrow('no environment given: valid environments are dev, staging, prod')
    expect(() => nextEnvironment('qa')).toThrow('valid environments are dev, staging, prod')
  })

  it('cannot be changed at run time', () => {
    const dev = environment('dev') as { replicas: number }
    expect(() => { dev.replicas = 5 }).toThrow(TypeError)
  })
})
