// Step helper: the one executor of deploy operations (plan/operations.ts). It runs a list in order and stops at the
// first failure; every operation ends done, failed (with why) or skipped. Deploys, rollbacks and the way back after a
// failed release are all lists run here. Each operation is one span (deploy.apply, deploy.wait, …) of the run's trace.
import type { KubeClient, KubeObject } from '../adapters/kubernetes.js'
import { mayPrune } from '../plan/changes.js'
import { describeOperation, type Operation, type Outcome } from '../plan/operations.js'
import { inSpan, markFailed } from '../adapters/tracing.js'
import { markRelease, recordRelease } from './history.js'
import { FIELD_MANAGER } from './plan.js'
import { formatFailures, waitForRollout, type WaitOptions } from './rollout.js'

/** How operations run: the release's namespace, where lines go, how rollouts are polled. */
export interface ExecuteOptions {
  namespace: string
  log?: (line: string) => void
  /** Poll intervals of the rollout wait (its timeout comes with each wait operation). */
  wait?: Omit<WaitOptions, 'timeoutSeconds' | 'log'>
}

/** Runs one operation; resolves with undefined when done, or with why it failed. */
async function run(kube: KubeClient, op: Operation, opts: ExecuteOptions): Promise<string | undefined> {
  switch (op.kind) {
    case 'apply':
      await kube.apply(op.object, { fieldManager: FIELD_MANAGER })
      return undefined
    case 'wait': {
      const failures = await waitForRollout(kube, op.objects, { ...opts.wait, timeoutSeconds: op.timeoutSeconds, log: opts.log })
      return failures.length ? formatFailures(failures) : undefined
    }
    case 'prune': {
      // read again just before: an object relabelled (taken over) or made a never-pruned kind since the plan is kept
      if (!mayPrune(op.ref, await kube.get<KubeObject>(op.ref))) {
        opts.log?.(`kept: ${op.ref.kind} ${op.ref.name} (gone, or no longer the application's)`)
        return undefined
      }
      await kube.delete(op.ref)
      opts.log?.(`pruned: ${op.ref.kind} ${op.ref.name}`)
      return undefined
    }
    case 'record':
      await recordRelease(kube, opts.namespace, op.release, op.manifest)
      return undefined
    case 'mark':
      await markRelease(kube, opts.namespace, op.release, op.status)
      return undefined
  }
}

/** Runs `operations` in order; after the first failure the rest are skipped. Returns every operation's outcome. */
export async function execute(kube: KubeClient, operations: Operation[], opts: ExecuteOptions): Promise<Outcome[]> {
  const outcomes: Outcome[] = []
  let failed = false
  for (const operation of operations) {
    if (failed) {
      outcomes.push({ operation, state: 'skipped' })
      continue
    }
    const error = await inSpan(`deploy.${operation.kind}`, { 'deploy.operation': describeOperation(operation) }, async () => {
      const why = await run(kube, operation, opts).catch((err: unknown) => (err instanceof Error ? err.message : String(err)))
      if (why !== undefined) markFailed(why)
      return why
    })
    if (error !== undefined) {
      failed = true
      opts.log?.(`failed: ${describeOperation(operation)}`)
    }
    outcomes.push(error === undefined ? { operation, state: 'done' } : { operation, state: 'failed', error })
  }
  return outcomes
}
