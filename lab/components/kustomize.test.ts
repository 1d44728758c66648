// The kustomize lab component on a warm machine (`make lab-up`): the image in the mirror, its version and user, and a
// second up() that does nothing.
import { execFileSync } from 'node:child_process'
import { beforeAll, describe, expect, it } from 'vitest'
import * as kustomize from './kustomize.mjs'

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim()

describe('kustomize lab component', () => {
  const image = kustomize.env().LAB_IMAGE_KUSTOMIZE

  beforeAll(async () => {
    const [row] = await kustomize.status()
    if (row.state !== 'ok') throw new Error(`the lab's kustomize image is ${row.state}: run \`make lab-up\` first`)
  })

  it('publishes the image it built as LAB_IMAGE_KUSTOMIZE, in the mirror', () => {
    expect(image).toBe(`127.0.0.1:5000/gmi-lab/kustomize:${kustomize.VERSION}`)
  })

  it('a second up() finds the image current and builds nothing', async () => {
    const t0 = performance.now()
    expect((await kustomize.up()).note).toBe(`${image} current`)
    expect(performance.now() - t0).toBeLessThan(5000)
  })

  it('the image runs kustomize at the stamped version, as a non-root user', () => {
    expect(docker('run', '--rm', image, 'version')).toBe(kustomize.VERSION)
    expect(docker('run', '--rm', '--entrypoint', 'id', image, '-u')).toBe(String(kustomize.UID))
  })
})
