// The deploy's spans: plan, release and recovery with one span per operation below them, one trace per run, the
// failed ones marked. An in-memory exporter stands in for the collector; the lab test that opens a real run's trace
// in Jaeger is lab/components/pipeline-trace.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { context, trace, SpanStatusCode } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { stringify } from 'yaml'
import { environment } from '../config/environments.js'
import { APP_LABELS, type K8sObject } from '../plan/manifests.js'
import { inSpan, traceId } from '../adapters/tracing.js'
import { deployRelease, type ReleaseRequest } from './deploy.js'
import { FakeKube } from './fake-kube.testkit.js'

const NS = 'graphmemory-dev'
const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const contextManager = new AsyncLocalStorageContextManager()

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable())
  trace.setGlobalTracerProvider(provider)
})
afterAll(() => {
  trace.disable()
  context.disable()
})
beforeEach(() => exporter.reset())

const meta = (name: string, namespace: string | null = NS) => ({ name, ...(namespace ? { namespace } : {}), labels: { ...APP_LABELS } })
const deployment = (name: string, version = '1'): K8sObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(name),
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: `r/${name}@sha256:${version.repeat(64).slice(0, 64)}` }] } } },
} as K8sObject)
const manifest = (...objects: K8sObject[]) => [{ apiVersion: 'v1', kind: 'Namespace', metadata: meta(NS, null) }, ...objects].map((o) => `---\n${stringify(o)}`).join('')
const request = (m: string): ReleaseRequest => ({
  env: environment('dev'), required: { environment: 'dev', namespace: NS, secrets: {} }, manifest: m, images: {}, commit: 'c1',
  origin: 'deploy', timeoutSeconds: 1, wait: { pollMs: 5, podCheckMs: 10 },
})

/** The finished spans as "parent > name" lines, in end order. */
function tree(spans: ReadableSpan[]): string[] {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]))
  return spans.map((s) => `${byId.get(s.parentSpanContext?.spanId ?? '')?.name ?? '-'} > ${s.name}`)
}

describe('the deploy traced', () => {
  it('one trace per run: plan, then the release with one span per operation, under the run span', async () => {
    let id = ''
    await inSpan('pipeline deploy', {}, async () => {
      id = traceId()
      await deployRelease(new FakeKube(), request(manifest(deployment('api'))))
    })
    const spans = exporter.getFinishedSpans()
    expect(id).toMatch(/^[0-9a-f]{32}$/)
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([id]))
    expect(tree(spans)).toEqual([
      'pipeline deploy > deploy.plan',
      'deploy.release > deploy.apply', // the Deployment (a first deploy creates the Namespace before taking the lock)
      'deploy.release > deploy.wait',
      'deploy.release > deploy.record',
      'pipeline deploy > deploy.release',
      '- > pipeline deploy',
    ])
    expect(spans.find((s) => s.name === 'deploy.wait')?.attributes['deploy.operation']).toMatch(/^wait for \d+ objects? to roll out/)
    expect(spans.every((s) => s.status.code !== SpanStatusCode.ERROR)).toBe(true)
  })

  it('a failed release: the failed wait and the run are marked, the way back is its own span', async () => {
    const kube = new FakeKube((o) => (o.metadata.name === 'worker' ? 'stalled' : 'ready'))
    await deployRelease(kube, request(manifest(deployment('api'))))
    exporter.reset()
    await expect(inSpan('pipeline deploy', {}, () => deployRelease(kube, request(manifest(deployment('api', '2'), deployment('worker'))))))
      .rejects.toThrow(/failed and was rolled back/)
    const spans = exporter.getFinishedSpans()
    const failed = spans.filter((s) => s.status.code === SpanStatusCode.ERROR).map((s) => s.name)
    expect(failed).toEqual(['deploy.wait', 'pipeline deploy'])
    expect(spans.find((s) => s.name === 'deploy.wait')?.status.message).toMatch(/worker: ProgressDeadlineExceeded/)
    expect(tree(spans)).toContain('pipeline deploy > deploy.recovery')
    expect(tree(spans)).toContain('deploy.recovery > deploy.plan') // the good release planned against the cluster as it is now
    expect(tree(spans)).toContain('deploy.recovery > deploy.wait')
    expect(spans.find((s) => s.name === 'pipeline deploy')?.events.map((e) => e.name)).toEqual(['exception'])
  })

  it('without a tracer provider the spans cost nothing and the trace id is empty', async () => {
    trace.disable()
    try {
      expect(await inSpan('x', {}, async () => traceId())).toBe('')
    } finally {
      trace.setGlobalTracerProvider(provider)
    }
  })
})
