// Zero-downtime, measured: steady requests to the API (GET /memories, which reads the graph through the graph
// service) and to the dashboard (GET /, Streamlit's page) of a deployed lab environment, as a user's browser sends
// them: HTTPS to the environment's hosts through the lab's ingress on 127.0.0.1, the lab CA trusted, connections kept
// alive (--via service: to the Services' ClusterIPs instead), while the environment
//   (a) deploys a one-line change of the API's code (new API image: the API replicas roll, the graph pod is recreated),
//   (b) rolls back to the previous release,
//   (c) loses pods: the graph pod, one API pod and one dashboard pod deleted one after the other,
//   (d) receives a promotion (dev's digests promoted to the target environment, measured there).
// Per scenario and target it prints requests sent, failed, success %, the longest gap without a successful answer,
// and the slowest answer. Target: >= 99.9 % everywhere, 0 failed in (a) and (b).
//
//   make bench-availability [ARGS="--env dev --to staging --rate 10 --only a,b,c,d --via service|ingress"]
//   (npx tsx bench/availability.ts with the lab env loaded)
//
// The deploys are the pipeline's own commands in library mode, as `make deploy`/`rollback`/`promote` run them
// (with COMPONENTS=lab-real-node), on a copy of the working tree (the one-line change is made in the copy; the
// working tree is not touched). First it deploys the copy unchanged to --env and --to (not measured), so that each
// scenario starts from a running environment.
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { labVar } from '../lab/env.js'
import type { V1Pod, V1Service } from '@kubernetes/client-node'
import { Kube } from '../ci/src/adapters/kubernetes.js'
import { environment } from '../ci/src/config/environments.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const arg = (name: string, dflt: string): string => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt }
const ENV = arg('env', 'dev')
const TO = arg('to', 'staging')
const RATE = Number(arg('rate', '10')) // requests per second, per target
const ONLY = new Set(arg('only', 'a,b,c,d').split(','))
const COMPONENTS = arg('components', 'lab-real-node')
const VIA = arg('via', 'ingress')
if (VIA !== 'service' && VIA !== 'ingress') throw new Error(`--via takes service or ingress, not "${VIA}"`)
const TIMEOUT_MS = 60_000 // above the API's GRAPH_RETRY_SECONDS (30 in k8s/base/config.env): a request the API holds while the graph restarts is slow, not failed
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const secs = (ms: number) => (ms / 1000).toFixed(1)

const kube = Kube.fromFile(labVar('KUBECONFIG_LAB'))

/** One request's outcome: when it was sent and answered (ms since the scenario's start), and whether it was a 2xx. */
type Outcome = { sent: number; done: number; ok: boolean; why?: string }

/** Sends GET url every 1000/RATE ms (open loop: a slow answer does not delay the next request) until stopped. */
function traffic(url: string, t0: number) {
  const outcomes: Outcome[] = []
  const inflight = new Set<Promise<void>>()
  let stopped = false
  const tick = setInterval(() => {
    if (stopped) return
    const sent = performance.now() - t0
    const p = get(url)
      .then((status) => { const ok = status >= 200 && status < 300; outcomes.push({ sent, done: performance.now() - t0, ok, why: ok ? undefined : `HTTP ${status}` }) })
      .catch((e: Error & { cause?: { code?: string } }) => { outcomes.push({ sent, done: performance.now() - t0, ok: false, why: e.cause?.code ?? e.name }) })
      .finally(() => inflight.delete(p))
    inflight.add(p)
  }, 1000 / RATE)
  return {
    async stop(): Promise<Outcome[]> {
      stopped = true
      clearInterval(tick)
      await Promise.all(inflight)
      return outcomes.sort((a, b) => a.sent - b.sent)
    },
  }
}

/** Requests, failures, success %, the longest time without a successful answer, the slowest answer. */
function summary(outcomes: Outcome[], end: number) {
  const failed = outcomes.filter((o) => !o.ok)
  const okDone = outcomes.filter((o) => o.ok).map((o) => o.done).sort((a, b) => a - b)
  let gap = 0
  let last = 0
  for (const t of [...okDone, end]) { gap = Math.max(gap, t - last); last = t }
  const why = [...new Set(failed.map((f) => f.why))].join(', ')
  return {
    sent: outcomes.length, failed: failed.length, success: outcomes.length ? (100 * (outcomes.length - failed.length)) / outcomes.length : 0,
    gapMs: gap, slowestMs: Math.max(0, ...outcomes.map((o) => o.done - o.sent)), why,
  }
}

/** Every host name resolved to the lab's ingress address (node asks for one address or, with `all`, a list). */
const toIngress = ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) =>
  (opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4))) as unknown as https.AgentOptions['lookup']

/** Through the ingress: the lab CA trusted, every host sent to 127.0.0.1 (as `curl --resolve` does), kept alive. */
const ingressAgent = VIA === 'ingress'
  ? new https.Agent({ keepAlive: true, ca: fs.readFileSync(labVar('LAB_INGRESS_CA')), lookup: toIngress })
  : undefined

/** GETs a URL (its whole body read); resolves to the HTTP status. */
function get(url: string): Promise<number> {
  if (!url.startsWith('https:')) return fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) }).then(async (r) => { await r.arrayBuffer(); return r.status })
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent: ingressAgent, timeout: TIMEOUT_MS }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { cause: { code: 'TimeoutError' } })))
    req.on('error', (e: Error & { code?: string }) => reject(Object.assign(e, { cause: { code: e.code ?? e.name } })))
  })
}

/** Where a target is reached: its Ingress host over HTTPS (--via ingress; the API at api.<host>), or its Service. */
async function targetUrl(namespace: string, name: 'api' | 'dashboard', pathAndQuery: string): Promise<string> {
  if (VIA === 'service') return serviceUrl(namespace, name, pathAndQuery)
  const host = environment(namespace.replace(/^graphmemory-/, '')).host
  return `https://${name === 'api' ? `api.${host}` : host}${pathAndQuery}`
}

/** The ClusterIP:port of a Service. */
async function serviceUrl(namespace: string, name: string, pathAndQuery: string): Promise<string> {
  const svc = await kube.get<V1Service>({ apiVersion: 'v1', kind: 'Service', name, namespace })
  if (!svc?.spec?.clusterIP || !svc.spec.ports?.length) throw new Error(`no Service ${namespace}/${name} with a ClusterIP: deploy the environment first`)
  return `http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}${pathAndQuery}`
}

/** Runs a command, its output prefixed and indented; rejects on a non-zero exit. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const show = (b: Buffer) => { for (const l of b.toString().split('\n').filter(Boolean)) console.log(`      | ${l}`) }
    p.stdout.on('data', show)
    p.stderr.on('data', show)
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))))
  })
}

/** The pipeline in library mode on `source`, as the Makefile runs it (the deployer identity, the release registry). */
function pipeline(source: string, commit: string, fn: string[]): Promise<void> {
  const auth = ['--kubeconfig', `file:${labVar('KUBECONFIG_DEPLOYER')}`]
  const release = ['--username', labVar('LAB_RELEASE_USER'), '--password', `file:${labVar('LAB_RELEASE_PASSWORD_FILE')}`]
  const secrets = (env: string) => ['--secrets', `file:${path.join(labVar('LAB_DEPLOY_SECRETS'), `${env}.yaml`)}`]
  const signing = ['--signing-key', `file:${labVar('LAB_SIGNING_KEY_FILE')}`, '--signing-password', `file:${labVar('LAB_SIGNING_PASSWORD_FILE')}`]
  // deploy builds, signs and verifies; promote and rollback verify the images' signatures before applying
  const extra = fn[0] === 'deploy' ? [...auth, ...secrets(fn[2]), ...release, ...signing]
    : fn[0] === 'promote' ? [...auth, ...secrets(fn[4]), ...release] : [...auth, ...release, ...signing]
  return run(process.execPath, [path.join(REPO, 'ci', 'pipeline.mjs'), '--source', source, '--commit', commit, '--components', COMPONENTS, ...fn, ...extra], REPO)
}

/** What `make deploy`/`promote` do first: an environment deployed to the kwok nodes before moves to the node's volumes. */
const prepare = (env: string) => run(process.execPath, [path.join(REPO, 'lab', 'components', 'storage.mjs'), 'prepare', '--components', COMPONENTS, `graphmemory-${env}`], REPO)

/** A copy of the working tree (what `make deploy` would build), without node_modules, .git and outputs. */
function copyTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-availability-'))
  fs.cpSync(REPO, dir, {
    recursive: true,
    filter: (src) => !/(^|\/)(node_modules|\.git|\.ci-out|__pycache__|\.pytest_cache)(\/|$)/.test(path.relative(REPO, src)),
  })
  return dir
}

/** Steady traffic to the API and the dashboard of `namespace` around `action`; the two summaries. */
async function measure(label: string, namespace: string, action: () => Promise<void>) {
  const api = await targetUrl(namespace, 'api', '/memories?limit=5')
  const dash = await targetUrl(namespace, 'dashboard', '/')
  const t0 = performance.now()
  const streams = { api: traffic(api, t0), dashboard: traffic(dash, t0) }
  console.log(`  ${label}: ${RATE} req/s each to ${api} and ${dash}`)
  await sleep(3000)
  const a0 = performance.now()
  const failure = await action().then(() => undefined, (e: Error) => e.message)
  const took = performance.now() - a0
  await sleep(5000)
  const end = performance.now() - t0
  const rows = { api: summary(await streams.api.stop(), end), dashboard: summary(await streams.dashboard.stop(), end) }
  const result = { label: failure ? `${label} (action FAILED)` : label, took, rows, failure }
  print([result]) // as soon as measured: a later scenario's failure does not lose it
  return result
}

type Result = { label: string; took: number; rows: Record<string, ReturnType<typeof summary>>; failure?: string }

/** The table, one line per scenario and target; true when a target was missed. */
function print(results: Result[]): boolean {
  let bad = false
  console.log('scenario                                                target     sent  failed  success %  longest gap s  slowest s  action s')
  for (const r of results) {
    if (r.failure) { bad = true; console.log(`${r.label}: ${r.failure}`) }
    for (const [target, s] of Object.entries(r.rows)) {
      const zero = /^\((a|b)\)/.test(r.label)
      if (s.success < 99.9 || (zero && s.failed > 0)) bad = true
      console.log(`${r.label.slice(0, 55).padEnd(55)} ${target.padEnd(10)} ${String(s.sent).padStart(5)} ${String(s.failed).padStart(7)} ${s.success.toFixed(2).padStart(10)} ${secs(s.gapMs).padStart(14)} ${secs(s.slowestMs).padStart(10)} ${secs(r.took).padStart(9)}${s.why ? `  (${s.why})` : ''}`)
    }
  }
  return bad
}

const commit = () => crypto.randomBytes(20).toString('hex')
const results: Result[] = []
const source = copyTree()
const nsOf = (env: string) => `graphmemory-${env}`
try {
  console.log(`availability bench: env ${ENV} (promotion to ${TO}), components ${COMPONENTS}, requests via ${VIA}, source copy ${source}`)
  const base = commit()
  console.log(`  baseline: deploy the working tree to ${ENV}${ONLY.has('d') ? ` and ${TO}` : ''} (not measured)`)
  await prepare(ENV)
  await pipeline(source, base, ['deploy', '--env', ENV])
  if (ONLY.has('d')) { await prepare(TO); await pipeline(source, base, ['deploy', '--env', TO]) }
  const changed = commit()
  const main = path.join(source, 'services', 'api', 'app', 'main.py')
  fs.appendFileSync(main, `# availability bench: one-line change ${changed.slice(0, 12)}\n`)
  if (ONLY.has('a')) results.push(await measure('(a) deploy a one-line API change', nsOf(ENV), () => pipeline(source, changed, ['deploy', '--env', ENV])))
  if (ONLY.has('d')) results.push(await measure(`(d) promote ${ENV} → ${TO}`, nsOf(TO), () => pipeline(source, changed, ['promote', '--from', ENV, '--to', TO])))
  if (ONLY.has('b')) results.push(await measure('(b) roll back', nsOf(ENV), () => pipeline(source, changed, ['rollback', '--env', ENV])))
  if (ONLY.has('c')) {
    results.push(await measure('(c) delete the graph pod, an API pod, a dashboard pod', nsOf(ENV), async () => {
      for (const app of ['graph', 'api', 'dashboard']) {
        const [pod] = await kube.list<V1Pod>('v1', 'Pod', { namespace: nsOf(ENV), labelSelector: `app.kubernetes.io/name=${app}` })
        if (!pod) throw new Error(`no ${app} pod in ${nsOf(ENV)}`)
        const name = pod.metadata!.name!
        await kube.delete({ apiVersion: 'v1', kind: 'Pod', name, namespace: nsOf(ENV) })
        console.log(`      | deleted pod ${name}`)
        await sleep(15000) // let the replacement start before the next deletion
      }
    }))
  }
} finally {
  fs.rmSync(source, { recursive: true, force: true })
}

console.log(`\nload average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`)
const bad = print(results)
console.log(bad ? 'target missed: >= 99.9 % everywhere, 0 failed in (a) and (b)' : 'target met: >= 99.9 % everywhere, 0 failed in (a) and (b)')
process.exit(bad ? 1 : 0)
