// The dashboards' panel queries (monitoring/grafana/dashboards/*.json, Grafana's variables as durations) asked of a
// live Prometheus's query API: what Grafana asks when a dashboard opens, without Grafana (AGPL: not to be had here).
// Used by lab/components/dashboards-data.test.ts (every panel has data) and bench/dashboards.ts (how fast).
import fs from 'node:fs'
import path from 'node:path'
import { REPO } from './paths.mjs'
import { dashboardOf } from '../../ci/src/plan/promql-dashboards.js'

const DIR = path.join(REPO, 'monitoring', 'grafana', 'dashboards')

/** One query of one panel. */
export interface PanelQuery { dashboard: string; panel: string; expr: string }

/** What Prometheus answered to one query: how many series or samples, how many of them finite, in how long. */
export interface Answer extends PanelQuery { series: number; finite: number; ms: number; error?: string }

/** Every panel query of every dashboard (or of the one named, e.g. 'production-overview'). */
export function panelQueries(only?: string): PanelQuery[] {
  return fs.readdirSync(DIR).filter((f) => f.endsWith('.json') && (!only || f === `${only}.json`)).sort().flatMap((file) =>
    dashboardOf(file, fs.readFileSync(path.join(DIR, file), 'utf8'), 'prometheus').sites.map((s) =>
      ({ dashboard: file.replace(/\.json$/, ''), panel: s.owner.replace(/^panel "(.*)"$/, '$1'), expr: s.expr })))
}

type Sample = [number, string]
interface QueryResponse { status: string; error?: string; data?: { resultType: string; result: Sample | { value: Sample }[] } }

/** Asks one query as an instant query at the current time. */
export async function ask(prometheus: string, q: PanelQuery): Promise<Answer> {
  const t0 = performance.now()
  try {
    const res = await fetch(`${prometheus}/api/v1/query?${new URLSearchParams({ query: q.expr })}`, { signal: AbortSignal.timeout(30_000) })
    const body = await res.json() as QueryResponse
    const ms = performance.now() - t0
    if (body.status !== 'success' || !body.data) return { ...q, series: 0, finite: 0, ms, error: body.error ?? `HTTP ${res.status}` }
    const samples: Sample[] = body.data.resultType === 'scalar' ? [body.data.result as Sample] : (body.data.result as { value: Sample }[]).map((r) => r.value)
    return { ...q, series: samples.length, finite: samples.filter(([, v]) => Number.isFinite(Number(v))).length, ms }
  } catch (err) {
    return { ...q, series: 0, finite: 0, ms: performance.now() - t0, error: err instanceof Error ? err.message : String(err) }
  }
}

/** All queries of one dashboard at once, as Grafana sends them when it opens; the wall time of the lot. */
export async function askDashboard(prometheus: string, dashboard: string): Promise<{ answers: Answer[]; ms: number }> {
  const t0 = performance.now()
  const answers = await Promise.all(panelQueries(dashboard).map((q) => ask(prometheus, q)))
  return { answers, ms: performance.now() - t0 }
}

/** The panels without a finite value, one line each ('' when every panel has data). */
export const withoutData = (answers: Answer[]): string => answers.filter((a) => a.finite === 0)
  .map((a) => `${a.dashboard} / ${a.panel}: ${a.error ?? (a.series ? `${a.series} series, none finite` : 'no data')} (${a.expr.replace(/\s+/g, ' ').slice(0, 120)})`).join('\n')
