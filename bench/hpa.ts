// The API's HPA on the lab's real node, measured: a bounded load (GET /health from --concurrency connections, through
// the API Service's cluster IP; the ingress's address once the lab has one) until at least 3 API replicas are Ready,
// then no load until the API is back at 1 replica (desired and Ready). Per round: seconds from the load's start to 3
// Ready replicas (and the HPA's first CPU reading above target), seconds from the load's stop to 1, requests sent.
// The lab-real-node component's scale-down window is 30 s (k8s/components/lab-real-node/hpa-scale-down.yaml).
//
//   npx tsx bench/hpa.ts [--rounds 2] [--concurrency 4] [--namespace <ns>]
//   (with the lab env loaded: set -a && . ~/.graphmemory-lab/state/lab.env && set +a)
//
// Without --namespace it deploys dev (lab-real-node) into a throw-away namespace first (not measured) and removes it
// after; with it, it loads that namespace's API (e.g. graphmemory-dev after `make deploy`).
import * as k8s from '@kubernetes/client-node'
import { labVar } from '../lab/env.js'
import { load, watchScale } from '../lab/lib/load.mjs'
import { deployApp, apiUrl } from '../lab/components/app-env.testkit.js'
import { Kube } from '../ci/src/adapters/kubernetes.js'

const arg = (name: string, dflt: string): string => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt }
const ROUNDS = Number(arg('rounds', '2'))
const CONCURRENCY = Number(arg('concurrency', '4'))

const kc = new k8s.KubeConfig()
kc.loadFromFile(labVar('KUBECONFIG_LAB'))

async function main(): Promise<void> {
  const given = arg('namespace', '')
  const app = given ? undefined : await deployApp('bench-hpa')
  const ns = given || app!.env.namespace
  const url = `${await apiUrl(app?.admin ?? Kube.fromFile(labVar('KUBECONFIG_LAB')), ns)}/health`
  process.stdout.write(`namespace ${ns}, load: GET ${url} from ${CONCURRENCY} connections\n`)
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const rest = await watchScale(kc, ns, 'api', (s) => s.ready === 1 && s.desired === 1 && s.cpu !== undefined, { timeoutMs: 600_000 })
      if (!rest.ok) throw new Error(`the API is not at rest at 1 replica: ${JSON.stringify(rest.samples.slice(-5))}`)
      const stop = new AbortController()
      const t0 = performance.now()
      const running = load(url, { concurrency: CONCURRENCY, seconds: 300, signal: stop.signal })
      let above: number | undefined
      const up = await watchScale(kc, ns, 'api', (s) => {
        if (above === undefined && (s.cpu ?? 0) > 70) above = (performance.now() - t0) / 1000
        return s.ready >= 3
      }, { timeoutMs: 300_000, since: t0 })
      stop.abort()
      const sent = await running
      const t1 = performance.now()
      const down = await watchScale(kc, ns, 'api', (s) => s.ready === 1 && s.desired === 1, { timeoutMs: 600_000, since: t1 })
      process.stdout.write(`round ${round}: up ${up.ok ? `${up.seconds.toFixed(1)} s to ${up.state.ready} Ready` : 'NOT reached in 300 s'}` +
        ` (HPA saw CPU > 70 % after ${above?.toFixed(1) ?? '-'} s; ${sent.sent} requests, ${sent.failed} failed, ${(sent.sent / sent.seconds).toFixed(0)}/s);` +
        ` down ${down.ok ? `${down.seconds.toFixed(1)} s to 1` : 'NOT reached in 600 s'}\n`)
      process.stdout.write(`  samples up [s, ready, desired, cpu%]: ${JSON.stringify(up.samples)}\n  samples down: ${JSON.stringify(down.samples)}\n`)
    }
  } finally {
    await app?.remove()
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
