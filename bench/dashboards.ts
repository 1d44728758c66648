// How fast the dashboards answer, without Grafana (AGPL: not to be had here): every panel query of each dashboard sent
// at once to a live Prometheus in the lab cluster, as Grafana does when the dashboard opens, in rounds. Per dashboard:
// the wall time of all its queries together (median and worst of the rounds; the seed's target: < 2 s), its slowest
// query, and how many returned data. Baseline in the same run: as many trivial queries (`vector(1)`) at once, the
// floor that the HTTP round trips and Prometheus's query engine set on this machine.
//
//   npx tsx bench/dashboards.ts [--namespace graphmemory-prod] [--rounds 5]      (make bench-dashboards ARGS=...)
//   (with the lab env loaded: set -a && . ~/.graphmemory-lab/state/lab.env && set +a)
//
// The namespace must run the monitoring component (staging or prod) and have seen traffic for the panels to have
// data; lab/components/dashboards-data.test.ts is the test that every panel does.
import { labVar } from '../lab/env.js'
import { ask, askDashboard, panelQueries } from '../lab/lib/dashboards.js'
import { Kube } from '../ci/src/adapters/kubernetes.js'
import { serviceUrl } from '../lab/components/app-env.testkit.js'

const arg = (name: string, dflt: string): string => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt }
const NAMESPACE = arg('namespace', 'graphmemory-prod')
const ROUNDS = Number(arg('rounds', '5'))

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ms = (x: number): string => `${Math.round(x)} ms`

async function main(): Promise<void> {
  const prometheus = await serviceUrl(Kube.fromFile(labVar('KUBECONFIG_LAB')), NAMESPACE, 'prometheus')
    .catch((err: Error) => { throw new Error(`${err.message}: deploy staging or prod first (make deploy ENV=prod)`) })
  const dashboards = [...new Set(panelQueries().map((q) => q.dashboard))]
  process.stdout.write(`Prometheus of ${NAMESPACE} (${prometheus}), ${ROUNDS} rounds, all of a dashboard's queries at once\n\n`)
  process.stdout.write(`${'dashboard'.padEnd(22)} ${'queries'.padStart(7)} ${'with data'.padStart(9)} ${'median'.padStart(8)} ${'worst'.padStart(8)} ${'baseline'.padStart(9)}  slowest query (median)\n`)
  for (const d of dashboards) {
    const walls: number[] = []
    const base: number[] = []
    const perQuery = new Map<string, number[]>()
    let withData = 0
    let n = 0
    for (let r = 0; r < ROUNDS; r++) {
      const { answers, ms: wall } = await askDashboard(prometheus, d)
      walls.push(wall)
      n = answers.length
      withData = answers.filter((a) => a.finite > 0).length
      for (const a of answers) {
        const key = `${a.panel}: ${a.expr.replace(/\s+/g, ' ').slice(0, 60)}`
        perQuery.set(key, [...(perQuery.get(key) ?? []), a.ms])
      }
      const t0 = performance.now()
      await Promise.all(Array.from({ length: n }, () => ask(prometheus, { dashboard: d, panel: 'baseline', expr: 'vector(1)' })))
      base.push(performance.now() - t0)
    }
    const [slowName, slowTimes] = [...perQuery].sort((a, b) => median(b[1]) - median(a[1]))[0]
    process.stdout.write(`${d.padEnd(22)} ${String(n).padStart(7)} ${String(withData).padStart(9)} ${ms(median(walls)).padStart(8)} ${ms(Math.max(...walls)).padStart(8)} ${ms(median(base)).padStart(9)}  ${slowName} (${ms(median(slowTimes))})\n`)
  }
  process.stdout.write(`\ntarget: all queries of one dashboard together < 2000 ms\n`)
}

main().catch((err: unknown) => { process.stderr.write(`bench/dashboards: ${err instanceof Error ? err.message : String(err)}\n`); process.exit(1) })
