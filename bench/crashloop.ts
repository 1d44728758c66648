// PodCrashLooping seen firing on the real node, end to end, with the repository's rules unchanged (`for: 10m`): a copy
// of staging (its Prometheus, the repository's prometheus.yml and rules, and Alertmanager with alertmanager.yml) in a
// throw-away namespace, one container named like the API's that exits at once, then the timeline printed: first
// restart, first scrape of `waiting: CrashLoopBackOff` (kube-state-metrics), the alert pending, firing in Prometheus,
// and received by Alertmanager (its API, the route's receiver named). Takes 12-16 minutes; a figure, not a test.
//
//   npx tsx bench/crashloop.ts [--namespace <a staging or prod namespace>] [--keep]   (make bench-crashloop)
//   (with the lab env loaded: set -a && . ~/.graphmemory-lab/state/lab.env && set +a)
import * as k8s from '@kubernetes/client-node'
import { labVar } from '../lab/env.js'
import { pinnedRef } from '../lab/lib/images.mjs'
import { realNodePod } from '../lab/components/pods.testkit.js'
import { deployApp, serviceUrl } from '../lab/components/app-env.testkit.js'
import { Kube } from '../ci/src/adapters/kubernetes.js'
import { EnvironmentName } from '../ci/src/config/environments.js'

const arg = (name: string, dflt: string): string => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt }
const kc = new k8s.KubeConfig()
kc.loadFromFile(labVar('KUBECONFIG_LAB'))
const core = kc.makeApiClient(k8s.CoreV1Api)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))


const getJson = async (url: string): Promise<any> => (await fetch(url, { signal: AbortSignal.timeout(10_000) })).json() // eslint-disable-line @typescript-eslint/no-explicit-any

async function main(): Promise<void> {
  const given = arg('namespace', '')
  const app = given ? undefined : await deployApp('crashloop', ['lab-real-node'], EnvironmentName.staging)
  const ns = given || app!.env.namespace
  const admin = Kube.fromFile(labVar('KUBECONFIG_LAB')) // a staging or prod namespace: the monitoring component's Services
  const prometheus = await serviceUrl(admin, ns, 'prometheus')
  const alertmanager = await serviceUrl(admin, ns, 'alertmanager')
  const pod = `crashloop-${Date.now().toString(36)}`
  const t0 = Date.now()
  const at = () => `${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s`
  await core.createNamespacedPod({ namespace: ns, body: realNodePod(pod, {
    name: 'api', image: await pinnedRef(labVar('LAB_IMAGE_DEBIAN')), command: ['sh', '-c', 'echo crashing; exit 3'],
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '32Mi' } },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
  }, { labels: { 'app.kubernetes.io/part-of': 'graphmemory-ide' }, restartPolicy: 'Always' }) }) // Always: it must loop
  process.stdout.write(`namespace ${ns}: pod ${pod} (container api, exits 3) created; Prometheus ${prometheus}, Alertmanager ${alertmanager}\n`)
  const seen: Record<string, string> = {}
  const mark = (what: string) => { if (!seen[what]) { seen[what] = at(); process.stdout.write(`${seen[what]}  ${what}\n`) } }
  try {
    while (Date.now() - t0 < 25 * 60_000) {
      const p = await core.readNamespacedPod({ name: pod, namespace: ns })
      if ((p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1) mark('first restart (kubelet)')
      const waiting = await getJson(`${prometheus}/api/v1/query?${new URLSearchParams({ query: `kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff",pod="${pod}"} == 1` })}`)
      if (waiting.data?.result?.length) mark('waiting: CrashLoopBackOff scraped (kube-state-metrics → Prometheus)')
      const alerts = (await getJson(`${prometheus}/api/v1/alerts`)).data?.alerts ?? []
      const mine = alerts.find((a: any) => a.labels.alertname === 'PodCrashLooping' && a.labels.pod === pod) // eslint-disable-line @typescript-eslint/no-explicit-any
      if (mine?.state === 'pending') mark('PodCrashLooping pending (for: 10m starts)')
      if (mine?.state === 'firing') mark('PodCrashLooping firing in Prometheus')
      const received = await getJson(`${alertmanager}/api/v2/alerts?${new URLSearchParams({ filter: `alertname="PodCrashLooping"` })}`)
      const got = (Array.isArray(received) ? received : []).find((a: any) => a.labels.pod === pod) // eslint-disable-line @typescript-eslint/no-explicit-any
      if (got) {
        mark(`received by Alertmanager: severity ${got.labels.severity}, receivers ${got.receivers.map((r: { name: string }) => r.name).join(', ')}, runbook ${got.annotations.runbook_url}`)
        break
      }
      await sleep(5000)
    }
    if (!seen['PodCrashLooping firing in Prometheus']) process.stdout.write(`${at()}  PodCrashLooping did not fire within 25 minutes\n`)
  } finally {
    await core.deleteNamespacedPod({ name: pod, namespace: ns }).catch(() => undefined)
    if (app && !process.argv.includes('--keep')) await app.remove()
  }
}

main().catch((err: unknown) => { process.stderr.write(`bench/crashloop: ${err instanceof Error ? err.message : String(err)}\n`); process.exit(1) })
