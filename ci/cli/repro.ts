// Reproduces a GitHub workflow job locally: reads the workflow at the job's commit, checks that commit out in a
// temporary git worktree and runs the job's single `dagger call` there, with the same function, arguments and commit.
//   npx tsx ci/cli/repro.ts <workflow>/<job> [--sha COMMIT] [--matrix key=value[,key=value]] [--online|--offline] [--dry-run]
// Offline (no Dagger download reachable, or --offline) the call runs in library mode (ci/run.ts) against the lab;
// online it runs `dagger call`. Secrets the call takes as env:NAME come from the variable NAME when set, else from the
// lab's file for it; the tool says which it needs and where it looked, never their values. Exit code: the call's.
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { PipelineError, messageOf } from '../src/errors.js'
import { surface as currentSurface, type Surface } from './surface.js'
import { REPO } from './paths.js'
import {
  daggerWords, exportPath, expand, jobCall, jobId, libraryWords, localSecrets, matrixCombos, readWorkflow, secretRefs, splitCall,
  splitWords, withLocalSecrets,
} from './repro-workflow.js'

const WORKFLOWS = '.github/workflows'

interface Options {
  job: string
  sha: string
  matrix: Record<string, string>
  mode?: 'online' | 'offline'
  dryRun: boolean
}

const USAGE = 'usage: repro.ts <workflow>/<job> [--sha COMMIT] [--matrix key=value[,key=value]] [--online|--offline] [--dry-run]'

function parseArgs(argv: string[]): Options {
  const o: Options = { job: '', sha: 'HEAD', matrix: {}, dryRun: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new PipelineError(`${a} has no value`, USAGE, 'pass a value after it')
      return v
    }
    if (a === '--sha') o.sha = value()
    else if (a === '--matrix') {
      for (const pair of value().split(',').filter(Boolean)) {
        const eq = pair.indexOf('=')
        if (eq < 1) throw new PipelineError(`--matrix ${pair} is not key=value`, USAGE, 'e.g. --matrix service=api')
        o.matrix[pair.slice(0, eq)] = pair.slice(eq + 1)
      }
    } else if (a === '--online' || a === '--offline') o.mode = a === '--online' ? 'online' : 'offline'
    else if (a === '--dry-run') o.dryRun = true
    else if (!a.startsWith('--') && !o.job) o.job = a
    else throw new PipelineError(`unexpected "${a}"`, USAGE, 'see the usage line')
  }
  if (!/^[^/\s]+\/[^/\s]+$/.test(o.job)) {
    throw new PipelineError(o.job ? `"${o.job}" is not <workflow>/<job>` : 'no job named', USAGE,
      'e.g. `make repro JOB=ci-pipeline/ci` (the workflow file name without .yml, then the job id)')
  }
  return o
}

const git = (...args: string[]): string => execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()

/** The full commit of a revision; a commit this clone lacks is fetched from origin first. */
function resolveCommit(rev: string): string {
  try {
    return git('rev-parse', '--verify', '--quiet', `${rev}^{commit}`)
  } catch {
    try {
      git('fetch', '--quiet', 'origin', rev)
      return git('rev-parse', '--verify', '--quiet', `${rev}^{commit}`)
    } catch {
      throw new PipelineError(`commit ${rev} is not in this clone`, 'nor could it be fetched from origin', 'fetch the branch that holds it (`git fetch origin <branch>`), then run again')
    }
  }
}

/** The workflow file as it was at the commit (the one that ran there). */
function workflowAt(sha: string, workflow: string): { file: string; text: string } {
  for (const ext of ['yml', 'yaml']) {
    const file = `${WORKFLOWS}/${workflow}.${ext}`
    try {
      return { file, text: git('show', `${sha}:${file}`) }
    } catch { /* try the other extension */ }
  }
  let known = ''
  try {
    known = git('ls-tree', '--name-only', `${sha}:${WORKFLOWS}`).split('\n').map((f) => f.replace(/\.ya?ml$/, '')).join(', ')
  } catch { /* no workflows folder at that commit */ }
  throw new PipelineError(`no workflow ${workflow} at ${sha.slice(0, 12)}`, known ? `the workflows there are: ${known}` : `that commit has no ${WORKFLOWS}`,
    known ? 'pass JOB=<workflow>/<job> with one of those' : 'pass the SHA of a commit that has the workflow')
}

/** The lab's env file (written by `make lab-up`) as variables; empty when the lab was never brought up. */
function labEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const file = path.join(env.LAB_HOME ?? path.join(os.homedir(), '.graphmemory-lab'), 'state', 'lab.env')
  if (!fs.existsSync(file)) return {}
  return Object.fromEntries(fs.readFileSync(file, 'utf8').split('\n').map((l) => /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(l)).filter((m) => m !== null).map((m) => [m[1], m[2]]))
}

/** True when the commit's module source (ci/src, tests aside) is this work tree's, file for file. */
function sameModule(worktree: string): boolean {
  const files = (root: string) => fs.readdirSync(path.join(root, 'ci', 'src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort()
  const mine = files(REPO)
  const theirs = files(worktree)
  return mine.length === theirs.length && mine.every((f, i) => f === theirs[i]
    && fs.readFileSync(path.join(REPO, 'ci', 'src', f)).equals(fs.readFileSync(path.join(worktree, 'ci', 'src', f))))
}

/** The module's function surface at the commit (its own introspection), or today's when the commit predates it. */
async function surfaceAt(worktree: string): Promise<Surface> {
  const file = path.join(worktree, 'ci', 'cli', 'surface.ts')
  if (!fs.existsSync(file) || sameModule(worktree)) return currentSurface() // cached per source: no introspection
  const mod = await import(pathToFileURL(file).href) as { surface: () => Promise<Surface> }
  return mod.surface()
}

/** Online when a `dagger` CLI is on PATH and its download site answers; offline otherwise (the lab then). */
async function detectMode(env: NodeJS.ProcessEnv): Promise<'online' | 'offline'> {
  if (env.REPRO_MODE === 'online' || env.REPRO_MODE === 'offline') return env.REPRO_MODE
  const hasDagger = (env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, 'dagger')))
  if (!hasDagger) return 'offline'
  const reachable = await fetch('https://dl.dagger.io/dagger/versions/latest', { signal: AbortSignal.timeout(3000) }).then((r) => r.ok, () => false)
  return reachable ? 'online' : 'offline'
}

/** Runs a command with inherited output; resolves to its exit code. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: 'inherit' })
    const forward = (sig: NodeJS.Signals) => child.kill(sig)
    process.on('SIGINT', forward).on('SIGTERM', forward)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward).off('SIGTERM', forward)
      resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1))
    })
  })
}

/** A quoted word for the command line shown to the user. */
const shown = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`)

async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv)
  const [workflow, job] = o.job.split('/')
  const sha = resolveCommit(o.sha)
  const { file, text } = workflowAt(sha, workflow)
  const jc = jobCall(readWorkflow(text, file), workflow, job)
  const combos = matrixCombos(jc.matrix, o.matrix)
  const env: NodeJS.ProcessEnv = { ...process.env }
  const mode = o.mode ?? await detectMode(env)
  if (mode === 'offline') {
    for (const [k, v] of Object.entries(labEnv(env))) env[k] ??= v
    if (!env._EXPERIMENTAL_DAGGER_RUNNER_HOST || !env.LAB_RELEASE_REGISTRY) {
      throw new PipelineError('offline, and the lab is not up', 'library mode offline runs against the lab\'s engine and registries',
        'run `make lab-up` (or pass --online with a dagger CLI and network)')
    }
  }
  // the actor stands for a registry user: the lab's user offline, yours online
  const actor = mode === 'offline' ? env.LAB_RELEASE_USER : (env.GITHUB_ACTOR ?? env.USER)
  process.stdout.write(`repro: ${workflow}/${job} at ${sha} (${file}), ${mode === 'offline' ? 'library mode against the lab (offline)' : '`dagger call` (online)'}\n`)

  const worktree = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-repro-'))
  let code = 0
  try {
    git('worktree', 'add', '--detach', '--quiet', worktree, sha)
    // library mode resolves its packages from the repository's node_modules (left out of the pipeline's source)
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(worktree, 'node_modules'))
    const spec = await surfaceAt(worktree)
    for (const combo of combos) {
      const values: Record<string, string> = { 'github.sha': sha, ...Object.fromEntries(Object.entries(combo).map(([k, v]) => [`matrix.${k}`, v])) }
      if (actor) values['github.actor'] = actor
      const parts = splitCall(splitWords(expand(jc.call, values)), spec)
      const sources = localSecrets(secretRefs(parts), jc.env, env, parts)
      for (const s of sources) {
        const origin = s.workflowSecret ? `secrets.${s.workflowSecret}` : `env ${s.ref.name}`
        process.stdout.write(`  secret --${s.ref.flag}: in CI ${origin}; here ${s.local ? `from ${s.where}` : `MISSING (looked in ${s.where})`}\n`)
      }
      const missing = sources.filter((s) => !s.local)
      if (missing.length) {
        throw new PipelineError(`${jobId(workflow, job, combo)} needs ${missing.map((s) => s.ref.name).join(', ')}`,
          `looked in ${missing.map((s) => s.where).join('; ')}`, `export ${missing.map((s) => `${s.ref.name}=…`).join(' ')} (the value, never on a command line: e.g. \`read -s\`), then run again`)
      }
      const local = withLocalSecrets(parts, sources)
      const label = jobId(workflow, job, combo).replace(/[/ =]/g, '-')
      const out = path.join(REPO, '.ci-out', 'repro', label, exportPath(parts.chain) ?? '')
      const [cmd, args] = mode === 'offline'
        ? [path.join(worktree, 'node_modules', '.bin', 'tsx'), ['ci/run.ts', ...libraryWords(local, out)]]
        : [env._EXPERIMENTAL_DAGGER_CLI_BIN ?? 'dagger', ['call', ...daggerWords(local)]]
      process.stdout.write(`  ${jobId(workflow, job, combo)}: ${mode === 'offline' ? 'tsx' : 'dagger'} ${args.map(shown).join(' ')}\n`)
      if (o.dryRun) continue
      const t0 = performance.now()
      code = await run(cmd, args, worktree, env)
      process.stdout.write(`repro: ${jobId(workflow, job, combo)} exited ${code} in ${((performance.now() - t0) / 1000).toFixed(1)}s\n`)
      if (code !== 0) break
    }
  } finally {
    try {
      git('worktree', 'remove', '--force', worktree)
    } catch {
      fs.rmSync(worktree, { recursive: true, force: true })
      try { git('worktree', 'prune') } catch { /* nothing to prune */ }
    }
  }
  return code
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  process.stderr.write(`repro: ${messageOf(err)}\n`)
  process.exit(2)
})
