#!/usr/bin/env node
// Searches the logs: a LogsQL query against VictoriaLogs' /select/logsql/query, one matching line printed per line
// (time, where it came from, the line), newest last. `make logs ENV=dev Q='request_id:"abc"'` in the lab; anywhere:
//   node scripts/logs.mjs [--url http://store:9428] [--namespace ns] [--since 1h] [--limit 100] [--json] '<LogsQL>'
// Without --url (or LOGS_URL) it asks the lab for its store (the log store pod on the real node, KUBECONFIG_LAB).
// --namespace keeps the lines of one Kubernetes namespace (an extra filter on k8s.namespace.name, so Q may end in
// pipes). Exit 0 with the lines (none found: a note on stderr), 1 when the store refuses the query or cannot be
// reached, 2 on bad arguments.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

/** @type {Record<string, number>} */
const UNIT_MS = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }
/** '15m' → milliseconds. @param {string} d */
const durationMs = (d) => Number(d.slice(0, -1)) * UNIT_MS[d.slice(-1)]

/**
 * Runs `q` (LogsQL) on the store at `url` → the matching entries (objects of field → value), oldest first.
 * `since` (e.g. '15m', '1h', '7d') bounds the time range, `limit` the number of entries (the newest), `namespace`
 * adds the filter k8s.namespace.name:=<namespace>. Throws an Error naming the store's answer when it refuses.
 * @param {string} url
 * @param {string} q
 * @param {{ since?: string, limit?: number, namespace?: string, timeoutMs?: number }} [options]
 * @returns {Promise<LogEntry[]>}
 */
export async function query(url, q, { since = '1h', limit = 100, namespace = '', timeoutMs = 15000 } = {}) {
  const form = new URLSearchParams({ query: q, limit: String(limit) })
  if (since) form.set('start', new Date(Date.now() - durationMs(since)).toISOString())
  if (namespace) form.append('extra_filters', JSON.stringify({ 'k8s.namespace.name': namespace }))
  const r = await fetch(`${url.replace(/\/$/, '')}/select/logsql/query`, { method: 'POST', body: form, signal: AbortSignal.timeout(timeoutMs) })
  const text = await r.text()
  if (!r.ok) throw new Error(`the log store refused the query (HTTP ${r.status}): ${text.trim().split('\n')[0]}`)
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).sort((a, b) => (a._time < b._time ? -1 : a._time > b._time ? 1 : 0))
}

/** One log entry: field → value (`_time`, `_msg` and the stream's fields). @typedef {Record<string, string>} LogEntry */

/** One entry as a line: time, namespace/pod (or the container's file), level, the line itself. @param {LogEntry} e */
export function format(e) {
  const where = e['k8s.pod.name'] ? `${e['k8s.namespace.name']}/${e['k8s.pod.name']}` : e['log.file.path']?.split('/').at(-2)?.slice(0, 12) ?? '-'
  const level = e.level ?? e.severity_text ?? ''
  return `${e._time} ${where}${level ? ` ${level}` : ''} ${e._msg ?? ''}`
}

/** The lab's store, asked of its cluster (only when no URL was given). */
async function labStoreUrl() {
  if (!process.env.KUBECONFIG_LAB) throw new Error('no log store named: pass --url http://<store>:9428 (or LOGS_URL), or load the lab env (make logs does)')
  const lc = await import('../lab/components/log-collector.mjs')
  return lc.storeUrl()
}

async function main() {
  let a
  try {
    a = parseArgs({
      allowPositionals: true,
      options: { url: { type: 'string' }, namespace: { type: 'string' }, since: { type: 'string', default: '1h' }, limit: { type: 'string', default: '100' }, json: { type: 'boolean' } },
    })
    if (a.positionals.length !== 1 || !a.positionals[0].trim()) throw new Error('give one LogsQL query, e.g. \'request_id:"abc"\' or \'level:=error\' (\'*\' for everything)')
    if (!/^\d+[smhdw]$/.test(a.values.since)) throw new Error(`--since ${a.values.since}: a number and a unit (s, m, h, d, w), e.g. 15m`)
    if (!/^[1-9]\d*$/.test(a.values.limit)) throw new Error(`--limit ${a.values.limit}: a positive number`)
  } catch (err) {
    process.stderr.write(`logs: ${err instanceof Error ? err.message : err}\nusage: node scripts/logs.mjs [--url URL] [--namespace NS] [--since 1h] [--limit 100] [--json] '<LogsQL>'\n`)
    process.exit(2)
  }
  try {
    const url = a.values.url ?? process.env.LOGS_URL ?? (await labStoreUrl())
    const found = await query(url, a.positionals[0], { since: a.values.since, limit: Number(a.values.limit), namespace: a.values.namespace })
    for (const e of found) process.stdout.write(`${a.values.json ? JSON.stringify(e) : format(e)}\n`)
    if (!found.length) process.stderr.write(`logs: nothing matched in the last ${a.values.since}${a.values.namespace ? ` of ${a.values.namespace}` : ''} (${url})\n`)
  } catch (err) {
    const cause = err instanceof Error ? err.cause : undefined
    process.stderr.write(`logs: ${err instanceof Error ? err.message : err}${cause ? ` (${cause instanceof Error ? cause.message : cause})` : ''}\n`)
    process.exit(1)
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main()
