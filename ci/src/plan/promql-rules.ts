// The monitoring files' own rules, without I/O: every rule of a Prometheus rule file with the line of each part,
// the alert conventions (severity, summary, runbook), PromQL syntax, and the metrics each expression names checked
// against what is known to exist. Every problem names its file and line.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Scalar } from 'yaml'
import { lineCol, parsePromql } from './promql.js'

/** One thing wrong, where it is. */
export interface Problem {
  file: string
  /** 1-based; 0 when the tool that found it names no line. */
  line: number
  message: string
}

/** `file:line: message` (`file: message` without a line): how every problem is shown. */
export const formatProblem = (p: Problem): string => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`

/** The first line (1-based) of a text that contains `needle`; 0 when none does. */
export function lineOfText(text: string, needle: string): number {
  const i = text.indexOf(needle)
  return i < 0 ? 0 : text.slice(0, i).split('\n').length
}

/** An expression found in a file: where it starts, and how to turn an offset inside it into a file line. */
export interface ExprSite {
  file: string
  /** Line of the expression's first character. */
  line: number
  expr: string
  /** The file line of an offset inside `expr`. */
  lineOf(offset: number): number
  /** What holds it, for messages: `alert ServiceDown`, `record job:x:rate5m`, `panel "Requests"`. */
  owner: string
}

/** One rule of a rule file. */
export interface RuleEntry {
  kind: 'alert' | 'record'
  name: string
  group: string
  /** Line of the rule's `alert:`/`record:` key. */
  line: number
  site: ExprSite
  labels: Record<string, string>
  annotations: Record<string, string>
}

/** The severities Alertmanager routes (monitoring/alertmanager/alertmanager.yml). */
export const SEVERITIES = ['critical', 'warning', 'info'] as const

/** Where runbooks live; an alert's runbook_url must name an existing page there. */
export const RUNBOOK_DIR = 'docs/runbooks/alerts/'

/** The site of a YAML scalar holding an expression: block scalars start on the line after their indicator. */
function scalarSite(file: string, node: Scalar, lines: LineCounter, owner: string): ExprSite {
  const start = lines.linePos(node.range?.[0] ?? 0).line
  const block = node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED'
  const first = block ? start + 1 : start
  const expr = String(node.value ?? '')
  return { file, line: first, expr, owner, lineOf: (offset) => first + lineCol(expr, offset).line - 1 }
}

const stringMap = (v: unknown): Record<string, string> =>
  v && typeof v === 'object' ? Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)])) : {}

/** Every rule of a rule file, with the problems of its shape (not YAML, no groups, a rule with neither name). */
export function rulesOf(file: string, text: string): { rules: RuleEntry[]; problems: Problem[] } {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines })
  const problems: Problem[] = doc.errors.map((e) => ({ file, line: e.linePos?.[0].line ?? 1, message: `not YAML: ${e.message.split('\n')[0]}` }))
  const rules: RuleEntry[] = []
  if (problems.length) return { rules, problems }
  const groups = doc.get('groups', true)
  if (!isSeq(groups)) return { rules, problems: [{ file, line: 1, message: 'no `groups:` list: not a Prometheus rule file' }] }
  for (const group of groups.items) {
    if (!isMap(group)) continue
    const groupName = String(group.get('name') ?? '')
    const list = group.get('rules', true)
    if (!isSeq(list)) continue
    for (const rule of list.items) {
      if (!isMap(rule)) continue
      const line = lines.linePos(rule.range?.[0] ?? 0).line
      const alert = rule.get('alert')
      const record = rule.get('record')
      const kind = alert !== undefined ? 'alert' : record !== undefined ? 'record' : undefined
      if (!kind) {
        problems.push({ file, line, message: `a rule of group ${groupName} has neither \`alert:\` nor \`record:\`` })
        continue
      }
      const name = String(kind === 'alert' ? alert : record)
      const exprNode = rule.get('expr', true)
      if (!isScalar(exprNode)) {
        problems.push({ file, line, message: `${kind} ${name} has no \`expr:\`` })
        continue
      }
      const json = rule.toJSON() as Record<string, unknown>
      rules.push({
        kind, name, group: groupName, line,
        site: scalarSite(file, exprNode, lines, `${kind} ${name}`),
        labels: stringMap(json.labels),
        annotations: stringMap(json.annotations),
      })
    }
  }
  return { rules, problems }
}

/** PromQL syntax of one expression: each error at its own file line. */
export function syntaxProblems(site: ExprSite): Problem[] {
  return parsePromql(site.expr).errors.map((e) => ({
    file: site.file, line: site.lineOf(e.offset), message: `${site.owner}: PromQL syntax error: ${e.message}`,
  }))
}

/** The alert conventions: a routed severity, a summary, and a runbook page that exists. */
export function alertProblems(rule: RuleEntry, runbookExists: (path: string) => boolean): Problem[] {
  if (rule.kind !== 'alert') return []
  const at = (message: string): Problem => ({ file: rule.site.file, line: rule.line, message: `alert ${rule.name}: ${message}` })
  const out: Problem[] = []
  const severity = rule.labels.severity
  if (!severity) out.push(at(`no severity label (one of ${SEVERITIES.join(', ')}): Alertmanager routes by it`))
  else if (!(SEVERITIES as readonly string[]).includes(severity)) out.push(at(`severity "${severity}" is not one of ${SEVERITIES.join(', ')}`))
  if (!rule.annotations.summary?.trim()) out.push(at('no summary annotation'))
  const runbook = rule.annotations.runbook_url
  if (!runbook) out.push(at(`no runbook_url annotation: add a page under ${RUNBOOK_DIR} and name it`))
  else if (!runbook.startsWith(RUNBOOK_DIR)) out.push(at(`runbook_url "${runbook}" is not a page under ${RUNBOOK_DIR}`))
  else if (!runbookExists(runbook)) out.push(at(`runbook_url names ${runbook}, which does not exist`))
  return out
}

/** The names rules record: series that exist once Prometheus evaluates them. */
export const recordedNames = (rules: RuleEntry[]): Set<string> => new Set(rules.filter((r) => r.kind === 'record').map((r) => r.name))

/** Where known metrics come from, for the message of an unknown one. */
export interface KnownMetrics {
  /** Every name the services' /metrics pages export, read in this run. */
  exported: Set<string>
  /** Names recorded by rules. */
  recorded: Set<string>
  /** Names declared for exporters outside this repository (monitoring/prometheus/exporters.yml). */
  declared: Set<string>
  /** Names Prometheus makes itself (up, ALERTS, scrape_*). */
  synthetic: Set<string>
}

/** Each metric an expression names that no service exports, no rule records, and nothing declares. */
export function metricProblems(site: ExprSite, known: KnownMetrics): Problem[] {
  const parsed = parsePromql(site.expr)
  if (parsed.errors.length) return []
  const out: Problem[] = []
  for (const metric of parsed.metrics) {
    if (known.exported.has(metric) || known.recorded.has(metric) || known.declared.has(metric) || known.synthetic.has(metric)) continue
    const offset = site.expr.search(new RegExp(`(^|[^a-zA-Z0-9_:])${metric.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^a-zA-Z0-9_:])`))
    out.push({
      file: site.file, line: site.lineOf(Math.max(0, offset + (offset > 0 ? 1 : 0))),
      message: `${site.owner}: metric ${metric} is exported by no service (their /metrics, read in this run), recorded by no rule, and not declared in monitoring/prometheus/exporters.yml`,
    })
  }
  return out
}
