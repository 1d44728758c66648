#!/usr/bin/env node
// Image sizes and start-to-ready times of the GraphMemory-IDE services.
//
//   node bench/services.mjs [--runs 3] [--json out.json]
//
// Images come from the same variables as docker/production/docker-compose.prod.yml (API_IMAGE, ANALYTICS_IMAGE,
// DASHBOARD_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE). The stack is brought up under a throw-away compose project with
// its own secrets and loopback ports; then each service's container is stopped and started (`docker start`, not the
// compose CLI, whose own start-up — 2 s for docker-compose v1 — is not the service's) `runs` times and the time from
// `start` to its readiness answering 200 is taken (api and analytics: /ready, which includes their dependencies;
// dashboard: /_stcore/health). Budgets checked: api and analytics <= 300 MB, dashboard <= 450 MB, ready <= 5 s.
// Prints a table and a JSON summary; exits 1 if a budget is exceeded. Docker client: $DOCKER or `docker`.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../lab/lib/proc.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const composeFile = path.join(root, 'docker/production/docker-compose.prod.yml');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const runs = Number(opt('runs', '3'));
const jsonOut = opt('json', null);
const docker = process.env.DOCKER ?? 'docker';

const budgets = { api: { mb: 300, s: 5 }, analytics: { mb: 300, s: 5 }, dashboard: { mb: 450, s: 5 } };
const images = {
  api: process.env.API_IMAGE ?? 'graphmemory/api:latest',
  analytics: process.env.ANALYTICS_IMAGE ?? 'graphmemory/analytics:latest',
  dashboard: process.env.DASHBOARD_IMAGE ?? 'graphmemory/dashboard:latest',
};

function composeBase() {
  if (spawnSync(docker, ['compose', 'version']).status === 0) return [docker, 'compose'];
  if (spawnSync('docker-compose', ['version']).status === 0) return ['docker-compose'];
  throw new Error('neither `docker compose` nor `docker-compose` works: apt-get install docker-compose');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function status(url) {  // node:http rather than fetch: a ref'd socket and timer keep the event loop alive
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 1000 }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function waitReady(url, timeoutMs = 60000) {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if ((await status(url)) === 200) return (performance.now() - t0) / 1000;
    await sleep(25);
  }
  throw new Error(`${url} not ready within ${timeoutMs / 1000}s`);
}

const ports = { API_PORT: await freePort(), ANALYTICS_PORT: await freePort(), DASHBOARD_PORT: await freePort() };
const env = {
  ...process.env,
  POSTGRES_PASSWORD: randomBytes(16).toString('hex'),
  REDIS_PASSWORD: randomBytes(16).toString('hex'),
  GMI_BOOTSTRAP_API_KEY: `gmi_bench_${randomBytes(16).toString('hex')}`,
  ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
};
const [cmd, ...pre] = composeBase();
const project = `gmi-bench-${process.pid}`;
const compose = (...a) => execFileSync(cmd, [...pre, '-p', project, '-f', composeFile, ...a],
  { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
const readiness = {
  api: `http://127.0.0.1:${ports.API_PORT}/ready`,
  analytics: `http://127.0.0.1:${ports.ANALYTICS_PORT}/ready`,
  dashboard: `http://127.0.0.1:${ports.DASHBOARD_PORT}/_stcore/health`,
};

let tornDown = false;
function teardown() {
  if (tornDown) return;
  tornDown = true;
  try { compose('down', '-v', '--remove-orphans'); } catch (e) { console.error(`teardown: ${e.message}`); }
}
// never leave a stack behind, whatever ends the run
process.on('exit', teardown);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { teardown(); process.exit(130); });

const result = { when: new Date().toISOString(), runs, cpus: os.cpus().length, loadAvgBefore: os.loadavg().map((x) => +x.toFixed(2)), images: {}, stackUpSeconds: null };
let failed = false;
try {
  for (const [svc, image] of Object.entries(images)) {
    const bytes = Number(execFileSync(docker, ['image', 'inspect', '-f', '{{.Size}}', image], { encoding: 'utf8' }).trim());
    result.images[svc] = { image, sizeMB: Math.round(bytes / 1e6), startToReadyS: [] };
  }
  console.error(`bench: compose up (${project})`);
  let t0 = performance.now();
  compose('up', '-d');
  await Promise.all(Object.values(readiness).map((u) => waitReady(u, 180000)));
  result.stackUpSeconds = +((performance.now() - t0) / 1000).toFixed(2);

  for (const svc of Object.keys(images)) {
    console.error(`bench: ${svc}: stop/start x${runs}`);
    const cid = compose('ps', '-q', svc).trim();
    for (let i = 0; i < runs; i++) {
      execFileSync(docker, ['stop', '-t', '10', cid], { stdio: 'ignore' });
      t0 = performance.now();
      execFileSync(docker, ['start', cid], { stdio: 'ignore' });
      await waitReady(readiness[svc]);
      result.images[svc].startToReadyS.push(+((performance.now() - t0) / 1000).toFixed(2));
    }
  }
} finally {
  teardown();
}

result.loadAvgAfter = os.loadavg().map((x) => +x.toFixed(2));
console.log(`machine: ${result.cpus} CPUs, load average ${result.loadAvgBefore.join(' ')} before, ${result.loadAvgAfter.join(' ')} after`);
console.log(`stack up (compose up -d until all three answer ready): ${result.stackUpSeconds} s`);
// The budget is judged on the median: on a shared 2-core machine a single run can be slowed by other work.
console.log('service    image                                size MB  budget  start->ready s (runs)            median   max  budget');
for (const [svc, r] of Object.entries(result.images)) {
  const sorted = [...r.startToReadyS].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const max = sorted[sorted.length - 1];
  const b = budgets[svc];
  const ok = r.sizeMB <= b.mb && median <= b.s;
  Object.assign(r, { medianS: median, maxS: max, withinBudget: ok });
  if (!ok) failed = true;
  console.log(`${svc.padEnd(10)} ${r.image.padEnd(36)} ${String(r.sizeMB).padStart(7)}  ${String(b.mb).padStart(6)}  `
    + `${r.startToReadyS.join(', ').padEnd(32)} ${median.toFixed(2).padStart(6)} ${max.toFixed(2).padStart(5)}  ${String(b.s).padStart(6)}  ${ok ? 'ok' : 'OVER BUDGET'}`);
}
console.log(JSON.stringify(result));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(result, null, 2));
process.exit(failed ? 1 : 0);
