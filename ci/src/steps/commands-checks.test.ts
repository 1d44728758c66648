// The deploy commands' checks that come before any work (no cluster, no engine reached): they must refuse here.
import type { Secret } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { deployEnvironment, promoteEnvironment, type DeployContext } from './commands.js'

/** A context whose every edge fails loudly if reached: a check that passes would touch one. */
const untouchable = (extra: Partial<DeployContext> = {}): DeployContext => ({
  source: new Proxy({}, { get: () => { throw new Error('the source was read') } }) as never,
  kustomizeImage: 'k', commit: 'c',
  images: {
    gate: () => { throw new Error('the gate ran') },
    pinned: {},
    verify: () => { throw new Error('verify ran') },
  },
  ...extra,
})
const kubeconfig = new Proxy({}, { get: () => { throw new Error('the kubeconfig was read') } }) as unknown as Secret

describe('deploy commands refuse before any work', () => {
  it('promote only along dev → staging → prod, one step at a time', async () => {
    await expect(promoteEnvironment(untouchable(), 'dev', 'prod', kubeconfig, undefined, undefined, 60))
      .rejects.toThrow(/cannot promote dev to prod: prod takes its releases from staging/)
    await expect(promoteEnvironment(untouchable(), 'prod', 'staging', kubeconfig, undefined, undefined, 60))
      .rejects.toThrow(/cannot promote prod to staging: staging takes its releases from dev/)
    await expect(promoteEnvironment(untouchable(), 'staging', 'dev', kubeconfig, undefined, undefined, 60))
      .rejects.toThrow(/dev takes its releases from no other environment \(it is the first\)/)
  })

  it('a deploy from source without what the gate needs is refused, naming what would be built', async () => {
    const ctx = untouchable({ cannotBuild: 'no signing key is given (every environment refuses unsigned images)' })
    await expect(deployEnvironment(ctx, 'prod', kubeconfig, undefined, '', 60))
      .rejects.toThrow(/cannot deploy prod from source: api, analytics, dashboard would be built, and no signing key is given/)
    const api = `r/graphmemory/api@sha256:${'a'.repeat(64)}`
    await expect(deployEnvironment(ctx, 'prod', kubeconfig, undefined, `graphmemory/api=${api}`, 60))
      .rejects.toThrow(/analytics, dashboard would be built/)
  })

  it('images without a digest are refused before anything is built', async () => {
    await expect(deployEnvironment(untouchable(), 'dev', kubeconfig, undefined, 'graphmemory/api=r/graphmemory/api:latest', 60))
      .rejects.toThrow(/image references refused: graphmemory\/api=r\/graphmemory\/api:latest has no digest/)
  })
})
