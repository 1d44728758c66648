// make repro against the lab: a workflow job's call, at a real commit checked out in a temporary worktree, passes; a
// job made to fail (a scratch commit whose test fails) prints a command that, run here, fails the same way.
// Commits are scratch commits on top of HEAD holding this work tree's workflows (no branch or ref moves).
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { labVar } from '../../lab/env.js'
import { withLabEnvironments } from '../../lab/environments-lock.js'
import { expand, jobCall, readWorkflow } from './repro-workflow.js'

const REPO = path.resolve(import.meta.dirname, '../..')
const WORKFLOWS = '.github/workflows'
const MINUTES = 60_000

const git = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8', env }).trim()

/** A commit on top of HEAD with these files changed (path → content); nothing but the object store changes. */
function scratchCommit(files: Record<string, string>, message: string): string {
  const index = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-scratch-')), 'index')
  const env = { ...process.env, GIT_INDEX_FILE: index }
  try {
    git(['read-tree', 'HEAD'], env)
    for (const [file, content] of Object.entries(files)) {
      const blob = execFileSync('git', ['-C', REPO, 'hash-object', '-w', '--stdin'], { input: content, encoding: 'utf8' }).trim()
      git(['update-index', '--add', '--cacheinfo', `100644,${blob},${file}`], env)
    }
    const tree = git(['write-tree'], env)
    return git(['-c', 'user.name=repro test', '-c', 'user.email=repro@localhost', 'commit-tree', tree, '-p', 'HEAD', '-m', message])
  } finally {
    fs.rmSync(path.dirname(index), { recursive: true, force: true })
  }
}

/** This work tree's workflows, as files for a scratch commit. */
const workflowFiles = (): Record<string, string> => Object.fromEntries(fs.readdirSync(path.join(REPO, WORKFLOWS))
  .map((f) => [`${WORKFLOWS}/${f}`, fs.readFileSync(path.join(REPO, WORKFLOWS, f), 'utf8')]))

/** Runs a command, output captured (and echoed when PIPELINE_ENGINE_LOG is set); resolves to code and output. */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env })
    let out = ''
    const take = (d: Buffer) => { out += d; if (process.env.PIPELINE_ENGINE_LOG) process.stderr.write(d) }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    child.on('error', reject)
    child.on('exit', (code) => resolve({ code: code ?? -1, out }))
  })
}

const repro = (...args: string[]) => run(path.join(REPO, 'node_modules/.bin/tsx'), ['ci/cli/repro.ts', ...args, '--offline'])

describe('make repro: what it would run (no engine)', () => {
  it('online, the very words of the workflow for dagger call, matrix value and commit filled in', async () => {
    const sha = scratchCommit(workflowFiles(), 'repro test: the workflows of this work tree')
    const r = await run(path.join(REPO, 'node_modules/.bin/tsx'), ['ci/cli/repro.ts', 'security-scan/scan', '--sha', sha, '--matrix', 'service=api', '--online', '--dry-run'])
    expect(r.code, r.out).toBe(0)
    expect(r.out).toContain('`dagger call` (online)')
    expect(r.out).toContain(` call --commit ${sha} scan --service api --report-only=true export --path scan-reports\n`)
  })

  it('a secret found nowhere: names it, says where it looked, runs nothing, exits 2', async () => {
    const sha = scratchCommit(workflowFiles(), 'repro test: the workflows of this work tree')
    const env: NodeJS.ProcessEnv = { ...process.env, LAB_HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-nolab-')) }
    delete env.LAB_RELEASE_PASSWORD_FILE
    delete env.REGISTRY_PASSWORD
    const r = await run(path.join(REPO, 'node_modules/.bin/tsx'), ['ci/cli/repro.ts', 'cd-production/staging', '--sha', sha, '--offline'], { env })
    expect(r.code).toBe(2)
    expect(r.out).toContain('secret --password: in CI secrets.GITHUB_TOKEN; here MISSING (looked in the environment variable REGISTRY_PASSWORD or the lab\'s LAB_RELEASE_PASSWORD_FILE')
    expect(r.out).toMatch(/cd-production\/staging needs REGISTRY_PASSWORD/)
    expect(r.out).not.toContain('tsx ci/run.ts')
    expect(git(['worktree', 'list'])).not.toMatch(/gmi-repro-/)
  })
})

describe('make repro against the lab', () => {
  it('runs ci-pipeline/ci at its commit in library mode, and it passes', async () => {
    labVar('_EXPERIMENTAL_DAGGER_RUNNER_HOST')
    const sha = scratchCommit(workflowFiles(), 'repro test: the workflows of this work tree')
    const out = path.join(REPO, '.ci-out/repro/ci-pipeline-ci')
    fs.rmSync(out, { recursive: true, force: true })
    const r = await repro('ci-pipeline/ci', '--sha', sha)
    expect(r.out).toContain(`ci-pipeline/ci: tsx ci/run.ts --commit ${sha} ci --output ${REPO}/.ci-out/repro/ci-pipeline-ci`)
    expect(r.out, r.out).toContain('repro: ci-pipeline/ci exited 0')
    expect(r.code).toBe(0)
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { ok: boolean; steps: { step: string; service?: string; status: string }[] }
    expect(summary.ok).toBe(true)
    expect(summary.steps.filter((s) => s.step === 'test' && s.status === 'ok').map((s) => s.service).sort()).toEqual(['analytics', 'api', 'dashboard'])
    // the worktree is gone afterwards
    expect(git(['worktree', 'list'])).not.toMatch(/gmi-repro-/)
  }, 25 * MINUTES)

  it('runs security-scan/scan for one matrix value and exports its SARIF reports', async () => {
    const sha = scratchCommit(workflowFiles(), 'repro test: the workflows of this work tree')
    const reports = path.join(REPO, '.ci-out/repro/security-scan-scan-service-analytics/scan-reports')
    fs.rmSync(reports, { recursive: true, force: true })
    const r = await repro('security-scan/scan', '--sha', sha, '--matrix', 'service=analytics')
    expect(r.out, r.out).toContain('repro: security-scan/scan service=analytics exited 0')
    expect(r.out).not.toContain('service=api')
    for (const kind of ['image', 'config', 'secrets']) {
      expect(JSON.parse(fs.readFileSync(path.join(reports, `${kind}.sarif`), 'utf8')).runs[0].tool.driver.name).toBe('Trivy')
    }
  }, 15 * MINUTES)

  it('runs cd-production/staging then cd-production/prod on the lab cluster: prod runs the digests staging runs', async () => {
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(labVar('KUBECONFIG_DEPLOYER'))
    const apps = kc.makeApiClient(k8s.AppsV1Api)
    const images = async (namespace: string) => Promise.all(['api', 'analytics', 'dashboard'].map(async (name) =>
      (await apps.readNamespacedDeployment({ name, namespace })).spec?.template.spec?.containers[0].image))
    const sha = scratchCommit(workflowFiles(), 'repro test: the workflows of this work tree')
    // the lab's staging and prod namespaces are shared with the deploy tests: one file at a time
    const [staging, prod, inStaging, inProd] = await withLabEnvironments(async () => {
      const s = await repro('cd-production/staging', '--sha', sha)
      const p = s.code === 0 ? await repro('cd-production/prod', '--sha', sha) : { code: -1, out: 'not run: staging failed' }
      return [s, p, ...await Promise.all([images('graphmemory-staging'), images('graphmemory-prod')])] as const
    })
    expect(staging.out).toMatch(/secret --password: in CI secrets\.GITHUB_TOKEN; here from the lab's release registry password/)
    expect(staging.out, staging.out).toContain('repro: cd-production/staging exited 0')
    expect(prod.out, prod.out).toContain('repro: cd-production/prod exited 0')
    expect(prod.out).toMatch(/promoted staging release \d+ to prod/)
    for (const image of inStaging) expect(image).toMatch(/@sha256:[0-9a-f]{64}$/)
    expect(inProd).toEqual(inStaging)
  }, 20 * MINUTES)

  it('a job made to fail prints a command that, run here, fails the same way', async () => {
    const planted = `test_planted_${Date.now()}`
    const sha = scratchCommit({
      ...workflowFiles(),
      'services/analytics/tests/test_planted_failure.py': `# planted by ci/cli/repro.test.ts: a job that must fail\n\ndef ${planted}():\n    assert 1 + 1 == 3, "planted failure"\n`,
    }, 'repro test: a failing test')
    const doc = readWorkflow(git(['show', `${sha}:${WORKFLOWS}/ci-pipeline.yml`]))
    const job = jobCall(doc, 'ci-pipeline', 'ci')
    const failed = `FAILED tests/test_planted_failure.py::${planted}`

    // the job, as the runner does it: check out the commit, run the Dagger step's call (library mode: the lab)
    const worktree = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-job-'))
    let ci: { code: number; out: string }
    try {
      git(['worktree', 'add', '--detach', '--quiet', worktree, sha])
      fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(worktree, 'node_modules'))
      const words = expand(job.call, { 'github.sha': sha }).split(/\s+/)
      ci = await run(path.join(REPO, 'node_modules/.bin/tsx'), ['ci/run.ts', ...words, '--output', path.join(worktree, 'out')], { cwd: worktree })
    } finally {
      git(['worktree', 'remove', '--force', worktree])
    }
    expect(ci.code, ci.out).toBe(1)
    expect(ci.out).toContain(failed)

    // the job's failure step, run by bash with the env the runner gives it
    const printed = execFileSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', job.failureStep!.run!],
      { env: { PATH: process.env.PATH, SHA: sha }, encoding: 'utf8' })
    expect(printed).toContain(`::error title=Reproduce locally::make repro JOB=ci-pipeline/ci SHA=${sha}\n`)
    const direct = /^without make: (.*)$/m.exec(printed)?.[1]
    expect(direct).toBe(`npx tsx ci/cli/repro.ts ci-pipeline/ci --sha ${sha}`)
    const makefile = fs.readFileSync(path.join(REPO, 'Makefile'), 'utf8')
    if (/^repro:/m.test(makefile)) {
      // the make target runs that same command
      expect(execFileSync('make', ['-n', 'repro', 'JOB=ci-pipeline/ci', `SHA=${sha}`], { cwd: REPO, encoding: 'utf8' })).toContain(`ci/cli/repro.ts ci-pipeline/ci --sha ${sha}`)
    }

    // run here, it fails the same way: the same test, the same exit code
    const again = await run('bash', ['-c', direct!])
    expect(again.out).toContain(`repro: ci-pipeline/ci at ${sha}`)
    expect(again.out).toContain(failed)
    expect(again.out).toContain('repro: ci-pipeline/ci exited 1')
    expect(again.code).toBe(ci.code)
  }, 30 * MINUTES)
})
