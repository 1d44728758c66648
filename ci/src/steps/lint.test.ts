// The lint step against the lab: promtool and amtool from the lab's Prometheus and Alertmanager images (Debian's
// packages), the services' real /metrics pages from their images built by the build step. No mocks: the repository's
// monitoring files must pass, and a copy with seeded mistakes must fail naming each file and line.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { connection, dag, type Directory } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { SERVICES } from '../config/services.js'
import { build, REPRODUCIBLE_EPOCH } from './build.js'
import { describeLint, exporterTargets, lint, lintGate, metricsTargets, type LintOptions, type LintResult } from './lint.js'
import { formatProblem } from '../plan/promql-rules.js'

const LONG = 600_000
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

async function inSession<T>(fn: () => Promise<T>): Promise<T> {
  let result: T | undefined
  await connection(async () => { result = await fn() })
  return result as T
}

/** The repository as `make ci` reads it, so the service images are the ones its builds left in the engine's cache. */
const repoSource = (): Directory => dag.host().directory(REPO, { exclude: ['**/node_modules', '.git', '.ci-out', '**/__pycache__'] })

/** The lab's tools and the three services' runtime images, built from the repository as `make ci` builds them. */
const options = (): LintOptions => {
  const source = repoSource()
  const buildOptions = {
    builderImage: labVar('LAB_IMAGE_PYTHON_BUILD'), runtimeImage: labVar('LAB_IMAGE_PYTHON_RUNTIME'),
    revision: 'lint-test', sourceDateEpoch: REPRODUCIBLE_EPOCH,
  }
  return {
    prometheusImage: labVar('LAB_IMAGE_PROMETHEUS'),
    alertmanagerImage: labVar('LAB_IMAGE_ALERTMANAGER'),
    otelcolImage: labVar('LAB_IMAGE_OTELCOL'), // validates both collector configs: compose and Kubernetes
    targets: [
      ...metricsTargets(SERVICES, (name) => build(source, SERVICES.find((s) => s.name === name)!, buildOptions)),
      ...exporterTargets({
        postgres: labVar('LAB_IMAGE_POSTGRES'), redis: labVar('LAB_IMAGE_REDIS'), postgresExporter: labVar('LAB_IMAGE_POSTGRES_EXPORTER'),
        redisExporter: labVar('LAB_IMAGE_REDIS_EXPORTER'), client: labVar('LAB_IMAGE_PYTHON_RUNTIME'),
      }),
    ],
  }
}

const messages = (r: LintResult) => r.problems.map(formatProblem)

describe('lint (lab promtool and amtool, real /metrics)', () => {
  it('passes on the repository: configs, rules, rule tests, Alertmanager config and routes, PromQL, runbooks, metric names', async () => {
    const result = await inSession(async () => lintGate(repoSource(), options()))
    expect(messages(result)).toEqual([])
    expect(result.expressions).toBeGreaterThanOrEqual(27 + 16) // rules + dashboard panels
    // what the services really export, read in this run
    expect(result.exported.api).toContain('gmi_http_requests_total')
    expect(result.exported.api).toContain('gmi_store_query_duration_seconds_bucket')
    expect(result.exported.analytics).toContain('gmi_analytics_cache_total')
    // the stores' exporters, started against real stores: what the PostgresDown and RedisDown rules read
    expect(result.exported['postgres-exporter']).toContain('pg_up')
    expect(result.exported['redis-exporter']).toContain('redis_up')
    expect(result.exported.dashboard).toContain('session_events_total')
    // both Prometheus configs: the compose one (static targets) and the Kubernetes one (service discovery)
    expect(describeLint(result)).toMatch(/^ok {4}promtool check config monitoring\/prometheus\/prometheus\.compose\.yml$/m)
    expect(describeLint(result)).toMatch(/^ok {4}promtool check config monitoring\/prometheus\/prometheus\.yml$/m)
    expect(describeLint(result)).toMatch(/^ok {4}otelcol validate monitoring\/logging\/otelcol\.compose\.yaml$/m)
    expect(describeLint(result)).toMatch(/^ok {4}otelcol validate monitoring\/logging\/otelcol\.kubernetes\.yaml$/m)
    expect(describeLint(result)).toMatch(/^ok {4}dashboards against the Grafana schema \(@grafana\/schema \d+\.\d+\.\d+\)$/m)
  }, LONG)

  it('a promtool without Kubernetes discovery (Debian\'s own) refuses the Kubernetes config, and lint says why at each line', async () => {
    // the lab image puts a full promtool first on the PATH; Debian's own is still at /usr/bin/promtool
    const result = await inSession(async () => {
      const debianOnly = dag.container().from(labVar('LAB_IMAGE_PROMETHEUS'))
        .withUser('0').withExec(['rm', '/usr/local/bin/promtool']).withUser('65534')
      return lint(repoSource(), { ...options(), prometheusImage: debianOnly, targets: [], prometheusConfigs: ['monitoring/prometheus/prometheus.yml'] })
    })
    const check = result.checks.find((c) => c.name === 'promtool check config monitoring/prometheus/prometheus.yml')!
    // one problem at every use of Kubernetes discovery in the file, at its line
    const uses = fs.readFileSync(path.join(REPO, 'monitoring/prometheus/prometheus.yml'), 'utf8').split('\n')
      .flatMap((l, i) => (/^\s*(- )?kubernetes_sd_configs:/.test(l) ? [i + 1] : []))
    expect(uses.length).toBeGreaterThanOrEqual(3)
    expect(check.problems.map(formatProblem)).toEqual(uses.map((line) => expect.stringMatching(
      new RegExp(`^monitoring/prometheus/prometheus\\.yml:${line}: promtool: field kubernetes_sd_configs not found .*built without Kubernetes service discovery`))))
  }, LONG)

  it('fails on seeded mistakes, each with its file and line', async () => {
    const result = await inSession(async () => {
      const src = repoSource()
      const rules = await src.file('monitoring/prometheus/rules/services.yml').contents()
      const am = await src.file('monitoring/alertmanager/alertmanager.yml').contents()
      const slo = await src.file('monitoring/prometheus/tests/slo.test.yml').contents()
      const board = await src.file('monitoring/grafana/dashboards/production-overview.json').contents()
      const collector = await src.file('monitoring/logging/otelcol.compose.yaml').contents()
      const seeded = src
        // bad PromQL (line 4 of the new file), an alert without a runbook, a metric nobody exports (line 12)
        .withNewFile('monitoring/prometheus/rules/seeded.yml', [
          'groups:',
          '  - name: seeded',
          '    rules:',
          '      - record: job:seeded:rate5m',
          '        expr: sum by (job) (rate(gmi_http_requests_total[5m])',
          '      - alert: NoRunbook',
          '        expr: up == 0',
          '        labels: {severity: warning}',
          '        annotations: {summary: "no runbook here"}',
          '      - alert: NobodyExportsThis',
          '        expr: |',
          '          rate(gmi_http_requestz_total[5m]) > 1',
          '        labels: {severity: warning}',
          '        annotations: {summary: "x", runbook_url: docs/runbooks/alerts/service-down.md}',
          '',
        ].join('\n'))
        // an unknown receiver
        .withNewFile('monitoring/alertmanager/alertmanager.yml', am.replace('receiver: pagerduty\n', 'receiver: pager-duty\n'))
        // a rule whose test no longer holds: the error ratio alert now needs 50 %
        .withNewFile('monitoring/prometheus/rules/services.yml', rules.replace('job:http_errors:ratio_rate5m > 0.05', 'job:http_errors:ratio_rate5m > 0.5'))
        .withNewFile('monitoring/prometheus/tests/slo.test.yml', slo)
        // a collector pipeline naming a processor it never defines
        .withNewFile('monitoring/logging/otelcol.compose.yaml', collector.replace('processors: [batch]', 'processors: [batch, memory_limiter]'))
        // a panel naming a metric nobody exports, and a stat panel option of the wrong type (the Grafana schema)
        .withNewFile('monitoring/grafana/dashboards/production-overview.json', board
          .replace('"expr": "job:http_requests:rate5m"', '"expr": "rate(gmi_http_requestz_total[$__rate_interval])"')
          .replace('"wideLayout": true', '"wideLayout": "yes"'))
      return lint(seeded, options())
    })
    const msgs = messages(result)
    const has = (re: RegExp) => expect(msgs.some((m) => re.test(m)), `${re} in\n${msgs.join('\n')}`).toBe(true)
    expect(result.passed).toBe(false)
    has(/^monitoring\/prometheus\/rules\/seeded\.yml:5: promtool: .*could not parse expression.*unclosed left parenthesis/)
    has(/^monitoring\/prometheus\/rules\/seeded\.yml:5: record job:seeded:rate5m: PromQL syntax error: unexpected end of expression$/)
    has(/^monitoring\/prometheus\/rules\/seeded\.yml:6: alert NoRunbook: no runbook_url annotation/)
    has(/^monitoring\/prometheus\/rules\/seeded\.yml:12: alert NobodyExportsThis: metric gmi_http_requestz_total is exported by no service/)
    has(/^monitoring\/alertmanager\/alertmanager\.yml:\d+: amtool: undefined receiver "pager-duty" used in route$/)
    has(/^monitoring\/prometheus\/tests\/services\.test\.yml:\d+: rule test "HighErrorRatio fires at 1 in 11 requests failing/)
    has(/^monitoring\/grafana\/dashboards\/production-overview\.json:\d+: panel "Request rate": metric gmi_http_requestz_total is exported by no service/)
    has(/^monitoring\/logging\/otelcol\.compose\.yaml: otelcol validate: .*memory_limiter/)
    has(/^monitoring\/grafana\/dashboards\/production-overview\.json:\d+: Grafana schema [\d.]+: panels\[1\]\.options\.wideLayout: Type 'string' is not assignable to type 'boolean/)
    const amLine = msgs.find((m) => m.includes('pager-duty'))!
    expect(Number(amLine.split(':')[1])).toBeGreaterThan(0)
  }, LONG)
})
