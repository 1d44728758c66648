// Traces end to end on the lab's cluster: the application deployed (dev with lab-real-node, which keeps every trace:
// OTEL_TRACES_SAMPLER_ARG=1) into a throw-away namespace on the real node, its dashboard opened once in Chromium, and
// that page load found in the lab's Jaeger (LAB_JAEGER_URL, api/traces?service=dashboard) as one trace with spans of the
// dashboard, the API, the graph service and analytics, and analytics' Redis call: the spans went pod → the collector
// Service (k8s/base/config.env, through the NetworkPolicy allow-otlp-egress) → the collector → the host's Jaeger.
// The compose stack's version of this test is services/smoke/tracing_smoke.py (make smoke-tracing).
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../env.js'
import * as jaeger from './jaeger.mjs'
import * as lc from './log-collector.mjs'
import { deployApp, serviceUrl, type AppEnv } from './app-env.testkit.js'
import * as node from './node.mjs'
import { pollUntil } from '../lib/proc.mjs'
import type { KubeObject } from '../../ci/src/adapters/kubernetes.js'

const run = promisify(execFile)
const REPO = path.resolve(__dirname, '..', '..')
const TRACED = ['dashboard', 'api', 'graph', 'analytics']
let app: AppEnv | undefined

interface Span { spanID: string; operationName: string; processID: string; references?: { refType: string; spanID: string }[]; tags?: { key: string; value: unknown }[] }
interface Trace { traceID: string; spans: Span[]; processes: Record<string, { serviceName: string }> }

const serviceOf = (t: Trace, s: Span) => t.processes[s.processID].serviceName
const tag = (s: Span, key: string) => s.tags?.find((x) => x.key === key)?.value

/** The dashboard's traces that started after `sinceUs` (microseconds). */
async function tracesSince(sinceUs: number): Promise<Trace[]> {
  const q = new URLSearchParams({ service: 'dashboard', start: String(sinceUs), end: String(Date.now() * 1000 + 60e6), limit: '50' })
  const r = await fetch(`${labVar('LAB_JAEGER_URL')}/api/traces?${q}`)
  return ((await r.json()) as { data?: Trace[] }).data ?? []
}


describe('a dashboard page load on the lab cluster', () => {
  beforeAll(async () => {
    await jaeger.up()
    await lc.up() // the collector bundle as committed: OTLP in, traces forwarded to the host's Jaeger
    app = await deployApp('traces')
    // the test's browser runs on the host, which the dashboard's policy does not admit (only the ingress controller's
    // namespace): one policy of the test's own lets the host's address in, to the dashboard's port alone
    await app.admin.apply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'test-host-to-dashboard', namespace: app.env.namespace },
      spec: { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'dashboard' } }, policyTypes: ['Ingress'],
        ingress: [{ from: [{ ipBlock: { cidr: `${node.NODE_IP}/32` } }], ports: [{ protocol: 'TCP', port: 8501 }] }] } } as KubeObject)
  }, 1_500_000) // hang guard: images published from source on a cold engine, then a deploy

  afterAll(async () => {
    await app?.remove()
  })

  it('is one trace in Jaeger across the dashboard, API, graph service and analytics, with analytics\' Redis call', async () => {
    const since = Date.now() * 1000
    const url = await serviceUrl(app!.admin, app!.env.namespace, 'dashboard')
    const { stdout } = await run(labVar('LAB_SMOKE_PYTHON'), [path.join(REPO, 'services', 'smoke', 'browser.py'), `${url}/`, 'GraphMemory-IDE', 'Connected components'], { timeout: 200000 })
    expect(stdout).toContain('missing: []')
    const t0 = Date.now()
    const summary = (t: Trace) => t.spans.map((s) => `${serviceOf(t, s)}:${s.operationName}`).sort().join(', ')
    const found = await pollUntil(async () => (await tracesSince(since)).filter((t) => TRACED.every((s) => t.spans.some((x) => serviceOf(t, x) === s))), {
      timeoutMs: 60000, everyMs: 1000, done: (f) => f.length > 0,
      describe: async () => `the traces since: ${(await tracesSince(since)).map(summary).join(' | ') || 'none'}`,
      onTimeout: (_, seen) => new Error(`no trace across ${TRACED.join(', ')} in Jaeger 60s after the page load; ${seen}`),
    })
    console.log(`tracing: the page load's trace in Jaeger after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${summary(found[0])}`)
    expect(found.length).toBe(1)
    const [trace] = found
    const ids = new Set(trace.spans.map((s) => s.spanID))
    const roots = trace.spans.filter((s) => !s.references?.length)
    expect(roots.map((s) => `${serviceOf(trace, s)}:${s.operationName}`)).toEqual(['dashboard:dashboard page'])
    expect(trace.spans.filter((s) => s.references?.some((r) => r.refType === 'CHILD_OF' && !ids.has(r.spanID)))).toEqual([])
    expect(trace.spans.some((s) => serviceOf(trace, s) === 'analytics' && (tag(s, 'db.system') ?? tag(s, 'db.system.name')) === 'redis')).toBe(true)
  })
})
