// Pure: the per-environment deploy lock is a coordination.k8s.io Lease. Who holds it, and may another deploy take it?

/** The Lease fields the decision reads. */
export interface LeaseLike {
  spec?: {
    holderIdentity?: string
    leaseDurationSeconds?: number
    renewTime?: string | Date
    acquireTime?: string | Date
  }
}

export type LockState = { state: 'free' } | { state: 'held'; holder: string; since: string; expiresIn: number } | { state: 'expired'; holder: string }

/** Name of the deploy lock Lease in an environment's namespace. */
export const LOCK_NAME = 'graphmemory-deploy'
/** How long a lock lives without renewal: a killed deploy's lock can be taken over after this. */
export const LOCK_SECONDS = 30

const ms = (t: string | Date | undefined): number => (t ? new Date(t).getTime() : 0)

/** The state of the lock at `now` (ms). A released lock has no holder. */
export function lockState(lease: LeaseLike | undefined, now: number): LockState {
  const holder = lease?.spec?.holderIdentity
  if (!lease || !holder) return { state: 'free' }
  const renewed = ms(lease.spec?.renewTime) || ms(lease.spec?.acquireTime)
  const expires = renewed + (lease.spec?.leaseDurationSeconds ?? LOCK_SECONDS) * 1000
  if (now >= expires) return { state: 'expired', holder }
  return { state: 'held', holder, since: new Date(ms(lease.spec?.acquireTime) || renewed).toISOString(), expiresIn: Math.ceil((expires - now) / 1000) }
}

/** The Lease spec of a holder acquiring (or renewing) at `now`. Kubernetes wants MicroTime: microsecond precision. */
export function leaseSpec(holder: string, now: number, acquiredAt = now): Record<string, unknown> {
  const micro = (t: number) => new Date(t).toISOString().replace('Z', '000Z')
  return { holderIdentity: holder, leaseDurationSeconds: LOCK_SECONDS, acquireTime: micro(acquiredAt), renewTime: micro(now) }
}
