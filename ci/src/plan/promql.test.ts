// PromQL parsing, exposition parsing and the rule-file checks, on the repository's own rule files and on seeded
// mistakes. No engine: pure functions.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { exportedMetrics, parsePromql, PROMETHEUS_SYNTHETIC } from './promql.js'
import { alertProblems, formatProblem, metricProblems, recordedNames, rulesOf, syntaxProblems, type KnownMetrics } from './promql-rules.js'

const REPO = path.resolve(import.meta.dirname, '../../..')
const RULES = path.join(REPO, 'monitoring/prometheus/rules')
const exists = (p: string) => fs.existsSync(path.join(REPO, p))

describe('parsePromql', () => {
  it('lists the metrics an expression selects, not functions, labels or grouping names', () => {
    const p = parsePromql('sum by (job) (rate(gmi_http_requests_total{route!~"/health"}[5m])) / on (job) up > 0.5')
    expect(p.errors).toEqual([])
    expect(p.metrics).toEqual(['gmi_http_requests_total', 'up'])
  })

  it('reads __name__ matchers and recorded names with colons', () => {
    expect(parsePromql('{__name__="pg_up", job="postgres"} or job:http_requests:rate5m').metrics).toEqual(['pg_up', 'job:http_requests:rate5m'])
  })

  it('finds syntax errors with their offset', () => {
    expect(parsePromql('rate(foo[5m]').errors).toEqual([{ offset: 12, message: 'unexpected end of expression' }])
    const e = parsePromql('sum(rate(x[5m]) by (job)').errors
    expect(e.length).toBeGreaterThan(0)
    expect(e[0].offset).toBe(16)
    expect(parsePromql('  ').errors[0].message).toBe('empty expression')
  })
})

describe('exportedMetrics', () => {
  it('knows the series of declared families before any sample (prometheus_client, labelled histogram)', () => {
    const page = [
      '# HELP gmi_http_request_duration_seconds HTTP request latency',
      '# TYPE gmi_http_request_duration_seconds histogram',
      '# HELP gmi_http_requests_total HTTP requests',
      '# TYPE gmi_http_requests_total counter',
      'gmi_http_requests_total{route="/x",method="GET",status="200"} 3.0',
    ].join('\n')
    const m = exportedMetrics(page)
    for (const n of ['gmi_http_request_duration_seconds_bucket', 'gmi_http_request_duration_seconds_count', 'gmi_http_requests_total']) expect(m.has(n)).toBe(true)
    expect(m.has('gmi_http_request_duration_seconds_total')).toBe(false)
  })

  it('reads OpenMetrics counters (Streamlit: TYPE foo counter, samples foo_total)', () => {
    const m = exportedMetrics('# TYPE session_events counter\nsession_events_total{type="connect"} 0\n# TYPE active_sessions gauge\nactive_sessions 0\n# EOF\n')
    expect([...m].sort()).toEqual(['active_sessions', 'session_events', 'session_events_total'])
  })
})

describe('rule files', () => {
  const files = fs.readdirSync(RULES).filter((f) => f.endsWith('.yml')).sort()
  const all = files.flatMap((f) => rulesOf(`monitoring/prometheus/rules/${f}`, fs.readFileSync(path.join(RULES, f), 'utf8')).rules)

  it('the repository rules parse, and every alert has a routed severity, a summary and an existing runbook', () => {
    for (const f of files) expect(rulesOf(f, fs.readFileSync(path.join(RULES, f), 'utf8')).problems).toEqual([])
    expect(all.filter((r) => r.kind === 'alert').length).toBeGreaterThanOrEqual(10)
    expect(all.flatMap((r) => [...syntaxProblems(r.site), ...alertProblems(r, exists)]).map(formatProblem)).toEqual([])
  })

  it('a broken expression fails with its file line (inside a block scalar)', () => {
    const text = [
      'groups:',
      '  - name: g',
      '    rules:',
      '      - alert: Broken',
      '        expr: |',
      '          sum by (job) (',
      '            rate(gmi_http_requests_total[5m]',
      '          ) > 1',
      '        labels: {severity: warning}',
    ].join('\n')
    const { rules } = rulesOf('rules/bad.yml', text)
    const problems = syntaxProblems(rules[0].site)
    expect(problems.length).toBeGreaterThan(0)
    expect(formatProblem(problems[0])).toBe('rules/bad.yml:8: alert Broken: PromQL syntax error: unexpected end of expression')
  })

  it('an alert without a runbook, with an unknown severity, or naming a missing page fails', () => {
    const text = [
      'groups:',
      '  - name: g',
      '    rules:',
      '      - alert: NoRunbook',
      '        expr: up == 0',
      '        labels: {severity: warning}',
      '        annotations: {summary: "x"}',
      '      - alert: OddSeverity',
      '        expr: up == 0',
      '        labels: {severity: urgent}',
      '        annotations: {summary: "x", runbook_url: docs/runbooks/alerts/service-down.md}',
      '      - alert: MissingPage',
      '        expr: up == 0',
      '        labels: {severity: critical}',
      '        annotations: {summary: "x", runbook_url: docs/runbooks/alerts/no-such-page.md}',
    ].join('\n')
    const msgs = rulesOf('r.yml', text).rules.flatMap((r) => alertProblems(r, exists)).map(formatProblem)
    expect(msgs).toEqual([
      'r.yml:4: alert NoRunbook: no runbook_url annotation: add a page under docs/runbooks/alerts/ and name it',
      'r.yml:8: alert OddSeverity: severity "urgent" is not one of critical, warning, info',
      'r.yml:12: alert MissingPage: runbook_url names docs/runbooks/alerts/no-such-page.md, which does not exist',
    ])
  })

  it('a metric nobody exports fails with its line; exported, recorded, declared and Prometheus series pass', () => {
    const text = 'groups:\n  - name: g\n    rules:\n      - record: job:x:rate5m\n        expr: |\n          sum by (job) (rate(gmi_http_requests_total[5m]))\n          / sum by (job) (rate(gmi_http_requestz_total[5m]))\n'
    const { rules } = rulesOf('r.yml', text)
    const known: KnownMetrics = {
      exported: new Set(['gmi_http_requests_total']), recorded: recordedNames(all), declared: new Set(['pg_up']), synthetic: PROMETHEUS_SYNTHETIC,
    }
    expect(metricProblems(rules[0].site, known).map(formatProblem)).toEqual([
      'r.yml:7: record job:x:rate5m: metric gmi_http_requestz_total is exported by no service (their /metrics, read in this run), recorded by no rule, and not declared in monitoring/prometheus/exporters.yml',
    ])
    const ok = rulesOf('r.yml', 'groups:\n  - name: g\n    rules:\n      - record: y\n        expr: pg_up or up or job:http_requests:rate5m\n').rules[0]
    expect(metricProblems(ok.site, known)).toEqual([])
  })
})
