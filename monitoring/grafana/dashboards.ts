// The Grafana dashboards, as code (Grafana Foundation SDK). `npx tsx monitoring/grafana/generate.ts` writes them to
// dashboards/*.json (committed, provisioned into Grafana); a test fails when the JSON is stale, and the pipeline's
// lint step parses every query and checks every metric it names against what the services export.
// Queries read the recording rules of monitoring/prometheus/rules/recording.yml where one exists, so panels and
// alerts agree on what "error ratio" or "p95" means.
import { DashboardBuilder, RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard'
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus'
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat'
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries'

/** The Prometheus datasource, as provisioned in provisioning/datasources/prometheus.yml. */
export const DATASOURCE = { type: 'prometheus', uid: 'prometheus' }

const query = (expr: string, legend = '{{job}}') => new DataqueryBuilder().datasource(DATASOURCE).expr(expr).legendFormat(legend)

const timeseries = (title: string, unit: string, targets: DataqueryBuilder[], description = '') => {
  const p = new TimeseriesPanel().title(title).description(description).datasource(DATASOURCE).unit(unit).height(8).span(12)
  for (const t of targets) p.withTarget(t)
  return p
}

const stat = (title: string, unit: string, target: DataqueryBuilder, description = '') =>
  new StatPanel().title(title).description(description).datasource(DATASOURCE).unit(unit).height(4).span(6).withTarget(target)

const base = (uid: string, title: string, tags: string[]) => new DashboardBuilder(title)
  .uid(uid).tags(['graphmemory-ide', ...tags]).refresh('30s').time({ from: 'now-6h', to: 'now' }).timezone('utc').editable()

/** Grafana wants each panel's id unique within its dashboard: number them in order (rows included). */
function numbered(d: Dashboard): Dashboard {
  d.panels?.forEach((p, i) => { p.id = i + 1 })
  return d
}

/** The user requests of the API's SLOs: probes and scrapes left out. */
const USER = 'job="api", route!~"/health|/ready|/metrics"'

/**
 * Error budget left over the last 30 days, per SLO of monitoring/prometheus/rules/slo.yml: 1 - (bad ratio / budget).
 * 100 % is untouched, 0 % spent, below 0 overspent.
 */
const errorBudgets = () => new StatPanel().title('Error budget left (30 days)').datasource(DATASOURCE).unit('percentunit').height(6).span(24)
  .description('Per SLO: 1 - (bad events / all over 30 days) / budget. API: 99.9 % of user requests without a 5xx, 99 % under 500 ms. ' +
    'Dashboard: 99.9 % of the scrapes of its server succeed, 99 % answer under 500 ms. Multi-window burn-rate alerts: slo.yml.')
  .withTarget(query(`1 - (sum(increase(gmi_http_requests_total{${USER}, status=~"5.."}[30d])) or vector(0)) / sum(increase(gmi_http_requests_total{${USER}}[30d])) / 0.001`, 'API availability (99.9 %)'))
  .withTarget(query(`1 - (1 - sum(increase(gmi_http_request_duration_seconds_bucket{${USER}, le="0.5"}[30d])) / sum(increase(gmi_http_request_duration_seconds_count{${USER}}[30d]))) / 0.01`, 'API latency (99 % < 500 ms)'))
  .withTarget(query('1 - (1 - avg(avg_over_time(up{job="dashboard"}[30d]))) / 0.001', 'dashboard availability (99.9 %)'))
  .withTarget(query('1 - avg(avg_over_time((scrape_duration_seconds{job="dashboard"} > bool 0.5)[30d:5m])) / 0.01', 'dashboard latency (99 % < 500 ms)'))

/** Production overview: is it up, how much traffic, how many errors, how fast, the API's error budget. */
export function productionOverview(): Dashboard {
  return numbered(base('gmi-production-overview', 'GraphMemory-IDE / Production overview', ['overview'])
    .withRow(new RowBuilder('Health'))
    .withPanel(stat('Services up', 'none', query('sum(up{job=~"api|analytics|dashboard"})', 'up'), 'Scraped services answering (of 3).'))
    .withPanel(stat('Alerts firing', 'none', query('count(ALERTS{alertstate="firing"}) or vector(0)', 'firing')))
    .withPanel(stat('API error budget burn (1h)', 'none', query('job:slo_errors:ratio_rate1h{job="api"} / 0.001', 'burn rate'),
      'Error ratio over the last hour divided by the 0.1 % budget (99.9 % SLO): above 14.4 pages.'))
    .withPanel(stat('Dashboard sessions', 'none', query('sum(active_sessions{job="dashboard"})', 'sessions')))
    .withRow(new RowBuilder('Traffic and errors'))
    .withPanel(timeseries('Request rate', 'reqps', [query('job:http_requests:rate5m')], 'User requests per second (probes and scrapes left out).'))
    .withPanel(timeseries('Error ratio (5xx)', 'percentunit', [query('job:http_errors:ratio_rate5m')], 'HighErrorRatio fires above 5 %.'))
    .withPanel(timeseries('Latency p95', 's', [query('job:http_request_duration_seconds:p95_5m')], 'HighLatencyP95 fires above 500 ms.'))
    .withPanel(timeseries('API availability error ratio, SLO windows', 'percentunit', [
      query('job:slo_errors:ratio_rate5m{job="api"}', '5m'),
      query('job:slo_errors:ratio_rate1h{job="api"}', '1h'),
      query('job:slo_errors:ratio_rate6h{job="api"}', '6h'),
      query('job:slo_errors:ratio_rate1d{job="api"}', '1d'),
    ], 'Budget: 0.1 % of requests over 30 days (99.9 % SLO).'))
    .withPanel(errorBudgets())
    .withRow(new RowBuilder('Backups'))
    .withPanel(stat('Last successful backup', 's', query('time() - kube_cronjob_status_last_successful_time{cronjob="backup"}', '{{namespace}}'),
      'Age of the last successful run of the hourly backup CronJob (k8s/components/backup), per namespace. BackupTooOld fires above 2 hours.'))
    .build())
}

/** Performance: latency percentiles, traffic by route, store latency, caches, saturation. */
export function performanceMetrics(): Dashboard {
  return numbered(base('gmi-performance-metrics', 'GraphMemory-IDE / Performance metrics', ['performance'])
    .withRow(new RowBuilder('Latency'))
    .withPanel(timeseries('Latency percentiles', 's', [
      query('job:http_request_duration_seconds:p50_5m', '{{job}} p50'),
      query('job:http_request_duration_seconds:p95_5m', '{{job}} p95'),
      query('job:http_request_duration_seconds:p99_5m', '{{job}} p99'),
    ]))
    .withPanel(timeseries('Requests by route', 'reqps', [
      query('sum by (route, status) (rate(gmi_http_requests_total{route!~"/health|/ready|/metrics"}[$__rate_interval]))', 'api {{route}} {{status}}'),
      query('sum by (route, status) (rate(gmi_analytics_http_requests_total{route!~"/health|/ready|/metrics"}[$__rate_interval]))', 'analytics {{route}} {{status}}'),
    ]))
    .withRow(new RowBuilder('Stores and caches'))
    .withPanel(timeseries('Store latency p95', 's', [query('job_store:store_query_duration_seconds:p95_5m', '{{job}} → {{store}}')],
      'The API: Kuzu, Postgres, Redis. Analytics: the API and Redis.'))
    .withPanel(timeseries('Cache hit ratio', 'percentunit', [
      query('job:analytics_cache_hit:ratio_rate5m', 'analytics summaries'),
      query('job:search_cache_hit:ratio_rate5m', 'api searches'),
    ]))
    .withPanel(timeseries('Analytics compute time p95', 's', [
      query('histogram_quantile(0.95, sum by (le) (rate(gmi_analytics_compute_seconds_bucket[$__rate_interval])))', 'p95'),
    ]))
    .withRow(new RowBuilder('Saturation'))
    .withPanel(timeseries('Autoscalers: replicas of maximum', 'percentunit', [
      query('kube_horizontalpodautoscaler_status_current_replicas / on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_max_replicas', '{{horizontalpodautoscaler}}'),
    ], 'HPAAtMaxReplicas fires at 100 % for 15 minutes.'))
    .withPanel(timeseries('Dashboard sessions', 'none', [query('sum(active_sessions{job="dashboard"})', 'sessions')]))
    .build())
}

/** Every dashboard, by the name of its JSON file under dashboards/. */
export const DASHBOARDS: Record<string, () => Dashboard> = {
  'production-overview.json': productionOverview,
  'performance-metrics.json': performanceMetrics,
}

/** The committed form of a dashboard: pretty JSON with a final newline. */
export const render = (d: Dashboard): string => `${JSON.stringify(d, null, 2)}\n`
