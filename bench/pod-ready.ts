// Pod start to Ready on the lab's real node, per workload of a deployed environment, and where the time goes: from the
// pod's creation to its scheduling, to its container's start (sandbox, image, volume), to Ready (the service's own
// start and its readiness probe). With --restart the environment's pods are deleted first and the new ones measured
// (every workload at once, as after a node restart: the cold case); without, the pods as they are.
//   npx tsx bench/pod-ready.ts [--namespace graphmemory-prod] [--restart]   (lab env loaded; `make bench-pod-ready`)
// The Kubernetes API gives these times to the second: figures are whole seconds.
import * as k8s from '@kubernetes/client-node'
import { labVar } from '../lab/env.js'
import { pollUntil } from '../lab/lib/proc.mjs'
import { Kube } from '../ci/src/adapters/kubernetes.js'

const args = process.argv.slice(2)
const namespace = args.includes('--namespace') ? args[args.indexOf('--namespace') + 1] : 'graphmemory-prod'
const restart = args.includes('--restart')
const kube = Kube.fromFile(labVar('KUBECONFIG_LAB'))
const core = kube.config.makeApiClient(k8s.CoreV1Api)

const workloadOf = (pod: string) => pod.replace(/-[a-z0-9]{5,10}-[a-z0-9]{5}$|-\d+$/, '')
const at = (t?: Date | string) => (t ? new Date(t).getTime() : NaN)
const secs = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? '-' : ((b - a) / 1000).toFixed(0))

const ready = (p: k8s.V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
const live = async () => (await core.listNamespacedPod({ namespace })).items.filter((p) => !p.metadata?.deletionTimestamp)

async function main(): Promise<void> {
  if (restart) {
    const before = new Set((await live()).map((p) => p.metadata!.uid))
    for (const p of await live()) await core.deleteNamespacedPod({ name: p.metadata!.name!, namespace })
    await pollUntil(live, {
      timeoutMs: 600_000, everyMs: 1000, done: (pods) => pods.length > 0 && pods.every((p) => !before.has(p.metadata!.uid) && ready(p)),
      onTimeout: () => new Error(`${namespace}: pods not all Ready again after 600 s`),
    })
  }
  const rows = (await live()).map((p) => {
    const created = at(p.metadata?.creationTimestamp)
    const scheduled = at(p.status?.conditions?.find((c) => c.type === 'PodScheduled')?.lastTransitionTime)
    const started = at(p.status?.containerStatuses?.[0]?.state?.running?.startedAt)
    const readyAt = at(p.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')?.lastTransitionTime)
    return { workload: workloadOf(p.metadata!.name!), scheduled: secs(created, scheduled), started: secs(scheduled, started),
      ready: secs(started, readyAt), total: secs(created, readyAt), restarts: p.status?.containerStatuses?.[0]?.restartCount ?? 0 }
  }).sort((a, b) => a.workload.localeCompare(b.workload))
  console.log(`pod start → Ready in ${namespace}${restart ? ' (every pod deleted at once, the new ones measured)' : ' (the pods as they are)'}, seconds:`)
  console.log(`${'workload'.padEnd(20)} ${'scheduled'.padStart(9)} ${'started'.padStart(8)} ${'ready'.padStart(6)} ${'total'.padStart(6)} restarts`)
  for (const r of rows) console.log(`${r.workload.padEnd(20)} ${r.scheduled.padStart(9)} ${r.started.padStart(8)} ${r.ready.padStart(6)} ${r.total.padStart(6)} ${r.restarts}`)
  console.log('scheduled: created → bound to the node; started: → its container runs (sandbox, image, volumes); ready: → its readiness probe passes')
}

main().catch((err) => { console.error(`pod-ready: ${(err as Error).message}`); process.exit(1) })
