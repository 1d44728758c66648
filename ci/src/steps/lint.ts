// Step: lint the monitoring files with the real tools and against the real services. promtool checks the Prometheus
// configs and rules and runs the rule unit tests, amtool checks Alertmanager's config and routes; every PromQL
// expression is parsed, every alert must carry a routed severity, a summary and an existing runbook, and every metric
// an expression names must be exported by a service (its /metrics page, read from its image in this run), recorded by
// a rule, or declared for a third-party exporter. The dashboards' queries get the same checks, and each dashboard is
// checked against Grafana's dashboard schema (@grafana/schema). Every problem names its file and line.
import { dag, ExecError, type Container, type Directory } from '@dagger.io/dagger'
import { parse as parseYaml } from 'yaml'
import { PipelineError } from '../errors.js'
import * as tools from '../adapters/promtool.js'
import { exportedMetrics, PROMETHEUS_SYNTHETIC } from '../plan/promql.js'
import { dashboardOf } from '../plan/promql-dashboards.js'
import {
  alertProblems, formatProblem, lineOfText, metricProblems, recordedNames, RUNBOOK_DIR, rulesOf, syntaxProblems,
  type ExprSite, type Problem, type RuleEntry,
} from '../plan/promql-rules.js'

export type { Problem } from '../plan/promql-rules.js'

/** A service whose /metrics page tells which metrics exist: its runtime image, started as a Dagger service. */
export interface MetricsTarget {
  /** The scrape job's name (the service's name). */
  name: string
  /** The service's runtime image (e.g. the build step's output). */
  container: Container
  port: number
  /** Path of its metrics page. */
  path: string
  /** Environment it needs to start (no dependency has to answer: /metrics needs none). */
  env?: Record<string, string>
  /** What reads the page (it needs python3): default the target's own image; an exporter's image has no python. */
  client?: Container
}

/** How to lint. */
export interface LintOptions {
  /** An image with promtool (online: the official Prometheus image; the lab: LAB_IMAGE_PROMETHEUS), or a container of one. */
  prometheusImage: string | Container
  /** An image with amtool (online: the official Alertmanager image; the lab: LAB_IMAGE_ALERTMANAGER), or a container of one. */
  alertmanagerImage: string | Container
  /** The services whose /metrics pages the metric check reads. */
  targets: MetricsTarget[]
  /** An OpenTelemetry Collector image (online: the official contrib image; the lab: LAB_IMAGE_OTELCOL): its `validate` checks the collector configs. */
  otelcolImage?: string | Container
  /**
   * Collector configs to validate, repository paths. Default: every `monitoring/logging/otelcol*.yaml` (the compose
   * and the Kubernetes config; both use only components the lab's collector has).
   */
  otelcolConfigs?: string[]
  /**
   * Prometheus configs to check, repository paths. Default: every `monitoring/prometheus/prometheus*.yml`. Debian's
   * promtool is built without Kubernetes service discovery: leave the Kubernetes config out when linting with it.
   */
  prometheusConfigs?: string[]
}

/** One check and what it found. */
export interface LintCheck {
  name: string
  problems: Problem[]
}

/** What the lint run found. */
export interface LintResult {
  checks: LintCheck[]
  /** Every problem of every check. */
  problems: Problem[]
  /** Metrics each service's page exported, by service. */
  exported: Record<string, string[]>
  /** How many expressions were parsed (rules and dashboard panels). */
  expressions: number
  passed: boolean
}

const PROM_DIR = 'monitoring/prometheus'
const RULES_DIR = `${PROM_DIR}/rules`
const TESTS_DIR = `${PROM_DIR}/tests`
const ALERTMANAGER = 'monitoring/alertmanager/alertmanager.yml'
const ROUTING_TESTS = 'monitoring/alertmanager/routing-tests.yml'
const EXPORTERS = `${PROM_DIR}/exporters.yml`
const DASHBOARDS_DIR = 'monitoring/grafana/dashboards'
const LOGGING_DIR = 'monitoring/logging'
const DATASOURCES = 'monitoring/grafana/provisioning/datasources/prometheus.yml'

/** Where each service serves its metrics and what it needs to start alone (unreachable dependencies are fine). */
export const METRICS_TARGETS: Record<string, { path: string; env?: Record<string, string> }> = {
  api: { path: '/metrics', env: { DATABASE_URL: 'postgresql://lint@127.0.0.1:9/none', REDIS_URL: 'redis://127.0.0.1:9/0', DEPENDENCY_TIMEOUT_SECONDS: '0.5' } },
  analytics: { path: '/metrics', env: { API_URL: 'http://127.0.0.1:9', REDIS_URL: 'redis://127.0.0.1:9/1', DEPENDENCY_TIMEOUT_SECONDS: '0.5' } },
  dashboard: { path: '/_stcore/metrics' },
}

/** How long a service may take to serve its metrics page: a fresh machine's engine, under load, once took over 90 s. */
const METRICS_DEADLINE_SECONDS = 180

/** Fetches a URL, retrying while the server starts; prints the body. */
const FETCH = `
import sys, time, urllib.request
url, deadline, last = sys.argv[1], time.time() + ${METRICS_DEADLINE_SECONDS}, None
while time.time() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            sys.stdout.write(r.read().decode()); sys.exit(0)
    except Exception as e:
        last = e; time.sleep(0.5)
sys.exit(f"{url}: {last}")
`

/** A service's metrics page: its image started as a service, read from a client made of the same image. */
export async function metricsPage(t: MetricsTarget): Promise<string> {
  let server = t.container
  for (const [k, v] of Object.entries(t.env ?? {})) server = server.withEnvVariable(k, v)
  // started here and killed after the read: a service left to the session's end can outlast its shutdown deadline
  // (Streamlit takes its time to exit), and the session then fails to close
  const service = await server.withExposedPort(t.port).asService().start()
  try {
    return await (t.client ?? t.container)
      .withServiceBinding(t.name, service)
      .withExec(['python3', '-c', FETCH, `http://${t.name}:${t.port}${t.path}`])
      .stdout()
  } catch (err) {
    if (!(err instanceof ExecError)) throw err
    const said = (err.stderr || err.stdout || err.message).trim().split('\n').pop()
    throw new PipelineError(`the metrics page of ${t.name} could not be read`, `within ${METRICS_DEADLINE_SECONDS} s of its start: ${said}`,
      `check that ${t.name} starts alone with the environment lint gives it (METRICS_TARGETS in ci/src/steps/lint.ts), then run lint again`)
  } finally {
    await service.stop({ kill: true })
  }
}

/** Container paths in tool output, back to repository paths. */
const repoPath = (p: string) => p.replace(`${tools.WORKDIR}/`, '').replace(`${tools.RULES_MOUNT}/`, `${RULES_DIR}/`)

/** `file: line:col: message` lines of promtool's rule errors; the rest of a failed run's output as one problem. */
function promtoolProblems(run: tools.ToolRun, fallbackFile: string, hint = ''): Problem[] {
  if (run.exitCode === 0) return []
  const out: Problem[] = []
  for (const raw of run.output.split('\n')) {
    const line = raw.trim()
    const rule = line.match(/^(\S+?):\s*(\d+):\d+:\s*(.*)$/)
    if (rule) out.push({ file: repoPath(rule[1]), line: Number(rule[2]), message: `promtool: ${rule[3]}` })
    const yaml = line.match(/^line (\d+): (.*)$/)
    if (yaml) out.push({ file: fallbackFile, line: Number(yaml[1]), message: `promtool: ${yaml[2]}${hint && /kubernetes_sd_configs/.test(yaml[2]) ? hint : ''}` })
  }
  if (out.length === 0) {
    const said = run.output.split('\n').map((l) => l.trim()).filter((l) => l && !/^Checking |^SUCCESS/.test(l))
    out.push({ file: fallbackFile, line: 0, message: `${run.command.slice(0, 3).join(' ')} failed: ${repoPath(said.join(' ').replaceAll(`${tools.WORKDIR}/`, ''))}` })
  }
  return out
}

/**
 * promtool test rules of one file: each failed test at the line of its name. (promtool writes its headers to stdout
 * and its failures to stderr, so each file runs on its own to keep failures with their file.)
 */
function ruleTestProblems(run: tools.ToolRun, file: string, text: string): Problem[] {
  if (run.exitCode === 0) return []
  const failures = run.output.split(/\n\s*name: /).slice(1)
  if (failures.length === 0) {
    const said = run.output.split('\n').map((l) => l.trim()).filter((l) => l && !/^Unit Testing:/.test(l)).join(' ')
    return [{ file, line: 0, message: `promtool test rules: ${repoPath(said.replaceAll(`${tools.WORKDIR}/`, ''))}` }]
  }
  return failures.map((f) => {
    const name = f.split(',\n')[0].trim()
    const detail = f.split('\n').slice(1).map((l) => l.trim()).filter(Boolean).slice(0, 12).join(' ')
    return { file, line: lineOfText(text, `name: ${name}`), message: `rule test "${name}" failed: ${detail}` }
  })
}

/** amtool check-config: the failure, at the first line naming what it quotes (an unknown receiver's name). */
function amtoolProblems(run: tools.ToolRun, text: string): Problem[] {
  if (run.exitCode === 0) return []
  const failed = run.output.match(/FAILED:\s*(.*)/)?.[1]?.trim() ?? run.output.trim()
  const quoted = failed.match(/"([^"]+)"/)?.[1]
  return [{ file: ALERTMANAGER, line: quoted ? lineOfText(text, quoted) : 0, message: `amtool: ${failed}` }]
}

interface RoutingCase { labels: Record<string, string>; receivers: string[] }

/** Every file of a folder of the source whose name matches, as repository paths. */
async function filesIn(source: Directory, dir: string, pattern: RegExp): Promise<string[]> {
  if (!(await source.exists(dir))) return []
  return (await source.directory(dir).entries()).filter((f) => pattern.test(f)).sort().map((f) => `${dir}/${f}`)
}

/** The metric names declared for third-party exporters. */
function declaredMetrics(text: string): Set<string> {
  const doc = (parseYaml(text) ?? {}) as { exporters?: Record<string, { metrics?: string[] }> }
  return new Set(Object.values(doc.exporters ?? {}).flatMap((e) => e.metrics ?? []))
}

/** Runs every check; never throws for what it finds (see lintGate). */
export async function lint(source: Directory, opts: LintOptions): Promise<LintResult> {
  const monitoring = source.directory('monitoring')
  const prom = tools.toolContainer(opts.prometheusImage, monitoring)
  const am = tools.toolContainer(opts.alertmanagerImage, monitoring)
  const [ruleFiles, testFiles, configs, runbooks, dashboardFiles, collectorConfigs] = await Promise.all([
    filesIn(source, RULES_DIR, /\.ya?ml$/),
    filesIn(source, TESTS_DIR, /\.ya?ml$/),
    opts.prometheusConfigs ? Promise.resolve(opts.prometheusConfigs) : filesIn(source, PROM_DIR, /^prometheus.*\.ya?ml$/),
    filesIn(source, RUNBOOK_DIR.replace(/\/$/, ''), /\.md$/),
    filesIn(source, DASHBOARDS_DIR, /\.json$/),
    !opts.otelcolImage ? Promise.resolve([]) : opts.otelcolConfigs ? Promise.resolve(opts.otelcolConfigs) : filesIn(source, LOGGING_DIR, /^otelcol.*\.ya?ml$/),
  ])
  const read = async (f: string) => [f, await source.file(f).contents()] as const
  const texts = Object.fromEntries(await Promise.all([...ruleFiles, ...testFiles, ...dashboardFiles, ALERTMANAGER, ROUTING_TESTS, EXPORTERS, DATASOURCES].map(read)))
  const routing = (parseYaml(texts[ROUTING_TESTS]) ?? []) as RoutingCase[]

  const noK8s = ' (this promtool was built without Kubernetes service discovery, as Debian\'s is: check this file with a promtool that has it, e.g. the official image)'
  const collector = opts.otelcolImage ? tools.toolContainer(opts.otelcolImage, monitoring).withEnvVariable('LOG_STORE_ENDPOINT', 'http://log-store.invalid:4318') : undefined
  const [configRuns, rulesRun, testRuns, amRun, routeRuns, pages, collectorRuns] = await Promise.all([
    Promise.all(configs.map((f) => tools.checkConfig(prom, f))),
    tools.checkRules(prom, ruleFiles),
    Promise.all(testFiles.map((f) => tools.testRules(prom, [f]))),
    tools.amtoolCheckConfig(am, ALERTMANAGER),
    Promise.all(routing.map((c) => tools.amtoolRoutesTest(am, ALERTMANAGER, c.labels, c.receivers))),
    Promise.all(opts.targets.map(async (t) => [t.name, await metricsPage(t)] as const)),
    Promise.all(collectorConfigs.map((f) => tools.otelcolValidate(collector!, f))),
  ])

  // PromQL, alert conventions and metric names, from the rule files' own text
  const parsed = ruleFiles.map((f) => rulesOf(f, texts[f]))
  const rules: RuleEntry[] = parsed.flatMap((p) => p.rules)
  // the dashboards' queries, read against the datasource Grafana is provisioned with
  const datasourceUid = String(((parseYaml(texts[DATASOURCES]) ?? {}) as { datasources?: { uid?: string }[] }).datasources?.[0]?.uid ?? '')
  const boards = dashboardFiles.map((f) => dashboardOf(f, texts[f], datasourceUid))
  const sites: ExprSite[] = [...rules.map((r) => r.site), ...boards.flatMap((b) => b.sites)]
  const exported = Object.fromEntries(pages.map(([name, page]) => [name, [...exportedMetrics(page)].sort()]))
  const known = {
    exported: new Set(Object.values(exported).flat()),
    recorded: recordedNames(rules),
    declared: declaredMetrics(texts[EXPORTERS]),
    synthetic: PROMETHEUS_SYNTHETIC,
  }
  const runbookSet = new Set(runbooks)
  const emptyPages: Problem[] = Object.entries(exported).filter(([, m]) => m.length === 0)
    .map(([name]) => ({ file: METRICS_TARGETS[name]?.path ?? '/metrics', line: 0, message: `service ${name}: its metrics page lists no metric` }))

  // the schema check runs the TypeScript compiler: loaded here, so that no other function pays for its import
  const { dashboardSchemaProblems, schemaPackage } = await import('../plan/dashboard-schema.js')
  const checks: LintCheck[] = [
    ...configs.map((f, i) => ({ name: `promtool check config ${f}`, problems: promtoolProblems(configRuns[i], f, noK8s) })),
    { name: 'promtool check rules', problems: promtoolProblems(rulesRun, RULES_DIR) },
    { name: 'promtool test rules', problems: testFiles.flatMap((f, i) => ruleTestProblems(testRuns[i], f, texts[f])) },
    { name: 'amtool check-config', problems: amtoolProblems(amRun, texts[ALERTMANAGER]) },
    ...collectorConfigs.map((f, i) => ({
      name: `otelcol validate ${f}`,
      problems: collectorRuns[i].exitCode === 0 ? [] : [{ file: f, line: 0, message: `otelcol validate: ${collectorRuns[i].output.split('\n').filter((l) => /error|invalid|unknown/i.test(l)).slice(-3).join(' ') || collectorRuns[i].output.slice(-400)}` }],
    })),
    {
      name: 'alertmanager routes',
      problems: routing.flatMap((c, i) => routeRuns[i].exitCode === 0 ? [] : [{
        file: ROUTING_TESTS, line: lineOfText(texts[ROUTING_TESTS], `receivers: [${c.receivers.join(', ')}]`),
        message: `labels ${JSON.stringify(c.labels)} should reach ${c.receivers.join(',')}: ${routeRuns[i].output.split('\n').filter((l) => !/^Warning:/.test(l)).join(' ')}`,
      }]),
    },
    { name: 'PromQL syntax', problems: [...parsed.flatMap((p) => p.problems), ...sites.flatMap(syntaxProblems)] },
    { name: 'dashboards (JSON, uid, title, unique panel ids, provisioned datasource)', problems: boards.flatMap((b) => b.problems) },
    {
      name: `dashboards against the Grafana schema (@grafana/schema ${schemaPackage().version})`,
      problems: dashboardSchemaProblems(dashboardFiles.map((f) => ({ file: f, text: texts[f] }))),
    },
    { name: 'alert severity, summary, runbook', problems: rules.flatMap((r) => alertProblems(r, (p) => runbookSet.has(p))) },
    { name: 'metric names exist', problems: [...emptyPages, ...sites.flatMap((s) => metricProblems(s, known))] },
  ]
  const problems = checks.flatMap((c) => c.problems)
  return { checks, problems, exported, expressions: sites.length, passed: problems.length === 0 }
}

/** One line per check: ok, or its problems with file and line. */
export function describeLint(result: LintResult): string {
  return result.checks.map((c) => c.problems.length === 0
    ? `ok    ${c.name}`
    : `FAIL  ${c.name}\n${c.problems.map((p) => `        ${formatProblem(p)}`).join('\n')}`).join('\n')
}

/** Lints and fails with one message listing every problem (file:line: what) when anything is wrong. */
export async function lintGate(source: Directory, opts: LintOptions): Promise<LintResult> {
  const result = await lint(source, opts)
  if (!result.passed) {
    throw new PipelineError(`lint found ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} in the monitoring files`,
      `\n${describeLint(result)}\n`, 'fix each file at the line named, then run lint again')
  }
  return result
}

/** The images the stores' exporters are read with: theirs, the stores they watch, and a client with python. */
export interface ExporterImages {
  postgres: string
  redis: string
  postgresExporter: string
  redisExporter: string
  client: string
}

/**
 * The stores' exporters as lint targets, each started against a real store of its own (the images the test suites
 * bind), so that their pages list what they export when the store answers: what the rules read from them (pg_up,
 * redis_up) is checked against what they really export, not against a list kept by hand.
 */
export function exporterTargets(images: ExporterImages): MetricsTarget[] {
  const postgres = dag.container().from(images.postgres)
    .withEnvVariable('POSTGRES_USER', 'lint').withEnvVariable('POSTGRES_DB', 'lint').withEnvVariable('POSTGRES_HOST_AUTH_METHOD', 'trust')
    .withExposedPort(5432).asService({ useEntrypoint: true })
  const redis = dag.container().from(images.redis).withExposedPort(6379).asService({ useEntrypoint: true })
  const client = dag.container().from(images.client)
  return [
    {
      name: 'postgres-exporter', port: 9187, path: '/metrics', client,
      container: dag.container().from(images.postgresExporter).withServiceBinding('postgres', postgres),
      env: { DATA_SOURCE_NAME: 'postgresql://lint@postgres:5432/lint?sslmode=disable' },
    },
    {
      name: 'redis-exporter', port: 9121, path: '/metrics', client,
      container: dag.container().from(images.redisExporter).withServiceBinding('redis', redis),
      env: { REDIS_ADDR: 'redis://redis:6379' },
    },
  ]
}

/** The lint targets of the services, from a function that gives each one's runtime image (the build step). */
export function metricsTargets(services: readonly { name: string; port: number }[], image: (name: string) => Container): MetricsTarget[] {
  return services.map((s) => ({ name: s.name, port: s.port, container: image(s.name), ...(METRICS_TARGETS[s.name] ?? { path: '/metrics' }) }))
}
