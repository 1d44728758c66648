// PromQL and the Prometheus exposition format, without I/O: parse an expression (the PromQL grammar of
// @prometheus-io/lezer-promql), list the metrics it names, and list the metrics a /metrics page exports.
import { parser } from '@prometheus-io/lezer-promql'

/** A syntax error in an expression: where (0-based offset into the expression) and what. */
export interface PromqlSyntaxError {
  offset: number
  message: string
}

/** What parsing an expression found. */
export interface ParsedPromql {
  errors: PromqlSyntaxError[]
  /** Metric names the expression selects (`foo{…}`, `{__name__="foo"}`), each once, in order of appearance. */
  metrics: string[]
}

/** Parses a PromQL expression: its syntax errors and the metric names it selects. */
export function parsePromql(expr: string): ParsedPromql {
  const errors: PromqlSyntaxError[] = []
  const metrics: string[] = []
  if (!expr.trim()) return { errors: [{ offset: 0, message: 'empty expression' }], metrics }
  const tree = parser.parse(expr)
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        const end = expr.trimEnd().length
        const near = expr.slice(node.from, Math.max(node.to, node.from + 12)).split('\n')[0].trim()
        errors.push(node.from >= end
          ? { offset: end, message: 'unexpected end of expression' }
          : { offset: node.from, message: `unexpected ${JSON.stringify(near)}` })
        return false
      }
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier')
        if (id) metrics.push(expr.slice(id.from, id.to))
        const matchers = node.node.getChild('LabelMatchers')
        for (const m of matchers?.getChildren('UnquotedLabelMatcher') ?? []) {
          const label = m.getChild('LabelName')
          const value = m.getChild('StringLiteral')
          const op = m.getChild('MatchOp')
          if (label && value && op && expr.slice(label.from, label.to) === '__name__' && expr.slice(op.from, op.to) === '=') {
            metrics.push(JSON.parse(expr.slice(value.from, value.to).replace(/^'|'$/g, '"')) as string)
          }
        }
      }
      return undefined
    },
  })
  // report each position once (lezer can mark several nodes around one mistake)
  const seen = new Set<number>()
  return { errors: errors.filter((e) => !seen.has(e.offset) && seen.add(e.offset)), metrics: [...new Set(metrics)] }
}

/** Line (1-based) and column (1-based) of an offset in a text. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset).split('\n')
  return { line: before.length, col: before[before.length - 1].length + 1 }
}

/**
 * Every series name a page in the Prometheus text format (or OpenMetrics) makes queryable: the names of its samples,
 * and for each declared family the names its type implies even before any sample exists (prometheus_client shows a
 * labelled histogram with no observation as HELP and TYPE only): histogram → _bucket, _sum, _count; summary →
 * _sum, _count; counter → the name with and without _total (OpenMetrics declares `foo`, samples `foo_total`).
 */
export function exportedMetrics(page: string): Set<string> {
  const names = new Set<string>()
  for (const raw of page.split('\n')) {
    const line = raw.trim()
    if (!line) continue
    const type = line.match(/^#\s*TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\w+)/)
    if (type) {
      const [, name, kind] = type
      names.add(name)
      if (kind === 'histogram' || kind === 'gaugehistogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s)
      if (kind === 'summary') for (const s of ['_sum', '_count']) names.add(name + s)
      if (kind === 'counter') names.add(name.endsWith('_total') ? name.slice(0, -'_total'.length) : `${name}_total`)
      continue
    }
    if (line.startsWith('#')) continue
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[\s{]/)
    if (sample) names.add(sample[1])
  }
  return names
}

/** Series every Prometheus server makes for itself: per target (up, scrape_*) and per alert (ALERTS*). */
export const PROMETHEUS_SYNTHETIC = new Set([
  'up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling',
  'scrape_series_added', 'ALERTS', 'ALERTS_FOR_STATE',
])
