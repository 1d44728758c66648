import { describe, expect, it } from 'vitest'
import { KubeError } from '../src/adapters/kubernetes.js'
import { labHint } from './lab-hint.js'

const lab = { KUBECONFIG_LAB: '/lab/admin.kubeconfig' }

describe('labHint', () => {
  it('points an unreachable or unauthorized lab cluster at the lab\'s targets', () => {
    expect(labHint(new KubeError('unreachable', 'm', 'ECONNREFUSED'), lab)).toMatch(/make lab-status.*make lab-up/)
    expect(labHint(new KubeError('unauthorized', 'm', '401', 401), lab)).toMatch(/KUBECONFIG_DEPLOYER/)
  })

  it('adds nothing outside the lab, for other kinds, or for other errors', () => {
    expect(labHint(new KubeError('unreachable', 'm', 'ECONNREFUSED'), {})).toBe('')
    expect(labHint(new KubeError('conflict', 'm', '409', 409), lab)).toBe('')
    expect(labHint(new Error('ECONNREFUSED'), lab)).toBe('')
  })
})
