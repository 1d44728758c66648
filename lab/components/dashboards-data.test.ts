// Dashboards with data (docs/monitoring.md, "Dashboards with data"): a copy of staging (its overlay brings the
// monitoring component: Prometheus with the repository's prometheus.yml and rules, on the real node) deployed into a
// throw-away namespace and put under steady traffic (the API's reads, writes, searches; analytics' summaries; the
// dashboard's pages); then every panel query of production-overview and performance-metrics, asked of that Prometheus
// as Grafana would ask it, returns at least one finite value. Grafana itself is not run (AGPL), its queries are.
// The time of all queries of one dashboard together is bench/dashboards.ts's figure. Needs `make lab-up`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Kube } from '../../ci/src/adapters/kubernetes.js'
import { backupNamespace } from '../../ci/src/steps/backup.js'
import { labVar } from '../env.js'
import { removePrefix } from './dr.testkit.js'
import { EnvironmentName } from '../../ci/src/config/environments.js'
import { askDashboard, panelQueries, withoutData, type Answer } from '../lib/dashboards.js'
import { deployApp, serviceUrl, type AppEnv } from './app-env.testkit.js'

let app: AppEnv
let stop = false
let traffic: Promise<number> | undefined

/** A Service's address from this machine. */
const serviceOf = (name: string): Promise<string> => serviceUrl(app.admin, app.env.namespace, name)

/** Steady requests of every kind the panels count, until stopped; resolves with how many were sent. */
async function drive(): Promise<number> {
  const [api, analytics, dashboard] = await Promise.all(['api', 'analytics', 'dashboard'].map(serviceOf))
  const key = app.secrets['graphmemory-api']['bootstrap-api-key']
  const json = { 'content-type': 'application/json', 'x-api-key': key }
  const send = (url: string, init?: RequestInit) => fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }).then((r) => r.text(), () => '')
  let sent = 0
  let last = ''
  for (let i = 0; !stop; i++) {
    const made = JSON.parse(await send(`${api}/memories`, { method: 'POST', headers: json, body: JSON.stringify({ text: `panel data ${i}`, tags: ['dash', `t${i % 3}`] }) }) || '{}') as { id?: string }
    if (made.id && last) await send(`${api}/memories/${last}/links`, { method: 'POST', headers: json, body: JSON.stringify({ target_id: made.id }) })
    last = made.id ?? last
    await Promise.all([send(`${api}/search?q=panel`), send(`${analytics}/analytics/summary?refresh=true`)]) // misses: computed and cached
    await Promise.all([
      send(`${api}/status`), send(`${api}/search?q=panel`), send(`${api}/memories/does-not-exist`), // a hit, and a 404
      send(`${analytics}/analytics/summary`), send(`${analytics}/analytics/summary`), // hits
      send(`${dashboard}/`), send(`${dashboard}/_stcore/health`),
    ])
    sent += 11
    await new Promise((r) => setTimeout(r, 500)) // fixed, not a poll: the pace of the traffic
  }
  return sent
}

beforeAll(async () => {
  // with the backup components and one backup run, so that the overview's "Last successful backup" has its series
  // (kube_cronjob_status_last_successful_time, set once the CronJob's first Job succeeded)
  app = await deployApp('dash', ['lab-real-node', 'lab-backup'], EnvironmentName.staging)
  traffic = drive()
  await backupNamespace(Kube.fromFile(labVar('KUBECONFIG_DEPLOYER')), app.env.namespace, 900, () => {})
}, 900_000)

afterAll(async () => {
  stop = true
  await traffic?.catch(() => 0)
  await app?.remove()
  if (app) removePrefix(app.env.namespace) // its backup in the lab's object store
})

describe('the dashboards have data', () => {
  it('every panel query of both dashboards returns a finite value from the live Prometheus under traffic', async () => {
    const prometheus = await serviceOf('prometheus')
    const dashboards = [...new Set(panelQueries().map((q) => q.dashboard))]
    expect(dashboards.sort()).toEqual(['performance-metrics', 'production-overview'])
    // the rate windows need a few scrapes (15 s apart) and the recording rules an evaluation after them
    let answers: Answer[] = []
    await expect.poll(async () => withoutData(answers = (await Promise.all(dashboards.map((d) => askDashboard(prometheus, d)))).flatMap((r) => r.answers)),
      { timeout: 420_000, interval: 15_000, message: 'the panel queries without data' }).toBe('')
    expect(answers.length).toBe(panelQueries().length)
  }, 600_000)
})
