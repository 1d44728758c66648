// Which of the node's pods lab-up deletes as a shutdown's or an eviction's leftovers (deleteLeftoverPods).
import { describe, expect, it } from 'vitest'
import type { V1Pod } from '@kubernetes/client-node'
import { isLeftover } from './objects.mjs'

const pod = (phase: string, restartPolicy?: string, reason?: string): V1Pod => ({ spec: { containers: [], restartPolicy }, status: { phase, reason } })

describe('pods a machine shutdown or an eviction left behind', () => {
  it('are those that ended although their restart policy is Always (a Deployment\'s, a StatefulSet\'s, a DaemonSet\'s)', () => {
    expect(isLeftover(pod('Succeeded', 'Always'))).toBe(true) // the graceful node shutdown: containers exited 0
    expect(isLeftover(pod('Failed', 'Always', 'Evicted'))).toBe(true)
    expect(isLeftover(pod('Failed'))).toBe(true) // Always is the default
  })

  it('are not running pods, nor Jobs\' pods that ended on their own (their results are read from them)', () => {
    expect(isLeftover(pod('Running', 'Always'))).toBe(false)
    expect(isLeftover(pod('Pending', 'Always'))).toBe(false)
    expect(isLeftover(pod('Succeeded', 'Never'))).toBe(false)
    expect(isLeftover(pod('Failed', 'OnFailure'))).toBe(false)
  })
})
