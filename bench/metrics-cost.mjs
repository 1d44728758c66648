#!/usr/bin/env node
// What /metrics and the access log cost the API: requests/s of one cheap route under wrk, with the API's real
// Postgres and Redis (docker/production/docker-compose.prod.yml), in four variants of the same image:
//   base      the API as shipped (LOG_LEVEL=info: one JSON access line per request; metrics middleware), not scraped
//   scraped   the same container with GET /metrics every 1 s during the load (what Prometheus does)
//   quiet-log LOG_LEVEL=warning: the per-request access line is dropped (and every other info line)
//   no-metrics the metrics middleware removed from the app before it starts (access log kept): what counting and
//             timing each request costs
//   traced    tracing on as in production (k8s/base/config.env): OpenTelemetry's FastAPI and Redis instrumentation,
//             spans sampled parentbased_traceidratio 0.1 (each wrk request starts a trace: one in ten kept) and
//             exported over OTLP/HTTP to a Jaeger v2 container of the stack (JAEGER_IMAGE, the lab's LAB_IMAGE_JAEGER);
//             TRACE_RATIO=1 measures with every trace kept
//   node bench/metrics-cost.mjs [--rounds 7] [--duration 10] [--connections 8] [--path '/search?q=bench&limit=10']
//     [--variants base,scraped,quiet-log,no-metrics,traced] [--inprocess-rounds 20] [--inprocess-requests 200] [--json out.json]
// Then the in-process breakdown (IN_PROCESS below): what each middleware and the access line cost per request, in CPU
// time, which a shared machine's load disturbs far less than requests/s.
// Images from API_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE (`make bench-metrics` passes what `make ci` published and the
// lab's Postgres and Redis). Each variant is its own container made from the compose file's `api` service (same
// hardening, networks, limits, dependencies), differing only in the knob, with no compose healthcheck (its
// `python -c` probe every 5 s would run in the measured cgroup) and no published port: the load goes to the
// container's address (no docker-proxy in the way). Variants alternate in a new random order each round; the table has each variant's
// median and spread, and its difference from `base` measured within the same round (drift of a shared machine
// cancels), against the 1 % bound. The route: /search served from the Redis cache (two Redis GETs per request);
// Postgres is used by the seeding writes (API key check), not by the measured route. wrk comes from Debian: when
// missing the bench runs `apt-get install -y wrk` (saying so).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const composeFile = path.join(root, 'docker/production/docker-compose.prod.yml');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const rounds = Number(opt('rounds', '7'));
const duration = Number(opt('duration', '10'));
const connections = Number(opt('connections', '8'));
const route = opt('path', '/search?q=bench&limit=10');
const variants = opt('variants', 'base,scraped,quiet-log,no-metrics,traced').split(',');
const traceRatio = process.env.TRACE_RATIO ?? '0.1'; // the production sampling ratio (k8s/base/config.env)
const jsonOut = opt('json', null);
const ipRequests = Number(opt('inprocess-requests', '200')); // per batch; --inprocess-rounds 0 skips the breakdown
const ipRounds = Number(opt('inprocess-rounds', '20'));
const BOUND = 1; // %, the seed's bound on what monitoring may cost
const docker = process.env.DOCKER ?? 'docker';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => console.error(`bench: ${m}`);

// Starts the app as `python -m app` does, with the metrics middleware taken out of the middleware list first.
const NO_METRICS = [
  'import sys', 'import app.main as m', 'from app import metrics', 'make = m.create_app',
  // the pure ASGI class (now), or the @app.middleware("http") function (images built before it)
  'def is_metrics(x): return getattr(x.cls, "__name__", "") == "HttpMetricsMiddleware" or x.kwargs.get("dispatch") is getattr(metrics, "middleware", object())',
  'def create_app(settings):',
  '    a = make(settings)',
  '    a.user_middleware = [x for x in a.user_middleware if not is_metrics(x)]',
  '    return a',
  'm.create_app = create_app', 'from app.__main__ import main', 'sys.exit(main())',
].join('\n');

// The in-process breakdown, run inside the base container (`docker exec`, its own Kuzu in /tmp): the same app driven
// through ASGI one request at a time, its middleware stack swapped between batches, CPU time per request measured
// with process_time. Log lines go to stdout, a pipe, as in the container. Prints JSON on stderr.
const IN_PROCESS = `
import asyncio, json, logging, sys, time
from app import metrics
from app.main import create_app
from app.settings import Settings
try:
    from graphmemory_common import logs
except ImportError:  # images built before the shared package had app/logs.py
    from app import logs
from prometheus_client import generate_latest
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware

class NoopAsgi:  # a pure ASGI middleware that does nothing: what the layer itself costs without BaseHTTPMiddleware
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)

path, query, n, rounds = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4])
logs.configure("info")
app = create_app(Settings(kuzu_db_path="/tmp/kuzu-profile", kuzu_buffer_pool_mb=32))
full = list(app.user_middleware)
# the pure ASGI class (now), or the @app.middleware("http") function (images built before it)
def is_metrics(x): return getattr(x.cls, "__name__", "") == "HttpMetricsMiddleware" or x.kwargs.get("dispatch") is getattr(metrics, "middleware", object())
stacks = {"full": (full, "INFO"), "quiet-log": (full, "WARNING"),
          "no-metrics": ([m for m in full if not is_metrics(m)], "INFO"), "bare": ([], "INFO"),
          "no-op": ([Middleware(BaseHTTPMiddleware, dispatch=lambda request, call_next: call_next(request))], "INFO"),
          "no-op-asgi": ([Middleware(NoopAsgi)], "INFO")}
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
         "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": [(b"host", b"api")],
         "client": ("127.0.0.1", 1), "server": ("api", 8000)}

async def one():
    state = {"sent": False, "status": None}
    async def receive():
        if not state["sent"]:
            state["sent"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
    async def send(m):
        if m["type"] == "http.response.start":
            state["status"] = m["status"]
    await app(dict(scope), receive, send)
    assert state["status"] == 200, state

async def main():
    out = {k: [] for k in stacks}
    async with app.router.lifespan_context(app):
        names = list(stacks)
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                app.user_middleware, level = stacks[name]
                app.middleware_stack = None
                logging.getLogger().setLevel(level)
                for _ in range(50):
                    await one()
                t = time.process_time()
                for _ in range(n):
                    await one()
                out[name].append((time.process_time() - t) / n * 1e6)
        t = time.process_time()
        for _ in range(50):
            generate_latest(metrics.REGISTRY)
        out["scrape"] = (time.process_time() - t) / 50 * 1e6
        # the work itself, without any middleware: one request's counter and histogram, one access line (to stdout)
        http = getattr(metrics, "HTTP", None)  # images before graphmemory_common: module-level REQUESTS, LATENCY
        count, hist = (http.requests, http.latency) if http else (metrics.REQUESTS, metrics.LATENCY)
        t = time.process_time()
        for _ in range(5000):
            count.labels(path, "GET", "200").inc()
            hist.labels(path, "GET").observe(0.003)
        out["counting"] = (time.process_time() - t) / 5000 * 1e6
        logging.getLogger().setLevel("INFO")
        t = time.process_time()
        for _ in range(2000):
            logs.ACCESS.info("request", extra={"request_id": logs.request_id_of(None), "route": path, "method": "GET",
                                               "status": 200, "duration_ms": 3.21})
        out["accessLine"] = (time.process_time() - t) / 2000 * 1e6
    print(json.dumps(out), file=sys.stderr)

asyncio.run(main())
`;

/** Which compose service serves each variant (scraped shares base's container). */
const SERVICE = { base: 'api-base', scraped: 'api-base', 'quiet-log': 'api-quiet-log', 'no-metrics': 'api-no-metrics', traced: 'api-traced' };
const unknown = variants.filter((v) => !SERVICE[v]);
if (unknown.length) throw new Error(`unknown variant ${unknown.join(', ')}: choose from ${Object.keys(SERVICE).join(', ')}`);
if (!variants.includes('base')) throw new Error('--variants must include base (the differences are against it)');

/** The override file: copies of the compose file's own `api` service, each with its Kuzu volume and one knob, no probe. */
function overrideFile(dir) {
  const api = YAML.parse(fs.readFileSync(composeFile, 'utf8'), { merge: true }).services.api;
  const copy = (extra) => {
    const s = structuredClone(api);
    delete s.ports;
    s.healthcheck = { disable: true }; // its `python -c` probe every 5 s would run in the measured cgroup
    return { ...s, ...extra(s) };
  };
  const doc = {
    services: {
      'api-base': copy(() => ({ volumes: ['kuzu-base:/data/kuzu'] })),
      'api-quiet-log': copy((s) => ({ environment: { ...s.environment, LOG_LEVEL: 'warning' }, volumes: ['kuzu-quiet:/data/kuzu'] })),
      'api-no-metrics': copy(() => ({ entrypoint: ['python', '-c', NO_METRICS], volumes: ['kuzu-nometrics:/data/kuzu'] })),
      'api-traced': copy((s) => ({ environment: { ...s.environment, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: traceRatio }, volumes: ['kuzu-traced:/data/kuzu'] })),
    },
    volumes: { 'kuzu-base': {}, 'kuzu-quiet': {}, 'kuzu-nometrics': {}, 'kuzu-traced': {} },
  };
  const file = path.join(dir, 'metrics-cost.override.yml');
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}

function composeBase() {
  if (spawnSync(docker, ['compose', 'version']).status === 0) return [docker, 'compose'];
  if (spawnSync('docker-compose', ['version']).status === 0) return ['docker-compose'];
  throw new Error('neither `docker compose` nor `docker-compose` works: apt-get install docker-compose');
}

function ensureWrk() {
  if (spawnSync('wrk', ['-v']).error === undefined) return;
  log('wrk is missing: apt-get install -y wrk');
  execFileSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** One connection kept open for scrapes, as Prometheus keeps its own (destroyed at the end). */
const scrapeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(url, { method = 'GET', headers = {}, body, agent = false } = {}) { // no pool left behind by default
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: 5000, agent }, (res) => {
      let bytes = 0;
      res.on('data', (c) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode, bytes }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function waitReady(base, timeoutMs = 180000) {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if ((await request(`${base}/ready`).catch(() => ({}))).status === 200) return;
    await sleep(250);
  }
  throw new Error(`${base}/ready not 200 within ${timeoutMs / 1000}s`);
}

/** CPU time (ms) a container has used: its cgroup's counter (v1 cpuacct or v2 cpu.stat). */
function cpuMsOf(id) {
  const v1 = `/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`;
  if (fs.existsSync(v1)) return Number(fs.readFileSync(v1, 'utf8')) / 1e6;
  for (const dir of [`/sys/fs/cgroup/system.slice/docker-${id}.scope`, `/sys/fs/cgroup/docker/${id}`]) {
    const f = `${dir}/cpu.stat`;
    if (fs.existsSync(f)) return Number(fs.readFileSync(f, 'utf8').match(/^usage_usec (\d+)/m)[1]) / 1e3;
  }
  throw new Error(`no cgroup CPU counter for container ${id.slice(0, 12)}`);
}

/** CPU time (ms) dockerd has used: it writes the containers' json-file logs (shared with every other container). */
function dockerdMs() {
  const pid = fs.existsSync('/var/run/docker.pid') ? fs.readFileSync('/var/run/docker.pid', 'utf8').trim() : null;
  if (!pid) return NaN;
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, clock ticks of 10 ms
}

/** wrk against url; returns requests/s and latency percentiles (ms). Fails on any error or non-2xx answer. */
function wrk(url, seconds) {
  return new Promise((resolve, reject) => {
    execFile('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], (err, stdout) => {
      if (err) return reject(err);
      const bad = stdout.match(/Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/);
      if (bad) return reject(new Error(`wrk ${url}: ${bad[0]}`));
      const ms = (v, u) => Number(v) * { us: 0.001, ms: 1, s: 1000 }[u];
      const pct = (p) => { const m = stdout.match(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm')); return m ? ms(m[1], m[2]) : NaN; };
      resolve({ rps: Number(stdout.match(/Requests\/sec:\s+([\d.]+)/)[1]),
        requests: Number(stdout.match(/(\d+) requests in/)[1]), p50: pct(50), p99: pct(99) });
    });
  });
}

/** GET /metrics every second until stopped; returns the number of scrapes and their mean size. */
function scraper(base) {
  let stop = false; let n = 0; let bytes = 0;
  const done = (async () => {
    while (!stop) {
      const t = performance.now();
      const r = await request(`${base}/metrics`, { agent: scrapeAgent });
      if (r.status !== 200) throw new Error(`scrape ${base}/metrics: ${r.status}`);
      n += 1; bytes += r.bytes;
      await sleep(Math.max(0, 1000 - (performance.now() - t)));
    }
  })();
  return async () => { stop = true; await done; return { scrapes: n, meanBytes: n ? Math.round(bytes / n) : 0 }; };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const shuffle = (xs) => { const a = [...xs]; for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; } return a; };
const accessLines = (cid) => { // the access lines of `route`'s template, counted in the container's log
  const out = spawnSync(docker, ['logs', cid], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const all = `${out.stdout}${out.stderr}`.split('\n');
  const lines = all.filter((l) => l.includes('"logger": "gmi.access"') && l.includes(`"route": "${route.split('?')[0]}"`));
  return { lines: lines.length, meanBytes: lines.length ? Math.round(lines.reduce((s, l) => s + l.length + 1, 0) / lines.length) : 0 };
};

// ---- the stack ----------------------------------------------------------------------------------------------------
ensureWrk();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-metrics-cost-'));
const key = `gmi_bench_${randomBytes(16).toString('hex')}`;
const env = { ...process.env, JAEGER_PORT: '0', /* any free port: the lab's own Jaeger holds 16686 */ JAEGER_IMAGE: process.env.JAEGER_IMAGE ?? process.env.LAB_IMAGE_JAEGER ?? 'jaegertracing/jaeger:2.12.0', POSTGRES_PASSWORD: randomBytes(16).toString('hex'), REDIS_PASSWORD: randomBytes(16).toString('hex'),
  GMI_BOOTSTRAP_API_KEY: key };
const [cmd, ...pre] = composeBase();
const project = `gmi-metrics-${process.pid}`;
const override = overrideFile(tmp);
const compose = (...a) => execFileSync(cmd, [...pre, '-p', project, '-f', composeFile, '-f', override, ...a],
  { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
let tornDown = false;
function teardown() {
  if (tornDown) return;
  tornDown = true;
  try { compose('down', '-v', '--remove-orphans'); } catch (e) { console.error(`teardown: ${e.message}`); }
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', teardown);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { teardown(); process.exit(130); });

const result = { when: new Date().toISOString(), cpus: os.cpus().length, loadAvgBefore: os.loadavg().map((x) => +x.toFixed(2)),
  image: process.env.API_IMAGE ?? 'graphmemory/api:latest', route, rounds, duration, connections, boundPercent: BOUND, variants: {} };
try {
  const services = [...new Set(variants.map((v) => SERVICE[v]))];
  log(`compose up ${services.join(' ')} (${project}), wrk -t1 -c${connections} -d${duration}s ${route}`);
  compose('up', '-d', ...services, ...(variants.includes('traced') ? ['jaeger'] : []));
  const cid = Object.fromEntries(services.map((s) => [s, compose('ps', '-q', s).trim()]));
  const fullId = Object.fromEntries(services.map((s) => [s, execFileSync(docker, ['inspect', '-f', '{{.Id}}', cid[s]], { encoding: 'utf8' }).trim()]));
  const ip = (id) => execFileSync(docker, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${project}_frontend").IPAddress}}`, id], { encoding: 'utf8' }).trim();
  const base = Object.fromEntries(services.map((s) => [s, `http://${ip(cid[s])}:8000`]));
  await Promise.all(Object.values(base).map((b) => waitReady(b)));

  // seed through the API (Postgres checks the key, Kuzu stores): ten memories the route finds, then the cache warms
  for (let i = 0; i < 10; i++) {
    const r = await request(`${base['api-base']}/memories`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ text: `bench memory ${i}: metrics cost`, tags: ['bench'] }) });
    if (r.status !== 201) throw new Error(`seeding POST /memories: ${r.status}`);
  }
  const body = await request(`${base['api-base']}${route}`);
  if (body.status !== 200) throw new Error(`${route}: ${body.status}`);
  result.responseBytes = body.bytes;
  for (const s of services) await wrk(`${base[s]}${route}`, 3); // warm-up
  // what one scrape costs the API alone (idle otherwise): its CPU per /metrics page, over 100 scrapes in a row
  const c0 = cpuMsOf(fullId['api-base']);
  for (let i = 0; i < 100; i++) await request(`${base['api-base']}/metrics`, { agent: scrapeAgent });
  result.cpuMsPerScrape = (cpuMsOf(fullId['api-base']) - c0) / 100;

  const runs = Object.fromEntries(variants.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    const order = shuffle(variants);
    const line = [];
    for (const v of order) {
      const id = fullId[SERVICE[v]];
      const stopScraping = v === 'scraped' ? scraper(base['api-base']) : null;
      const [c0, d0] = [cpuMsOf(id), dockerdMs()];
      const w = await wrk(`${base[SERVICE[v]]}${route}`, duration);
      if (stopScraping) Object.assign(w, await stopScraping());
      w.cpuMsPerRequest = (cpuMsOf(id) - c0) / w.requests;
      w.dockerdUsPerRequest = ((dockerdMs() - d0) * 1000) / w.requests;
      runs[v].push(w);
      line.push(`${v} ${w.rps.toFixed(0)} req/s ${w.cpuMsPerRequest.toFixed(2)} ms CPU/req`);
    }
    log(`round ${r + 1}/${rounds}: ${line.join(', ')} (load ${os.loadavg()[0].toFixed(2)})`);
  }

  if (ipRounds > 0) { // the in-process breakdown, in the base container once the load is over
    log(`in-process breakdown: ${ipRounds} rounds x ${ipRequests} requests per middleware stack`);
    const [p, q = ''] = route.split('?');
    const r = spawnSync(docker, ['exec', '-i', cid['api-base'], 'python', '-', p, q, String(ipRequests), String(ipRounds)],
      { input: IN_PROCESS, encoding: 'utf8', maxBuffer: 1 << 28 });
    const json = r.stderr.trim().split('\n').pop();
    if (r.status !== 0 || !json.startsWith('{')) throw new Error(`in-process breakdown failed: ${r.stderr.slice(-2000)}`);
    const raw = JSON.parse(json);
    result.inProcess = { requestsPerBatch: ipRequests, rounds: ipRounds, scrapeUs: raw.scrape, countingUs: raw.counting, accessLineUs: raw.accessLine,
      usPerRequest: Object.fromEntries(['full', 'quiet-log', 'no-metrics', 'bare', 'no-op', 'no-op-asgi'].map((k) => [k, { runs: raw[k].map((x) => +x.toFixed(1)), median: median(raw[k]) }])) };
  }

  // the variants are what they claim: access lines only where logged at info, request metrics only where counted
  const metricsText = async (b) => new Promise((res, rej) => http.get(`${b}/metrics`, (m) => { let t = ''; m.on('data', (c) => { t += c; }); m.on('end', () => res(t)); }).on('error', rej));
  for (const s of services) {
    const counted = (await metricsText(base[s])).match(new RegExp(`^gmi_http_requests_total\\{[^}]*route="${route.split('?')[0].replace(/\//g, '\\/')}"[^}]*\\} ([\\d.e+]+)`, 'm'));
    result[s] = { accessLog: accessLines(cid[s]), countedRequests: counted ? Number(counted[1]) : 0 };
  }
  const check = (ok, what) => { if (!ok) throw new Error(`variant check failed: ${what}`); };
  check(result['api-base'].accessLog.lines > 0 && result['api-base'].countedRequests > 0, 'base logs and counts each request');
  if (result['api-quiet-log']) check(result['api-quiet-log'].accessLog.lines === 0, 'quiet-log writes no access line');
  if (result['api-no-metrics']) check(result['api-no-metrics'].countedRequests === 0 && result['api-no-metrics'].accessLog.lines > 0, 'no-metrics counts nothing and still logs');
  if (variants.includes('traced')) { // the traced variant's spans reached Jaeger: its query API knows the service, with traces
    const jaeger = `http://${ip(compose('ps', '-q', 'jaeger').trim())}:16686`;
    const found = await new Promise((res, rej) => http.get(`${jaeger}/api/traces?service=api&limit=1000&lookback=1h`, (m) => {
      let t = ''; m.on('data', (c) => { t += c; }); m.on('end', () => res(JSON.parse(t).data ?? [])); }).on('error', rej));
    result.tracedTracesInJaeger = found.length;
    check(found.length > 0, 'traced exports spans to Jaeger');
  }

  const pct = (x, b) => (100 * (x - b)) / b;
  for (const v of variants) {
    const rps = runs[v].map((w) => w.rps);
    const cpu = runs[v].map((w) => w.cpuMsPerRequest);
    const diffs = rps.map((x, i) => pct(x, runs.base[i].rps));
    const cpuDiffs = cpu.map((x, i) => pct(x, runs.base[i].cpuMsPerRequest));
    result.variants[v] = { rps, medianRps: median(rps), minRps: Math.min(...rps), maxRps: Math.max(...rps),
      medianP50ms: median(runs[v].map((w) => w.p50)), medianP99ms: median(runs[v].map((w) => w.p99)),
      diffVsBasePercent: diffs.map((d) => +d.toFixed(2)), medianDiffPercent: median(diffs),
      cpuMsPerRequest: cpu.map((x) => +x.toFixed(4)), medianCpuMs: median(cpu), minCpuMs: Math.min(...cpu), maxCpuMs: Math.max(...cpu),
      cpuDiffVsBasePercent: cpuDiffs.map((d) => +d.toFixed(2)), medianCpuDiffPercent: median(cpuDiffs),
      medianDockerdUs: median(runs[v].map((w) => w.dockerdUsPerRequest)),
      ...(v === 'scraped' ? { scrapesPerRun: runs[v].map((w) => w.scrapes), metricsBytes: runs[v][0].meanBytes } : {}) };
  }
} finally {
  scrapeAgent.destroy();
  teardown();
}

result.loadAvgAfter = os.loadavg().map((x) => +x.toFixed(2));
const f = (x, d = 0) => x.toFixed(d);
console.log(`machine: ${result.cpus} CPUs, load average ${result.loadAvgBefore.join(' ')} before, ${result.loadAvgAfter.join(' ')} after`);
console.log(`GET ${route} (${result.responseBytes} B, Redis cache hit), wrk -t1 -c${connections}, ${rounds} rounds x ${duration} s per variant, order shuffled each round`);
console.log(`access line: ${result['api-base'].accessLog.meanBytes} B per request at info; /metrics page: ${result.variants.scraped?.metricsBytes ?? '-'} B, `
  + `${f(result.cpuMsPerScrape, 1)} ms of API CPU per scrape over HTTP (idle API, 100 in a row on one kept-alive connection): at 1 scrape/s ${f(result.cpuMsPerScrape / 10, 2)} % of its one core`);
const signed = (x) => `${x >= 0 ? '+' : ''}${f(x, 1)} %`;
const verdict = (d, slower) => (Math.abs(d) <= BOUND ? 'within' : slower(d) ? 'MISSED' : 'beyond, other way');
console.log('variant      req/s median (min–max)   p50/p99 ms    CPU ms/req (min–max)   dockerd µs/req | vs base, paired by round: req/s        CPU/req');
for (const [v, r] of Object.entries(result.variants)) {
  const span = (d) => `${signed(median(d))} (${f(Math.min(...d), 1)}…${f(Math.max(...d), 1)})`;
  const diff = v === 'base' ? '' : `${span(r.diffVsBasePercent).padEnd(24)} ${verdict(r.medianDiffPercent, (d) => d < 0).padEnd(8)} `
    + `${span(r.cpuDiffVsBasePercent).padEnd(24)} ${verdict(r.medianCpuDiffPercent, (d) => d > 0)}`;
  console.log(`${v.padEnd(12)} ${f(r.medianRps).padStart(6)} (${f(r.minRps)}–${f(r.maxRps)})`.padEnd(37)
    + `${f(r.medianP50ms, 1)}/${f(r.medianP99ms, 1)}`.padEnd(14)
    + `${f(r.medianCpuMs, 3)} (${f(r.minCpuMs, 3)}–${f(r.maxCpuMs, 3)})`.padEnd(23)
    + `${f(r.medianDockerdUs, 0)}`.padStart(14) + ` | ${diff}`);
}
console.log(`bound: ${BOUND} % of throughput (req/s: lower is worse) or of CPU per request (higher is worse)`);
if (result.variants.traced) console.log(`traced: sampler parentbased_traceidratio ${traceRatio}, ${result.tracedTracesInJaeger}${result.tracedTracesInJaeger >= 1000 ? '+' : ''} traces of the API found in Jaeger afterwards`);
if (result.inProcess) {
  const runs = Object.fromEntries(Object.entries(result.inProcess.usPerRequest).map(([k, v]) => [k, v.runs]));
  const u = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
  const served = result.variants.base.medianCpuMs * 1000; // µs of API CPU per request served over HTTP (base, median)
  console.log(`in process (the app driven through ASGI, no HTTP server; CPU µs per request, median of ${result.inProcess.rounds} batches of ${result.inProcess.requestsPerBatch}):`);
  console.log(`  as shipped ${f(u.full)}, access line dropped ${f(u['quiet-log'])}, no metrics middleware ${f(u['no-metrics'])}, no middleware at all ${f(u.bare)}, `
    + `one no-op @app.middleware("http") ${f(u['no-op'])}, one no-op pure ASGI middleware ${f(u['no-op-asgi'])}`);
  console.log(`  ${'what (difference of two stacks, paired by round)'.padEnd(62)} ${'µs'.padStart(5)} ${'(quartiles)'.padEnd(14)} of in-process  of a served request`);
  const row = (what, us, q = '') => console.log(`  ${what.padEnd(62)} ${f(us).padStart(5)} ${q.padEnd(14)} ${f((100 * us) / u.full, 1).padStart(8)} %  ${f((100 * us) / served, 1).padStart(12)} %`);
  const paired = (what, a, b) => {
    const d = runs[a].map((x, i) => x - runs[b][i]).sort((x, y) => x - y);
    const q = (p) => d[Math.min(d.length - 1, Math.floor(p * d.length))];
    result.inProcess[what] = { medianUs: median(d), q1Us: q(0.25), q3Us: q(0.75) };
    row(what, median(d), `(${f(q(0.25))}…${f(q(0.75))})`);
  };
  paired('access line (info vs warning)', 'full', 'quiet-log');
  paired('metrics middleware (as shipped vs without it)', 'full', 'no-metrics');
  paired('logging middleware with its access line', 'no-metrics', 'bare');
  paired('both middlewares (as shipped vs none)', 'full', 'bare');
  paired('a no-op @app.middleware("http") (BaseHTTPMiddleware)', 'no-op', 'bare');
  paired('a no-op pure ASGI middleware', 'no-op-asgi', 'bare');
  row('the counting alone (counter + histogram, no middleware)', result.inProcess.countingUs);
  row('the access line alone (JSON to stdout, no middleware)', result.inProcess.accessLineUs);
  console.log(`  one scrape (generate_latest): ${f(result.inProcess.scrapeUs)} µs of CPU; at 1/s: ${f(result.inProcess.scrapeUs / 1e4, 3)} % of one core`);
}
console.log(JSON.stringify(result));
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2));
