// Step helper: the per-environment deploy lock, a Lease in the environment's namespace. A second deploy is refused
// naming the holder; a lock left by a killed deploy expires and is taken over.
import os from 'node:os'
import type { KubeObject } from '../adapters/kubernetes.js'
import { isKubeError, type KubeClient } from '../adapters/kubernetes.js'
import { PipelineError } from '../errors.js'
import { LOCK_NAME, LOCK_SECONDS, leaseSpec, lockState, type LeaseLike } from '../plan/lock.js'

/** Who is deploying: user, host, process and what. */
export const holderIdentity = (what: string): string => `${os.userInfo().username}@${os.hostname()} pid ${process.pid}: ${what}`

const leaseRef = (namespace: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: LOCK_NAME, namespace })

/** The lock is held by another deploy. */
export class LockHeldError extends PipelineError {
  constructor(namespace: string, holder: string, since: string, expiresIn: number) {
    super(`another deploy holds the lock of ${namespace}`, `held by "${holder}" since ${since} (it expires in ${expiresIn} s unless renewed)`,
      'wait for it to finish and run again; a lock left by a killed deploy is taken over once it expires')
    this.name = 'LockHeldError'
  }
}

/** Takes the lock (refusing when another holder's lease is live), renews it every `renewMs` while fn runs, releases it after. */
export async function withLock<T>(kube: KubeClient, namespace: string, holder: string, fn: () => Promise<T>, log: (line: string) => void = () => {},
  renewMs = (LOCK_SECONDS * 1000) / 3): Promise<T> {
  const now = Date.now()
  const existing = await kube.get<KubeObject & LeaseLike>(leaseRef(namespace))
  const state = lockState(existing, now)
  if (state.state === 'held') throw new LockHeldError(namespace, state.holder, state.since, state.expiresIn)
  if (state.state === 'expired') log(`taking over the expired lock of ${namespace} from "${state.holder}"`)
  const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: LOCK_NAME, namespace }, spec: leaseSpec(holder, now) }
  let held: KubeObject
  try {
    held = existing
      ? await kube.replace({ ...lease, metadata: { ...lease.metadata, resourceVersion: existing.metadata?.resourceVersion } })
      : await kube.create(lease)
  } catch (err) {
    if (isKubeError(err, 'conflict')) {
      const now2 = lockState(await kube.get<KubeObject & LeaseLike>(leaseRef(namespace)), Date.now())
      if (now2.state === 'held') throw new LockHeldError(namespace, now2.holder, now2.since, now2.expiresIn)
    }
    throw err
  }
  const acquired = now
  const renew = setInterval(() => {
    held.spec = leaseSpec(holder, Date.now(), acquired)
    kube.replace(held).then((r) => { held = r }, (err) => log(`could not renew the deploy lock of ${namespace}: ${(err as Error).message}`))
  }, renewMs)
  try {
    return await fn()
  } finally {
    clearInterval(renew)
    await kube.delete(leaseRef(namespace)).catch((err) => log(`could not release the deploy lock of ${namespace}: ${(err as Error).message}`))
  }
}
