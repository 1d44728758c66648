// The lab's ingress controller (lab/components/ingress.mjs) serving the dev environment on the real node: its Ingress
// (class nginx, k8s/base/ingress.yaml) answered over HTTPS on 127.0.0.1:443 with the lab CA's certificate, refused by a
// client that does not trust that CA, plain HTTP redirected, the ingress-nginx body-size annotation enforced, and
// headless Chromium (Debian's, as the compose smoke test drives it) showing the dashboard with the API's live numbers.
// Reuses dev when it runs on the real node (as `make deploy ENV=dev` leaves it), deploys it from source otherwise.
// Holds the lab environments' lock: nothing else deploys dev meanwhile. Needs `make lab-up`.
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { connection, dag } from '@dagger.io/dagger'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../env.js'
import { labPipeline, labSigning, repoSource } from '../pipeline.js'
import { withLabEnvironments } from '../environments-lock.js'
import { Kube, type KubeObject } from '../../ci/src/adapters/kubernetes.js'
import { environment } from '../../ci/src/config/environments.js'
import { ADDRESS, NAMESPACE, PORTS, TLS_SECRET } from './ingress.mjs'
import { prepareNamespace } from './storage.mjs'
import { pollUntil } from '../lib/proc.mjs'

const run = promisify(execFile)
const REPO = path.resolve(import.meta.dirname, '..', '..')
const dev = environment('dev')
const DASHBOARD = dev.host
const API = `api.${dev.host}`
/** A fixed commit: when dev must be deployed, a second run finds its images already published. */
const COMMIT = '1e9e55001e9e55001e9e55001e9e55001e9e5500'

let admin: Kube
let ca: Buffer
let release: (() => void) | undefined
let lock: Promise<unknown> | undefined

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string; fingerprint?: string }

/** A request to `host` through the ingress on 127.0.0.1 (the host's name is not in any DNS): HTTPS unless `plain`. */
function viaIngress(host: string, urlPath: string, opts: { ca?: Buffer; plain?: boolean; method?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const common = { host: ADDRESS, path: urlPath, method: opts.method ?? 'GET', headers: { host, ...opts.headers }, timeout: 20000 }
    const done = (res: http.IncomingMessage) => {
      const fingerprint = opts.plain ? undefined : (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), fingerprint }))
    }
    const req = opts.plain
      ? http.request({ ...common, port: PORTS.http }, done)
      : https.request({ ...common, port: PORTS.https, servername: host, ca: opts.ca, agent: false }, done)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(opts.body)
  })
}

type Deployment = KubeObject & { spec: { template: { spec: { nodeSelector?: Record<string, string> } } }; status?: { availableReplicas?: number } }

/** True when dev's API and dashboard are available on the real node and its Ingress is there. */
async function devRunning(): Promise<boolean> {
  const deps = await admin.list<Deployment>('apps/v1', 'Deployment', { namespace: dev.namespace })
  const onNode = ['api', 'dashboard'].every((n) => {
    const d = deps.find((x) => x.metadata.name === n)
    return d?.spec.template.spec.nodeSelector?.['graphmemory.dev/real-node'] === 'true' && (d.status?.availableReplicas ?? 0) > 0
  })
  const ingresses = await admin.list('networking.k8s.io/v1', 'Ingress', { namespace: dev.namespace })
  return onNode && ingresses.length > 0
}

/** Deploys dev from source to the real node, as `make deploy ENV=dev` does (its namespace prepared first). */
async function deployDev(): Promise<void> {
  await prepareNamespace(dev.namespace)
  await connection(async () => {
    const signing = labSigning()
    await labPipeline(repoSource(), COMMIT).deploy(dev.name, dag.secret(`file://${labVar('KUBECONFIG_DEPLOYER')}`),
      dag.secret(`file://${labVar('LAB_DEPLOY_SECRETS')}/dev.yaml`), '', labVar('LAB_RELEASE_USER'),
      dag.secret(`file://${labVar('LAB_RELEASE_PASSWORD_FILE')}`), 300, undefined, signing.key, signing.password)
  })
}

/**
 * Waits until the ingress serves `host` (a new Ingress or Secret reaches the controller within seconds); on timeout
 * fails with the last answer.
 */
async function waitServed(host: string, urlPath: string, timeoutMs = 60000): Promise<Answer> {
  return pollUntil(() => viaIngress(host, urlPath, { ca }), {
    timeoutMs, everyMs: 1000, done: (r) => r.status === 200,
    describe: (r) => `${r.status} ${r.body.slice(0, 200)}`,
    onTimeout: (_, seen) => new Error(`the ingress does not serve ${host}${urlPath} after ${timeoutMs / 1000}s: ${seen}`),
  })
}

/**
 * Waits (up to 5 minutes: another test's namespace holding a copy of dev's manifest goes with that test) until no
 * Ingress outside dev names one of dev's hosts, which would split the host's requests; then fails naming them.
 */
async function waitHostsOwned(timeoutMs = 300000): Promise<void> {
  type Ingress = KubeObject & { spec: { rules?: { host?: string }[] } }
  const others = async () => (await admin.list<Ingress>('networking.k8s.io/v1', 'Ingress'))
    .filter((i) => i.metadata.namespace !== dev.namespace && (i.spec.rules ?? []).some((r) => r.host === DASHBOARD || r.host === API))
  await pollUntil(others, {
    timeoutMs, everyMs: 5000, done: (found) => found.length === 0,
    onTimeout: (found) => new Error(`dev's hosts are also named by ${Array.isArray(found) ? found.map((i: Ingress) => `${i.metadata.namespace}/${i.metadata.name}`).join(', ') : String(found)}: ` +
      'a test namespace must give its Ingress hosts of its own (lab/lib/ingress-ca.mjs certificateFor issues their certificate)'),
  })
}

/**
 * Chromium opens `url` (every host mapped to the ingress), trusting `caFile` for this browser only (or nothing), and
 * waits for the `expect` strings and `minMetrics` metric tiles.
 */
async function browse(url: string, caFile: string | undefined, minMetrics: number, expect: string[]) {
  const script = path.join(import.meta.dirname, 'ingress_browser.py')
  const { stdout } = await run(labVar('LAB_SMOKE_PYTHON'), [script, url, ADDRESS, caFile ?? '-', String(minMetrics), ...expect], { timeout: 200000 })
  const page = JSON.parse(stdout) as { text: string; missing: string[]; metrics: Record<string, string>; attempts: number }
  if (page.attempts > 1) console.warn(`${url}: the page showed nothing in time; loaded at attempt ${page.attempts}`)
  return page
}

beforeAll(async () => {
  admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
  ca = fs.readFileSync(labVar('LAB_INGRESS_CA'))
  await new Promise<void>((taken) => {
    lock = withLabEnvironments(() => { taken(); return new Promise<void>((r) => { release = r }) })
  })
  if (!(await devRunning())) await deployDev()
  await waitHostsOwned()
  await waitServed(DASHBOARD, '/_stcore/health', 120000)
}, 1_500_000) // hang guard: a deploy from source on a cold engine

afterAll(async () => {
  release?.()
  await lock
})

describe('the lab ingress controller (traefik, kubernetesingressnginx) serving dev', () => {
  it('runs on the real node and publishes its loopback address on the Ingress; the TLS Secret is the lab CA\'s for the Ingress hosts', async () => {
    type Pod = KubeObject & { spec: { nodeName?: string; hostNetwork?: boolean } }
    type Ended = Pod & { status?: { phase?: string } }
    // a pod that ended for good (stopped by a node shutdown) stays listed until deleted: only the live ones count
    const pods = (await admin.list<Ended>('v1', 'Pod', { namespace: NAMESPACE })).filter((p) => !['Failed', 'Succeeded'].includes(p.status?.phase ?? ''))
    expect(pods.map((p) => ({ node: p.spec.nodeName, hostNetwork: p.spec.hostNetwork }))).toEqual([{ node: labVar('LAB_NODE_NAME'), hostNetwork: true }])
    type Ingress = KubeObject & { spec: { ingressClassName: string; tls: { hosts: string[]; secretName: string }[] }; status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }
    const [ing] = await admin.list<Ingress>('networking.k8s.io/v1', 'Ingress', { namespace: dev.namespace })
    expect(ing.spec.ingressClassName).toBe('nginx') // the overlay's class, unchanged
    expect(ing.status?.loadBalancer?.ingress).toEqual([{ ip: ADDRESS }])
    const secret = await admin.get<KubeObject & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'Secret', name: TLS_SECRET, namespace: dev.namespace })
    const cert = new crypto.X509Certificate(Buffer.from(secret!.data['tls.crt'], 'base64'))
    expect(cert.verify(new crypto.X509Certificate(ca).publicKey)).toBe(true)
    for (const host of ing.spec.tls[0].hosts) expect(cert.checkHost(host), host).toBe(host)
    // the same certificate the deploy applies from the environment's deploy secrets (the next deploy keeps it)
    const file = parse(fs.readFileSync(path.join(labVar('LAB_DEPLOY_SECRETS'), 'dev.yaml'), 'utf8'))
    expect(file[TLS_SECRET]['tls.crt']).toBe(Buffer.from(secret!.data['tls.crt'], 'base64').toString('utf8'))
  })

  it('answers the dashboard and the API over HTTPS with the lab CA, with the environment\'s certificate, as the Services do', async () => {
    const health = await viaIngress(DASHBOARD, '/_stcore/health', { ca })
    expect([health.status, health.body]).toEqual([200, 'ok'])
    const status = await viaIngress(API, '/status', { ca })
    expect(status.status).toBe(200)
    expect(JSON.parse(status.body)).toMatchObject({ service: 'api', memories: expect.any(Number) })
    const secret = await admin.get<KubeObject & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'Secret', name: TLS_SECRET, namespace: dev.namespace })
    const served = new crypto.X509Certificate(Buffer.from(secret!.data['tls.crt'], 'base64')).fingerprint256
    expect(health.fingerprint).toBe(served)
    expect(status.fingerprint).toBe(served)
    // the Service straight (its ClusterIP) gives the same answer
    const svc = await admin.get<KubeObject & { spec: { clusterIP: string; ports: { port: number }[] } }>({ apiVersion: 'v1', kind: 'Service', name: 'api', namespace: dev.namespace })
    const direct = await (await fetch(`http://${svc!.spec.clusterIP}:${svc!.spec.ports[0].port}/status`)).json()
    expect(JSON.parse(status.body)).toEqual(direct)
  })

  it('is refused by a client without the lab CA: the certificate does not verify, nothing is sent', async () => {
    for (const host of [DASHBOARD, API]) {
      const err = await viaIngress(host, '/', {}).then(() => undefined, (e: NodeJS.ErrnoException) => e)
      expect(err?.code, host).toMatch(/^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)$/)
    }
    // a host no Ingress names gets the controller's default certificate, which the lab CA did not issue
    const other = await viaIngress('nothing.graphmemory.example.com', '/', { ca }).then(() => undefined, (e: NodeJS.ErrnoException) => e)
    expect(other?.code).toMatch(/^(DEPTH_ZERO_SELF_SIGNED_CERT|ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)$/)
  })

  it('redirects plain HTTP to HTTPS (the Ingress\'s ssl-redirect annotation)', async () => {
    for (const host of [DASHBOARD, API]) {
      const r = await viaIngress(host, '/status?x=1', { plain: true })
      expect({ host, status: r.status, location: r.headers.location }).toEqual({ host, status: 308, location: `https://${host}/status?x=1` })
    }
  })

  it('refuses a request body over the Ingress\'s proxy-body-size (1m) before it reaches the API', async () => {
    // the controller answers 413 and closes while the client may still be writing the 2 MB: that write can then
    // fail (EPIPE, ECONNRESET) before the answer is read, so such an attempt is made again (seen once under load)
    const post = () => viaIngress(API, '/memories', { ca, method: 'POST', body: Buffer.alloc(2 * 1024 * 1024, 'a'), headers: { 'content-type': 'application/json' } })
    let r: Answer | undefined
    for (let attempt = 1; !r; attempt++) {
      r = await post().catch((err: NodeJS.ErrnoException) => {
        if (attempt >= 5 || !['EPIPE', 'ECONNRESET'].includes(err.code ?? '')) throw err
        return undefined
      })
    }
    expect(r.status).toBe(413)
  })

  it('make deploy\'s last step (scripts/health-check --ca) checks each Ingress host through the ingress and prints the URLs and how to reach them', async () => {
    const check = (...extra: string[]) => run('node', [path.join(REPO, 'scripts', 'health-check'), '--namespace', dev.namespace,
      '--kubeconfig', labVar('KUBECONFIG_DEPLOYER'), ...extra], { timeout: 60000 }).then((r) => ({ code: 0, out: r.stdout }), (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }))
    // (its exit code also counts the services' readiness, which this file does not test)
    const ok = await check('--ca', labVar('LAB_INGRESS_CA'))
    expect(ok.out).toMatch(new RegExp(`^ok +ingress ${DASHBOARD.replaceAll('.', '\\.')} +https://${DASHBOARD}/_stcore/health via 127\\.0\\.0\\.1: 200`, 'm'))
    expect(ok.out).toMatch(new RegExp(`^ok +ingress ${API.replaceAll('.', '\\.')} +https://${API}/ready via 127\\.0\\.0\\.1: 200`, 'm'))
    expect(ok.out).toContain(`curl --resolve ${DASHBOARD}:443:127.0.0.1 --cacert ${labVar('LAB_INGRESS_CA')} https://${DASHBOARD}/`)
    expect(ok.out).toContain(`/etc/hosts: 127.0.0.1 ${DASHBOARD} ${API}`)
    // without the CA (the system's trust only) the hosts fail, and the check with them
    const untrusted = await check()
    expect(untrusted.code, untrusted.out).toBe(1)
    expect(untrusted.out).toMatch(new RegExp(`^FAIL +ingress ${DASHBOARD.replaceAll('.', '\\.')} .*UNABLE_TO_VERIFY_LEAF_SIGNATURE`, 'm'))
  })

  it('Chromium opens the dashboard over HTTPS through the ingress and shows the API\'s live numbers; without the lab CA it does not load', async () => {
    await waitHostsOwned() // the slowest test: another test's copy of dev may have come meanwhile
    // a memory written through the ingress (the API's bootstrap key from dev's deploy secrets), then the counts the API
    // gives before and after the page is read (equal, unless something else writes to dev meanwhile)
    const key = parse(fs.readFileSync(path.join(labVar('LAB_DEPLOY_SECRETS'), 'dev.yaml'), 'utf8'))['graphmemory-api']['bootstrap-api-key']
    const text = `seen through the lab ingress ${crypto.randomBytes(4).toString('hex')}`
    const created = await viaIngress(API, '/memories', {
      ca, method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: Buffer.from(JSON.stringify({ text, tags: ['ingress-test'], project: 'lab-ingress' })),
    })
    expect(created.status, created.body).toBe(201)
    const counts = async () => JSON.parse((await viaIngress(API, '/status', { ca })).body) as Record<'memories' | 'links' | 'projects', number>
    const before = await counts()
    const page = await browse(`https://${DASHBOARD}/`, labVar('LAB_INGRESS_CA'), 3, ['GraphMemory-IDE', 'Memory graph', text])
    const after = await counts()
    expect(page.missing).toEqual([])
    expect(page.text).not.toMatch(/unavailable|Traceback/)
    for (const [tile, k] of [['Memories', 'memories'], ['Links', 'links'], ['Projects', 'projects']] as const) {
      const shown = Number(page.metrics[tile])
      expect({ tile, shown, within: shown >= before[k] && shown <= after[k] }).toEqual({ tile, shown, within: true })
    }

    const refused = await browse(`https://${DASHBOARD}/`, undefined, 0, ['Your connection is not private'])
    expect(refused.missing).toEqual([])
    expect(refused.text).toMatch(/NET::ERR_CERT_AUTHORITY_INVALID/)
    expect(refused.metrics).toEqual({})
  }, 720000)
})
