// The pipeline traced end to end (docs/pipeline.md, "Tracing a run"): `plan --env dev` run as `make plan` runs it
// (library mode, OTEL_EXPORTER_OTLP_ENDPOINT pointed at the lab's collector) prints its trace id, and the lab's Jaeger
// holds that trace: the run's root span, the deploy's plan below it, and the Dagger engine's own spans (the render's
// container runs) inside the same trace, every span's parent found in it, and none of the kubeconfig's credentials
// (passed as a Dagger Secret) in any span. Needs `make lab-up`.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { labVar } from '../env.js'
import { pollUntil } from '../lib/proc.mjs'

const run = promisify(execFile)
const REPO = path.resolve(import.meta.dirname, '..', '..')

interface JaegerSpan { spanID: string; operationName: string; processID: string; references?: { refType: string; spanID: string }[]; tags?: { key: string; value: unknown }[] }
interface JaegerTrace { traceID: string; spans: JaegerSpan[]; processes: Record<string, { serviceName: string }> }

/**
 * The trace as Jaeger's query API returns it once it holds every span named in `names` (the SDK and the CLI export
 * in batches, each on its own schedule); at the deadline fails naming the spans it has.
 */
async function trace(id: string, names: string[], deadlineMs = 60_000): Promise<JaegerTrace> {
  const read = async () => {
    const res = await fetch(`${labVar('LAB_JAEGER_URL')}/api/traces/${id}`)
    if (!res.ok) throw new Error(`Jaeger answers ${res.status}`)
    const t = ((await res.json()) as { data?: JaegerTrace[] }).data?.[0]
    if (!t) throw new Error('Jaeger has no such trace yet')
    return t
  }
  return pollUntil(read, {
    timeoutMs: deadlineMs, everyMs: 2000, done: (t) => names.every((n) => t.spans.some((sp) => sp.operationName === n)),
    describe: (t) => `it has ${t.spans.map((sp) => sp.operationName).join(', ')}`,
    onTimeout: (_, seen) => new Error(`trace ${id}: not every span of ${names.join(', ')} in Jaeger after ${deadlineMs / 1000}s; ${seen}`),
  })
}

describe('a pipeline run is one trace in the lab\'s Jaeger', () => {
  it('plan --env dev: the root span, deploy.plan and the engine\'s spans, one trace', async () => {
    const { stderr } = await run('node', ['ci/pipeline.mjs', 'plan', '--env', 'dev', '--kubeconfig', `file:${labVar('KUBECONFIG_DEPLOYER')}`], {
      cwd: REPO, env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: labVar('LAB_OTLP_ENDPOINT') }, maxBuffer: 64 * 1024 * 1024,
    })
    const id = /^trace: ([0-9a-f]{32})$/m.exec(stderr)?.[1]
    expect(id, stderr.slice(-2000)).toBeDefined()
    const t = await trace(id!, ['pipeline plan', 'deploy.plan', 'Container.withExec'])
    const service = (s: JaegerSpan) => t.processes[s.processID].serviceName
    const names = t.spans.map((s) => s.operationName)
    expect(names).toContain('pipeline plan')
    expect(names).toContain('deploy.plan')
    const root = t.spans.find((s) => s.operationName === 'pipeline plan')!
    const plan = t.spans.find((s) => s.operationName === 'deploy.plan')!
    expect(plan.references?.[0]?.spanID).toBe(root.spanID)
    // the engine's spans (the render's kustomize in a container, the source upload) came through the same trace
    const engine = t.spans.filter((s) => service(s) !== service(root))
    expect(engine.length, `services: ${[...new Set(t.spans.map(service))].join(', ')}`).toBeGreaterThan(0)
    expect(engine.some((s) => /withExec|exec|kustomize/i.test(s.operationName)), names.join(', ')).toBe(true)
    // the kubeconfig went in as a Dagger Secret: none of its credentials is in any span
    const creds = (parse(fs.readFileSync(labVar('KUBECONFIG_DEPLOYER'), 'utf8')) as { users: { user: Record<string, unknown> }[] }).users
      .flatMap((u) => Object.values(u.user)).filter((v): v is string => typeof v === 'string' && v.length > 16)
    expect(creds.length).toBeGreaterThan(0)
    const text = JSON.stringify(t)
    expect(creds.filter((c) => text.includes(c.slice(0, 32)))).toEqual([])
    // one tree: every span but the root has its parent in this trace
    const ids = new Set(t.spans.map((s) => s.spanID))
    const orphans = t.spans.filter((s) => s !== root && !(s.references ?? []).some((r) => ids.has(r.spanID)))
    expect(orphans.map((s) => `${service(s)}: ${s.operationName}`)).toEqual([])
  }, 600_000)
})
