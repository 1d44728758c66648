// The workflow reader repro and the thinness check stand on: pure, no engine, no git.
import { describe, expect, it } from 'vitest'
import {
  daggerWords, expand, exportPath, jobCall, libraryWords, localSecrets, matrixCombos, readWorkflow, reproCommand, secretRefs, splitCall,
  splitWords, thinnessProblems, withLocalSecrets,
} from './repro-workflow.js'
import type { Surface } from './surface.js'

const SHA = 'a'.repeat(40)
const surface: Surface = {
  object: 'GraphmemoryIde', description: 'the pipeline',
  constructorArgs: [
    { name: 'commit', description: 'c', type: 'String', optional: true, defaultValue: '' },
    { name: 'verbose', description: 'v', type: 'Boolean', optional: true },
  ],
  functions: [
    { name: 'scan', description: 's', returns: 'Directory', args: [{ name: 'service', description: 'x', type: 'String', optional: false }] },
    {
      name: 'ci', description: 'c', returns: 'Directory', args: [
        { name: 'username', description: 'u', type: 'String', optional: true },
        { name: 'password', description: 'p', type: 'Secret', optional: true },
      ],
    },
  ],
}

const pin = (n: string) => n.repeat(40)
const workflow = (steps: string, extra = '') => `
name: w
on: push
permissions:
  contents: read
concurrency: w
jobs:
  j:
    runs-on: ubuntu-24.04
${extra}    steps:
${steps}`
const checkout = `      - uses: actions/checkout@${pin('c')}\n`
const dagger = (call: string, env = '') => `      - uses: dagger/dagger-for-github@${pin('d')}
        with:
          version: v0.19.10
          call: ${call}
${env}`
const failure = `      - if: failure()
        env:
          SHA: \${{ github.sha }}
        run: echo "make repro JOB=w/j SHA=$SHA"
`

describe('reading a job call', () => {
  it('finds the one Dagger step, its call, version, env and the failure step', () => {
    const doc = readWorkflow(workflow(checkout + dagger('ci --password env:REGISTRY_PASSWORD', '        env:\n          REGISTRY_PASSWORD: ${{ secrets.TOKEN }}\n') + failure))
    const c = jobCall(doc, 'w', 'j')
    expect(c).toMatchObject({ call: 'ci --password env:REGISTRY_PASSWORD', version: 'v0.19.10', env: { REGISTRY_PASSWORD: '${{ secrets.TOKEN }}' } })
    expect(c.failureStep?.run).toContain('make repro')
  })

  it('refuses an unknown job, naming the jobs there are, and a job with two Dagger steps', () => {
    const doc = readWorkflow(workflow(checkout + dagger('ci') + dagger('scan --service api')))
    expect(() => jobCall(doc, 'w', 'nope')).toThrow(/no job "nope".*its jobs are: j/s)
    expect(() => jobCall(doc, 'w', 'j')).toThrow(/has 2 Dagger steps/)
  })

  it('expands the commit and matrix, and refuses an expression it cannot know', () => {
    expect(expand('--commit ${{ github.sha }} scan --service ${{matrix.service}}', { 'github.sha': SHA, 'matrix.service': 'api' }))
      .toBe(`--commit ${SHA} scan --service api`)
    expect(() => expand('ci --services ${{ github.event.pull_request.title }}', { 'github.sha': SHA })).toThrow(/github\.event\.pull_request\.title/)
  })

  it('lists matrix combinations, narrowed by --matrix, refusing unknown keys and values', () => {
    expect(matrixCombos({ service: ['api', 'analytics'] })).toEqual([{ service: 'api' }, { service: 'analytics' }])
    expect(matrixCombos({ service: ['api', 'analytics'] }, { service: 'analytics' })).toEqual([{ service: 'analytics' }])
    expect(matrixCombos({})).toEqual([{}])
    expect(() => matrixCombos({ service: ['api'] }, { service: 'web' })).toThrow(/no value "web".*api/s)
    expect(() => matrixCombos({ service: ['api'] }, { os: 'x' })).toThrow(/no matrix key "os"/)
  })

  it('splits words as a shell does', () => {
    expect(splitWords(`--a 'b c' "d \\"e\\"" f\\ g \\\n h`)).toEqual(['--a', 'b c', 'd "e"', 'f g', 'h'])
    expect(() => splitWords(`--a 'b`)).toThrow(/unbalanced quote/)
  })
})

describe('a call against the module surface', () => {
  it('separates constructor flags, function, its flags and an export chain', () => {
    const p = splitCall(splitWords(`--commit ${SHA} --verbose scan --service api export --path out`), surface)
    expect(p.fn).toBe('scan')
    expect(p.flags.map((f) => [f.of, f.name, f.value])).toEqual([['constructor', 'commit', SHA], ['constructor', 'verbose', 'true'], ['function', 'service', 'api']])
    expect(exportPath(p.chain)).toBe('out')
    expect(libraryWords(p, '/o')).toEqual(['--commit', SHA, '--verbose=true', 'scan', '--service', 'api', '--output', '/o'])
    expect(daggerWords(p)).toEqual(['--commit', SHA, '--verbose=true', 'scan', '--service', 'api', 'export', '--path', 'out'])
  })

  it('refuses functions and flags the module does not have, missing required flags and other chains', () => {
    expect(() => splitCall(['deploy', '--env', 'prod'], surface)).toThrow(/no function "deploy".*scan, ci/s)
    expect(() => splitCall(['scan', '--servic', 'api'], surface)).toThrow(/unknown flag --servic of scan.*--service/s)
    expect(() => splitCall(['scan'], surface)).toThrow(/scan needs --service/)
    expect(() => exportPath(['file', '--path', 'x', 'contents'])).toThrow(/chains "file --path x contents"/)
  })

  it('maps env: secrets to the variable when set, else to the lab file, and says where it looked when neither', () => {
    const p = splitCall(['ci', '--password', 'env:REGISTRY_PASSWORD'], surface)
    const refs = secretRefs(p)
    const stepEnv = { REGISTRY_PASSWORD: '${{ secrets.GITHUB_TOKEN }}' }
    expect(localSecrets(refs, stepEnv, { REGISTRY_PASSWORD: 'x' })[0]).toMatchObject({ local: 'env:REGISTRY_PASSWORD', workflowSecret: 'GITHUB_TOKEN' })
    const lab = localSecrets(refs, stepEnv, { LAB_RELEASE_PASSWORD_FILE: '/lab/pw' })
    expect(lab[0].local).toBe('file:/lab/pw')
    expect(daggerWords(withLocalSecrets(p, lab))).toEqual(['ci', '--password', 'file:/lab/pw'])
    const none = localSecrets(refs, stepEnv, {})[0]
    expect(none.local).toBeUndefined()
    expect(none.where).toMatch(/REGISTRY_PASSWORD or the lab's LAB_RELEASE_PASSWORD_FILE/)
    expect(() => secretRefs(splitCall(['ci', '--password', 'hunter2'], surface))).toThrow(/literal value/)
  })

  it('maps the deploy secrets to the lab file of the environment the call deploys to', () => {
    const deploySurface: Surface = { ...surface, functions: [{ name: 'promote', description: 'p', returns: 'String', args: [
      { name: 'to', description: 't', type: 'String', optional: false },
      { name: 'secrets', description: 's', type: 'Secret', optional: true },
    ] }] }
    const p = splitCall(['promote', '--to', 'prod', '--secrets', 'env:DEPLOY_SECRETS'], deploySurface)
    const [s] = localSecrets(secretRefs(p), { DEPLOY_SECRETS: '${{ secrets.DEPLOY_SECRETS }}' }, { LAB_DEPLOY_SECRETS: '/lab/deploy' }, p)
    expect(s.local).toBe('file:/lab/deploy/prod.yaml')
  })

  it('prints the reproduction command with the matrix values', () => {
    expect(reproCommand('security-scan', 'scan', SHA, { service: 'api' })).toBe(`make repro JOB=security-scan/scan SHA=${SHA} MATRIX=service=api`)
    expect(reproCommand('ci-pipeline', 'ci', SHA)).toBe(`make repro JOB=ci-pipeline/ci SHA=${SHA}`)
  })
})

describe('thinness check', () => {
  it('passes a thin job', () => {
    const doc = readWorkflow(workflow(checkout + dagger('--commit ${{ github.sha }} ci --password env:P', '        env:\n          P: ${{ secrets.T }}\n') + failure))
    expect(thinnessProblems('w', doc, surface, 'v0.19.10')).toEqual([])
  })

  it('names every way a job stops being thin', () => {
    const fat = workflow(`      - uses: actions/checkout@v7
      - run: npm ci && npm test
      - uses: some/action@${pin('e')}
      - uses: dagger/dagger-for-github@${pin('d')}
        with:
          version: v0.18.0
          verb: call
          call: ci --password \${{ secrets.T }} --username \${{ github.event.head_commit.author.name }}
      - if: failure()
        run: echo "x" && curl evil
`).replace('permissions:\n  contents: read\n', '').replace('concurrency: w\n', '')
    const problems = thinnessProblems('w', readWorkflow(fat), surface, 'v0.19.10')
    expect(problems).toEqual(expect.arrayContaining([
      'w: no top-level least-privilege permissions',
      'w/j: no concurrency group',
      'w/j step 1: actions/checkout is not pinned by a full commit SHA (v7)',
      expect.stringMatching(/step 2: runs a script/),
      expect.stringMatching(/step 3: uses some\/action/),
      expect.stringMatching(/step 4: a secret in with:/),
      'w/j: the Dagger step sets verb (only version and call)',
      'w/j: Dagger v0.18.0, the module pins v0.19.10',
      expect.stringMatching(/step 5: the failure step does more than echo/),
      'w/j: the call uses secrets.T, github.event.head_commit.author.name',
    ]))
  })

  it('refuses a call of a function the module lacks', () => {
    const doc = readWorkflow(workflow(checkout + dagger('deploy --env prod') + failure))
    expect(thinnessProblems('w', doc, surface, 'v0.19.10')).toEqual([expect.stringMatching(/w\/j: the module has no function "deploy"/)])
  })
})
