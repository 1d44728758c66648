// Grafana dashboards (JSON), without I/O: their shape, and every PromQL query of their panels as an expression site
// (file and line) for the same syntax and metric checks as the rules.
import { lineOfText, type ExprSite, type Problem } from './promql-rules.js'

/** Grafana's own variables in queries, replaced by a plain duration so the query parses as PromQL. */
const GRAFANA_VARIABLES: [RegExp, string][] = [
  [/\$__rate_interval\b/g, '5m'], [/\$__interval\b/g, '1m'], [/\$__range\b/g, '1h'], [/\$\{?__\w+\}?/g, '1m'],
]

/** A query with Grafana's variables replaced by durations. */
export const withoutGrafanaVariables = (expr: string): string => GRAFANA_VARIABLES.reduce((e, [re, v]) => e.replace(re, v), expr)

interface PanelJson { id?: number; title?: string; type?: string; datasource?: { uid?: string }; targets?: { expr?: string }[]; panels?: PanelJson[] }
interface DashboardJson { uid?: string; title?: string; schemaVersion?: number; panels?: PanelJson[] }

/** Every panel, rows' nested panels included. */
const allPanels = (panels: PanelJson[] = []): PanelJson[] => panels.flatMap((p) => [p, ...allPanels(p.panels)])

/**
 * The dashboard's shape: parses, has a uid, a title, a schema version and panels with unique ids; every query panel
 * reads the provisioned datasource. Plus each query as an expression site.
 */
export function dashboardOf(file: string, text: string, datasourceUid: string): { sites: ExprSite[]; problems: Problem[] } {
  let d: DashboardJson
  try {
    d = JSON.parse(text) as DashboardJson
  } catch (err) {
    return { sites: [], problems: [{ file, line: 0, message: `not JSON: ${(err as Error).message}` }] }
  }
  const problems: Problem[] = []
  const at = (message: string, needle?: string): Problem => ({ file, line: needle ? lineOfText(text, needle) : 0, message })
  for (const key of ['uid', 'title', 'schemaVersion'] as const) if (d[key] === undefined) problems.push(at(`dashboard has no ${key}`))
  const panels = allPanels(d.panels)
  if (panels.length === 0) problems.push(at('dashboard has no panels'))
  const ids = new Map<number, number>()
  for (const p of panels) if (p.id !== undefined) ids.set(p.id, (ids.get(p.id) ?? 0) + 1)
  for (const [id, n] of ids) if (n > 1) problems.push(at(`panel id ${id} is used by ${n} panels`, `"id": ${id},`))
  const sites: ExprSite[] = []
  for (const p of panels) {
    if (!p.targets?.length) continue
    if (p.datasource?.uid !== datasourceUid) {
      problems.push(at(`panel "${p.title}" reads datasource ${JSON.stringify(p.datasource?.uid)}, not the provisioned "${datasourceUid}"`, `"title": ${JSON.stringify(p.title)}`))
    }
    for (const t of p.targets) {
      if (t.expr === undefined) continue
      const line = lineOfText(text, `"expr": ${JSON.stringify(t.expr)}`)
      sites.push({ file, line, expr: withoutGrafanaVariables(t.expr), owner: `panel "${p.title}"`, lineOf: () => line })
    }
  }
  return { sites, problems }
}
