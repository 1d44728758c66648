#!/usr/bin/env node
// The pipeline's `ci` (library mode, the lab's engine) side by side with a shell baseline doing the same work the
// usual way, for the three services, in one run:
//   baseline, per service in turn: docker build --target test; the suite in that image beside Postgres/Redis
//   containers (docker network); docker build --target runtime; trivy (as a container) image + config + secret scans
//   and a CycloneDX SBOM; docker push to the release registry.
//   pipeline: node ci/pipeline.mjs ci (build, test, scan, SBOM, publish; no signing key, as the baseline does not sign)
// Scenarios: warm no-change; a one-line change in the API's code; with --cold first: empty engine cache (the engine's
// state volume removed) and empty Docker build cache. Also library mode's start: a cached `build --service api`.
//   node bench/pipeline.mjs [--cold] [--json FILE]      (needs `make lab-up`; takes minutes, longer with --cold)
// Works in a throw-away git worktree of HEAD, so the repository is never edited.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { $ } from 'zx'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const COLD = args.includes('--cold')
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined
// the lab's env (lab.env) comes from the caller: `make bench-pipeline` loads it, as for every lab target
const env = process.env
if (!env.LAB_RELEASE_REGISTRY) throw new Error('the lab env is not loaded: run `make bench-pipeline` (after `make lab-up`)')
const sh = $({ env, quiet: true })

const SERVICES = [
  { name: 'api', dockerfile: 'Dockerfile.fastapi', needs: ['postgres', 'redis'] },
  { name: 'analytics', dockerfile: 'Dockerfile.analytics', needs: ['redis'] },
  { name: 'dashboard', dockerfile: 'Dockerfile.streamlit', needs: [] },
]
const seconds = (t0) => (performance.now() - t0) / 1000
const timed = async (fn) => { const t0 = performance.now(); await fn(); return seconds(t0) }

// ---- a worktree of HEAD, and the one-line change ----------------------------------------------------------------
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-bench-'))
await sh`git -C ${REPO} worktree add --detach ${work} HEAD`
const commit = (await sh`git -C ${work} log -1 --format=%H`).stdout.trim()
const commitTime = (await sh`git -C ${work} log -1 --format=%ct`).stdout.trim()
const changeApi = (n) => fs.appendFileSync(path.join(work, 'services/api/app/main.py'), `# bench change ${n}\n`)

// ---- the pipeline ------------------------------------------------------------------------------------------------
async function pipelineCi() {
  return timed(() => sh({ cwd: REPO })`node ci/pipeline.mjs --source ${work} --commit ${commit} --commit-time ${commitTime} ci --username ${env.LAB_RELEASE_USER} --password file:${env.LAB_RELEASE_PASSWORD_FILE} --output ${path.join(work, '.ci-out')}`)
}
const libraryStart = () => timed(() => sh({ cwd: REPO })`node ci/pipeline.mjs --source ${work} --commit ${commit} --commit-time ${commitTime} build --service api`)

// ---- the baseline ------------------------------------------------------------------------------------------------
// Debian's 20.10 client builds with BuildKit without the buildx plugin (a newer client in /usr/local/bin needs it)
const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'
const dockerConfig = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-bench-docker-'))
const docker = $({ env: { ...env, DOCKER_CONFIG: dockerConfig, DOCKER_BUILDKIT: '1' }, quiet: true })
await docker({ input: fs.readFileSync(env.LAB_RELEASE_PASSWORD_FILE) })`${DOCKER} login ${env.LAB_RELEASE_REGISTRY} -u ${env.LAB_RELEASE_USER} --password-stdin`
const TRIVY_CACHE = 'gmi-bench-trivy-cache'
const trivy = (...a) => docker`${DOCKER} run --rm --network host -v /var/run/docker.sock:/var/run/docker.sock -v ${TRIVY_CACHE}:/root/.cache/trivy -v ${work}:/src:ro ${env.LAB_IMAGE_TRIVY} ${a}`
const BACKING = {
  postgres: { image: env.LAB_IMAGE_POSTGRES, env: ['-e', 'POSTGRES_USER=gmi', '-e', 'POSTGRES_DB=gmi_test', '-e', 'POSTGRES_HOST_AUTH_METHOD=trust'],
    ready: ['pg_isready', '-h', '127.0.0.1', '-U', 'gmi'], url: ['TEST_DATABASE_URL', 'postgresql://gmi@postgres:5432/gmi_test'] },
  redis: { image: env.LAB_IMAGE_REDIS, env: [], ready: ['redis-cli', 'ping'], url: ['TEST_REDIS_URL', 'redis://redis:6379/0'] },
}

async function runSuite(svc, testImage) {
  const net = `gmi-bench-${svc.name}`
  await docker`${DOCKER} network create ${net}`
  try {
    const urls = []
    for (const kind of svc.needs) {
      const b = BACKING[kind]
      await docker`${DOCKER} run -d --name ${net}-${kind} --network ${net} --network-alias ${kind} ${b.env} ${b.image}`
      for (let i = 0; (await docker`${DOCKER} exec ${net}-${kind} ${b.ready}`.nothrow()).exitCode !== 0; i++) {
        if (i > 300) throw new Error(`${kind} did not become ready`)
        await new Promise((r) => setTimeout(r, 100))
      }
      urls.push('-e', `${b.url[0]}=${b.url[1]}`)
    }
    await docker`${DOCKER} run --rm --network ${net} ${urls} ${testImage}`
  } finally {
    await docker`${DOCKER} rm -f ${svc.needs.map((k) => `${net}-${k}`)}`.nothrow()
    await docker`${DOCKER} network rm ${net}`.nothrow()
  }
}

async function baselineService(svc, tag) {
  const common = ['-f', path.join(work, 'docker/production', svc.dockerfile), '--build-arg', `BUILDER_IMAGE=${env.LAB_IMAGE_PYTHON_BUILD}`,
    '--build-arg', `RUNTIME_IMAGE=${env.LAB_IMAGE_PYTHON_RUNTIME}`, '--build-arg', `REVISION=${commit}`]
  const testImage = `gmi-bench/${svc.name}-test`
  const image = `${env.LAB_RELEASE_REGISTRY}/graphmemory-bench/${svc.name}:${tag}`
  await docker`${DOCKER} build -q --target test -t ${testImage} ${common} ${path.join(work, 'services')}`
  await runSuite(svc, testImage)
  await docker`${DOCKER} build -q --target runtime -t ${image} ${common} ${path.join(work, 'services')}`
  await trivy('image', '--db-repository', env.LAB_TRIVY_DB_REPOSITORY, '--skip-java-db-update', '--exit-code', '1', '--severity', 'CRITICAL,HIGH', '--quiet', image)
  await trivy('config', '--exit-code', '1', '--severity', 'CRITICAL,HIGH', '--quiet', '/src/docker/production')
  await trivy('fs', '--scanners', 'secret', '--exit-code', '1', '--quiet', `/src/services/${svc.name}`)
  await trivy('image', '--format', 'cyclonedx', '--quiet', '--skip-db-update', '--offline-scan', image)
  await docker`${DOCKER} push -q ${image}`
}
const baselineCi = () => timed(async () => { for (const svc of SERVICES) await baselineService(svc, commit.slice(0, 12)) })

// ---- cold: empty caches -------------------------------------------------------------------------------------------
async function emptyCaches() {
  await sh`docker rm -f gmi-dagger-engine`.nothrow()
  await sh`docker volume rm gmi-dagger-state`.nothrow()
  await sh({ cwd: REPO })`node lab/up.mjs`
  await docker`${DOCKER} builder prune -af`.nothrow()
  const mine = (await docker`${DOCKER} images -q --filter reference=gmi-bench/* --filter reference=${env.LAB_RELEASE_REGISTRY}/graphmemory-bench/*`).stdout.trim().split('\n').filter(Boolean)
  if (mine.length) await docker`${DOCKER} rmi -f ${mine}`.nothrow()
  await docker`${DOCKER} volume rm -f ${TRIVY_CACHE}`.nothrow()
}

// ---- the run ----------------------------------------------------------------------------------------------------
const rows = []
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
/** Runs `fn` (resolving to [pipeline s, baseline s]) `runs` times, alternating, and records the medians and every run. */
const measure = async (scenario, fn, runs = 1) => {
  process.stderr.write(`… ${scenario}\n`)
  const all = []
  for (let i = 0; i < runs; i++) all.push(await fn())
  const [pipeline, baseline] = [0, 1].map((k) => median(all.map((r) => r[k])))
  rows.push({ scenario, pipeline: +pipeline.toFixed(1), baseline: +baseline.toFixed(1), ratio: +(pipeline / baseline).toFixed(2),
    ...(runs > 1 ? { runs: all.map(([p, b]) => [+p.toFixed(1), +b.toFixed(1)]) } : {}) })
}
// a no-change run is short, and one sample of it swings with what the machine did just before: the median of three
const WARM_RUNS = 3
try {
  if (COLD) {
    await emptyCaches()
    await measure('cold (empty caches)', async () => [await pipelineCi(), await baselineCi()])
  } else {
    await pipelineCi(); await baselineCi() // warm both up
  }
  await measure(`warm, no change (median of ${WARM_RUNS})`, async () => [await pipelineCi(), await baselineCi()], WARM_RUNS)
  changeApi(1)
  await measure('one-line change in the API', async () => [await pipelineCi(), await baselineCi()])
  const start = await libraryStart()
  console.log('scenario                      pipeline (s)  baseline (s)  pipeline/baseline')
  for (const r of rows) {
    console.log(`${r.scenario.padEnd(30)}${String(r.pipeline).padStart(12)}${String(r.baseline).padStart(14)}${String(r.ratio).padStart(19)}`)
    if (r.runs) console.log(`  runs (pipeline, baseline): ${r.runs.map(([p, b]) => `${p} / ${b}`).join(', ')}`)
  }
  console.log(`library mode: process start to a cached build result: ${start.toFixed(1)} s`)
  const result = { date: new Date().toISOString(), commit, cpus: os.cpus().length, rows, libraryStartSeconds: +start.toFixed(2) }
  console.log(JSON.stringify(result))
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2))
} finally {
  fs.rmSync(dockerConfig, { recursive: true, force: true })
  await sh`git -C ${REPO} worktree remove --force ${work}`.nothrow()
}
