// The committed dashboards: generated from monitoring/grafana/dashboards.ts (stale JSON fails here), well formed,
// every query parses; a panel naming a metric nobody exports fails with its file and line.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { DASHBOARDS, DATASOURCE, render } from '../../../monitoring/grafana/dashboards.js'
import { PROMETHEUS_SYNTHETIC } from './promql.js'
import { dashboardOf, withoutGrafanaVariables } from './promql-dashboards.js'
import { formatProblem, metricProblems, syntaxProblems } from './promql-rules.js'

const REPO = path.resolve(import.meta.dirname, '../../..')
const DIR = 'monitoring/grafana/dashboards'
const committed = (file: string) => fs.readFileSync(path.join(REPO, DIR, file), 'utf8')

describe('dashboards as code', () => {
  it('the committed JSON is what dashboards.ts generates (run `npx tsx monitoring/grafana/generate.ts` when this fails)', () => {
    const files = fs.readdirSync(path.join(REPO, DIR)).filter((f) => f.endsWith('.json')).sort()
    expect(files).toEqual(Object.keys(DASHBOARDS).sort())
    for (const [file, build] of Object.entries(DASHBOARDS)) expect(committed(file), `${DIR}/${file} is stale`).toBe(render(build()))
  })

  it('each dashboard is well formed and every query parses as PromQL', () => {
    for (const file of Object.keys(DASHBOARDS)) {
      const { sites, problems } = dashboardOf(`${DIR}/${file}`, committed(file), DATASOURCE.uid)
      expect(problems.map(formatProblem)).toEqual([])
      expect(sites.length).toBeGreaterThanOrEqual(8)
      expect(sites.flatMap(syntaxProblems).map(formatProblem)).toEqual([])
      for (const s of sites) expect(s.line).toBeGreaterThan(0)
    }
  })

  it('Grafana variables become durations', () => {
    expect(withoutGrafanaVariables('rate(x[$__rate_interval]) + rate(y[$__interval]) + z[${__range}]')).toBe('rate(x[5m]) + rate(y[1m]) + z[1m]')
  })

  it('a panel naming a metric nobody exports, a duplicate id and a foreign datasource fail with file and line', () => {
    const d = JSON.parse(committed('performance-metrics.json'))
    d.panels[2].targets[0].expr = 'rate(gmi_http_requestz_total[$__rate_interval])'
    d.panels[3].id = d.panels[2].id
    d.panels[5].datasource = { type: 'prometheus', uid: 'other' }
    const text = `${JSON.stringify(d, null, 2)}\n`
    const { sites, problems } = dashboardOf('x.json', text, 'prometheus')
    const known = { exported: new Set<string>(), recorded: new Set<string>(), declared: new Set<string>(), synthetic: PROMETHEUS_SYNTHETIC }
    const line = text.split('\n').findIndex((l) => l.includes('gmi_http_requestz_total')) + 1
    expect(sites.flatMap((s) => metricProblems(s, known)).map(formatProblem)).toContain(
      `x.json:${line}: panel "${d.panels[2].title}": metric gmi_http_requestz_total is exported by no service (their /metrics, read in this run), recorded by no rule, and not declared in monitoring/prometheus/exporters.yml`)
    expect(problems.map(formatProblem)).toEqual([
      expect.stringMatching(new RegExp(`^x\\.json:\\d+: panel id ${d.panels[2].id} is used by 2 panels$`)),
      expect.stringMatching(/^x\.json:\d+: panel ".*" reads datasource "other", not the provisioned "prometheus"$/),
    ])
  })
})
