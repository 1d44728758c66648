// The log store, measured: how long from a line written to it being found by a LogsQL query.
//   - end to end: a pod on the real node prints a JSON line every --interval ms (its `time` field is when it printed
//     it); each line's id is polled for in VictoriaLogs (every 100 ms) and the delay `found − time` is recorded: the
//     kubelet's log file, the collector's read and batch (timeout 2 s), OTLP/HTTP, the store's ingest and search;
//   - the store alone: a line POSTed to its jsonline API (/insert/jsonline), polled the same way.
// Prints min / median / max (ms) of each, and the store's disk and memory after.
//
//   node bench/logs.mjs [--lines 15] [--interval 1000]      (with the lab env loaded; `make lab-up` first)
import crypto from 'node:crypto'
import * as k8s from '@kubernetes/client-node'
import * as lc from '../lab/components/log-collector.mjs'
import * as node from '../lab/components/node.mjs'
import { query } from '../scripts/logs.mjs'
import { pollUntil } from '../lab/lib/proc.mjs'

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt }
const LINES = Number(arg('lines', '15'))
const INTERVAL = Number(arg('interval', '1000'))
const id = `${Date.now().toString(36)}${crypto.randomBytes(2).toString('hex')}`
const ns = `lab-logs-bench-${id}`

const kc = new k8s.KubeConfig()
kc.loadFromFile(process.env.KUBECONFIG_LAB)
const core = kc.makeApiClient(k8s.CoreV1Api)

/** Polls the store for `q` every 100 ms → when it was first found (ms since the epoch). */
async function foundAt(url, q, timeoutMs = 60000) {
  await pollUntil(async () => (await query(url, q, { since: '15m', limit: 1 })).length > 0, {
    timeoutMs, everyMs: 100, onTimeout: () => new Error(`${q}: not found after ${timeoutMs / 1000}s`),
  })
  return Date.now()
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return `min ${s[0]} / median ${s[Math.floor(s.length / 2)]} / max ${s.at(-1)} ms (n=${s.length})`
}

async function endToEnd(url) {
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } })
  // date +%s%3N: the line's own time in ms, printed by the same shell that prints the line
  const script = `i=0; while [ $i -lt ${LINES} ]; do printf '{"time_ms": %s, "level": "INFO", "message": "bench", "request_id": "bench-${id}-%s"}\\n' "$(date +%s%3N)" $i; i=$((i+1)); sleep ${INTERVAL / 1000}; done`
  await core.createNamespacedPod({ namespace: ns, body: {
    metadata: { name: 'writer' },
    spec: {
      nodeSelector: { [node.NODE_LABEL.key]: node.NODE_LABEL.value },
      tolerations: [{ key: node.NODE_TAINT.key, operator: 'Equal', value: node.NODE_TAINT.value, effect: node.NODE_TAINT.effect }],
      restartPolicy: 'Never', automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'writer', image: process.env.LAB_IMAGE_DEBIAN, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script],
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  } })
  const delays = []
  for (let i = 0; i < LINES; i++) {
    const q = `request_id:="bench-${id}-${i}"`
    const at = await foundAt(url, q)
    const [e] = await query(url, q, { since: '15m', limit: 1 })
    delays.push(at - Number(e.time_ms))
  }
  return delays
}

async function storeAlone(url) {
  const delays = []
  for (let i = 0; i < LINES; i++) {
    const rid = `direct-${id}-${i}`
    const t0 = Date.now()
    const r = await fetch(`${url}/insert/jsonline?_stream_fields=bench&_msg_field=message&_time_field=time`, {
      method: 'POST', body: `${JSON.stringify({ time: new Date(t0).toISOString(), bench: 'direct', message: 'bench', request_id: rid })}\n`,
    })
    if (!r.ok) throw new Error(`jsonline insert: HTTP ${r.status} ${await r.text()}`)
    delays.push((await foundAt(url, `request_id:="${rid}"`)) - t0)
  }
  return delays
}

async function main() {
  const url = await lc.storeUrl()
  process.stdout.write(`store ${url}; ${LINES} lines, one every ${INTERVAL} ms\n`)
  try {
    process.stdout.write(`written by a pod → found (collector + store): ${stats(await endToEnd(url))}\n`)
  } finally {
    await core.deleteNamespace({ name: ns }).catch(() => undefined)
  }
  process.stdout.write(`POSTed to the store → found (store alone):   ${stats(await storeAlone(url))}\n`)
  const metrics = await (await fetch(`${url}/metrics`)).text()
  // the sum of a metric's series (e.g. vl_data_size_bytes of storage and indexdb)
  const val = (name) => [...metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0)
  process.stdout.write(`store: ${(val('vl_data_size_bytes') / 1e6).toFixed(1)} MB of data (compressed), RSS ${(val('process_resident_memory_bytes') / 1e6).toFixed(0)} MB, ${val('vl_rows_ingested_total')} rows ingested since start\n`)
}

main().catch((err) => { process.stderr.write(`bench/logs: ${err.message}\n`); process.exit(1) })
