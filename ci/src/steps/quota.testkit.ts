// For the lab tests of rendered objects that send pods into a namespace holding a rendered ResourceQuota (render,
// render-backup, monitoring-component): the one wait for the quota to be in force.
import type { V1ResourceQuota } from '@kubernetes/client-node'
import { until } from '../../../lab/lib/until.testkit.js'
import type { Kube } from '../adapters/kubernetes.js'

/**
 * Waits until the ResourceQuota `name` in `namespace` has its status.hard: quota admission refuses every pod until the
 * controller has computed it. Fails after `timeoutMs` naming the quota.
 */
export async function quotaComputed(kube: Kube, namespace: string, name = 'graphmemory-quota', timeoutMs = 30000): Promise<void> {
  await until(`ResourceQuota ${namespace}/${name}: status.hard computed by the controller`, async () =>
    (await kube.get<V1ResourceQuota>({ apiVersion: 'v1', kind: 'ResourceQuota', name, namespace }))?.status?.hard, timeoutMs, 250)
}
