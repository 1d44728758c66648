import { describe, expect, it } from 'vitest'
import { selectServices, serviceConfig, serviceNames } from './services.js'

describe('service configuration', () => {
  it('knows the three services with their Dockerfiles', () => {
    expect(serviceNames()).toEqual(['api', 'analytics', 'dashboard'])
    expect(serviceConfig('dashboard').dockerfile).toBe('docker/production/Dockerfile.streamlit')
  })

  it('an unknown name fails listing the known ones', () => {
    expect(() => serviceConfig('apii')).toThrow(/unknown service "apii".*api, analytics, dashboard/s)
  })

  it('selects all by default, named ones in the given order, and checks every name first', () => {
    expect(selectServices().map((s) => s.name)).toEqual(['api', 'analytics', 'dashboard'])
    expect(selectServices(['dashboard,api']).map((s) => s.name)).toEqual(['dashboard', 'api'])
    expect(() => selectServices(['api', 'web'])).toThrow(/unknown service "web"/)
  })
})
