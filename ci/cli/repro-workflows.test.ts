// The repository's GitHub workflows: thin (checkout, the Dagger action, one call the module has), linted by the real
// actionlint (the lab's image, as a container), and each failure step printing the command that reproduces the job.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../../lab/env.js'
import { surface, type Surface } from './surface.js'
import { expressionsIn, jobCall, matrixCombos, readWorkflow, reproCommand, thinnessProblems, type Workflow } from './repro-workflow.js'

const REPO = path.resolve(import.meta.dirname, '../..')
const DIR = path.join(REPO, '.github/workflows')
const files = fs.readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort()
const workflows: [string, Workflow][] = files.map((f) => [f.replace(/\.ya?ml$/, ''), readWorkflow(fs.readFileSync(path.join(DIR, f), 'utf8'), f)])
const engineVersion = JSON.parse(fs.readFileSync(path.join(REPO, 'dagger.json'), 'utf8')).engineVersion as string

/** actionlint in the lab's image, the workflow on stdin; its exit code and output. */
function actionlint(name: string, text: string): { code: number; out: string } {
  const r = spawnSync('docker', ['run', '--rm', '-i', '--network', 'none', labVar('LAB_IMAGE_ACTIONLINT'), '-no-color', '-stdin-filename', `.github/workflows/${name}`, '-'],
    { input: text, encoding: 'utf8' })
  if (r.error) throw r.error
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` }
}

describe('GitHub workflows', () => {
  let spec: Surface
  beforeAll(async () => { spec = await surface() }, 180000)

  it('exist: the pipeline on every push and pull request, the nightly security scan', () => {
    expect(files).toEqual(expect.arrayContaining(['ci-pipeline.yml', 'security-scan.yml']))
    expect(jobCall(workflows.find(([n]) => n === 'ci-pipeline')![1], 'ci-pipeline', 'ci').call).toMatch(/(^| )ci( |$)/)
    expect(workflows.find(([n]) => n === 'security-scan')![1].on).toHaveProperty('schedule')
  })

  it('cd-production: staging deploys from source through the gate and signs; prod, behind its environment, promotes staging\'s digests, verified', () => {
    const doc = workflows.find(([n]) => n === 'cd-production')?.[1]
    if (!doc) throw new Error('no cd-production workflow')
    expect(doc.on).toMatchObject({ push: { branches: ['main'], tags: expect.any(Array) } })
    expect(doc.concurrency).toMatchObject({ 'cancel-in-progress': false }) // a run never overlaps the next one's staging deploy
    const staging = jobCall(doc, 'cd-production', 'staging')
    expect(doc.jobs.staging.environment).toBe('staging')
    expect(staging.call).toMatch(/ deploy --env staging .*--password env:REGISTRY_PASSWORD/)
    expect(staging.call).toMatch(/--signing-key env:COSIGN_PRIVATE_KEY --signing-password env:COSIGN_PASSWORD/) // the gate signs what it publishes
    expect(staging.call).not.toMatch(/--images/) // built from this commit, in this run: not digests some other run made
    const prod = jobCall(doc, 'cd-production', 'prod')
    expect(doc.jobs.prod).toMatchObject({ needs: 'staging', environment: 'prod', permissions: { contents: 'read' } })
    expect(prod.call).toMatch(/ promote --from staging --to prod /)
    expect(prod.call).not.toMatch(/deploy|--images/)
    expect(prod.call).toMatch(/--signing-key env:COSIGN_PRIVATE_KEY/) // its public key verifies what is promoted
    for (const job of ['staging', 'prod']) expect(doc.jobs[job].concurrency).toMatchObject({ group: `deploy-${job}`, 'cancel-in-progress': false })
  })

  it.each(workflows)('%s: every job is checkout, the Dagger action and one call of a function the module has', (name, doc) => {
    expect(thinnessProblems(name, doc, spec, engineVersion)).toEqual([])
  })

  it.each(workflows)('%s: secrets reach the call only as env: references from secrets.*', (name, doc) => {
    const text = fs.readFileSync(path.join(DIR, files.find((f) => f.startsWith(`${name}.`))!), 'utf8')
    for (const job of Object.keys(doc.jobs)) {
      const c = jobCall(doc, name, job)
      for (const e of expressionsIn(c.call)) expect(e).not.toMatch(/secrets/)
    }
    expect(text).not.toMatch(/echo[^\n]*secrets\./)
  })

  it('actionlint is the lab image built from the Go module at v1.7.12, running as a non-root user', () => {
    const image = labVar('LAB_IMAGE_ACTIONLINT')
    expect(execFileSync('docker', ['run', '--rm', image, '-version'], { encoding: 'utf8' }).split('\n')[0]).toBe('v1.7.12')
    expect(execFileSync('docker', ['run', '--rm', '--entrypoint', 'id', image, '-u'], { encoding: 'utf8' }).trim()).not.toBe('0')
  })

  it('actionlint (the lab image) passes every workflow', () => {
    for (const f of files) {
      const r = actionlint(f, fs.readFileSync(path.join(DIR, f), 'utf8'))
      expect(r, f).toEqual({ code: 0, out: '' })
    }
  })

  it('actionlint fails a broken workflow, naming the mistake', () => {
    const broken = fs.readFileSync(path.join(DIR, 'ci-pipeline.yml'), 'utf8').replace('${{ github.sha }} ci', '${{ github.shaa }} ci')
      .replace('contents: read', 'contents: reed')
    const r = actionlint('ci-pipeline.yml', broken)
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/property "shaa" is not defined/)
    expect(r.out).toMatch(/"reed" is invalid as permission of scope "contents"/)
  })

  it.each(workflows)('%s: the failure step of each job prints `make repro` for that job, commit and matrix values', (name, doc) => {
    const sha = 'f'.repeat(40)
    for (const job of Object.keys(doc.jobs)) {
      const c = jobCall(doc, name, job)
      expect(c.failureStep, `${name}/${job}`).toBeDefined()
      for (const combo of matrixCombos(c.matrix)) {
        const values: Record<string, string> = { 'github.sha': sha, ...Object.fromEntries(Object.entries(combo).map(([k, v]) => [`matrix.${k}`, v])) }
        // the step's env as the runner sets it, then its script run by bash as the runner runs it
        const env = Object.fromEntries(Object.entries(c.failureStep!.env ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, e) => values[e])]))
        const printed = execFileSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', c.failureStep!.run!], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' })
        expect(printed).toContain(`::error title=Reproduce locally::${reproCommand(name, job, sha, combo)}\n`)
        const direct = [`npx tsx ci/cli/repro.ts ${name}/${job} --sha ${sha}`, ...Object.entries(combo).map(([k, v]) => `--matrix ${k}=${v}`)].join(' ')
        expect(printed).toContain(`without make: ${direct}\n`)
      }
    }
  })
})
