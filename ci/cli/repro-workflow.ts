// What a GitHub workflow job runs, read from its YAML: the single `dagger call` of the job, the expressions in it,
// the secrets it takes (as env: references) and the command its failure step prints. Pure: no git, no engine.
// ci/cli/repro.ts runs the call locally; the workflow tests check every job is this thin.
import { parse } from 'yaml'
import { PipelineError } from '../src/errors.js'
import { kebab } from './args.js'
import type { ArgSpec, Surface } from './surface.js'

/** The actions a job may use, each pinned by a full commit SHA. */
export const CHECKOUT = 'actions/checkout'
export const DAGGER_ACTION = 'dagger/dagger-for-github'
export const UPLOAD_SARIF = 'github/codeql-action/upload-sarif'

export interface Step {
  name?: string
  uses?: string
  run?: string
  if?: string
  with?: Record<string, unknown>
  env?: Record<string, string>
  [key: string]: unknown
}

export interface Job {
  'runs-on'?: unknown
  permissions?: Record<string, string> | string
  concurrency?: unknown
  environment?: unknown
  needs?: string | string[]
  strategy?: { matrix?: Record<string, unknown> }
  steps?: Step[]
  [key: string]: unknown
}

export interface Workflow {
  name?: string
  on?: unknown
  permissions?: Record<string, string> | string
  concurrency?: unknown
  jobs: Record<string, Job>
}

/** One job's call, as the workflow writes it (expressions not yet expanded). */
export interface JobCall {
  workflow: string
  job: string
  /** The Dagger action's `call` input: `dagger call` without the word `call`. */
  call: string
  /** The `version` input: the Dagger CLI the job installs. */
  version: string
  /** The Dagger step's env (secret values arrive here as `${{ secrets.X }}`). */
  env: Record<string, string>
  /** The job's matrix (lists only). */
  matrix: Record<string, string[]>
  /** The step that prints the local reproduction command when the job fails. */
  failureStep?: Step
}

/** Parses a workflow file; a file without jobs is refused. */
export function readWorkflow(text: string, file = 'workflow'): Workflow {
  const doc = parse(text) as Workflow | null
  if (!doc || typeof doc !== 'object' || !doc.jobs || typeof doc.jobs !== 'object') {
    throw new PipelineError(`${file} is not a workflow`, 'it has no jobs', 'check the YAML')
  }
  return doc
}

/** `owner/repo[/path]@ref` → its parts; undefined for a step without `uses`. */
export function actionOf(step: Step): { action: string; ref: string } | undefined {
  if (typeof step.uses !== 'string') return undefined
  const at = step.uses.lastIndexOf('@')
  return at < 0 ? { action: step.uses, ref: '' } : { action: step.uses.slice(0, at), ref: step.uses.slice(at + 1) }
}

const isDaggerStep = (s: Step) => actionOf(s)?.action === DAGGER_ACTION
/** A step that only prints, and only when the job failed. */
export const isFailureStep = (s: Step): boolean => !s.uses && typeof s.run === 'string' && /^\$?\{?\{?\s*failure\(\)\s*\}?\}?$/.test(String(s.if ?? '').trim())

/** The job's single dagger call; a job with none or several is refused (repro would not know what to run). */
export function jobCall(doc: Workflow, workflow: string, job: string): JobCall {
  const j = doc.jobs[job]
  if (!j) {
    throw new PipelineError(`no job "${job}" in workflow ${workflow}`, `its jobs are: ${Object.keys(doc.jobs).join(', ')}`,
      `pass JOB=${workflow}/<one of those>`)
  }
  const dagger = (j.steps ?? []).filter(isDaggerStep)
  if (dagger.length !== 1) {
    throw new PipelineError(`job ${workflow}/${job} has ${dagger.length} Dagger steps`, 'a thin job has exactly one (one dagger call)',
      'give the job exactly one dagger/dagger-for-github step with a `call` input')
  }
  const step = dagger[0]
  const call = typeof step.with?.call === 'string' ? step.with.call.trim() : ''
  if (!call) throw new PipelineError(`the Dagger step of ${workflow}/${job} has no call input`, 'repro runs that call', 'set `with: call: <function> <flags>`')
  const matrix: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(j.strategy?.matrix ?? {})) {
    if (Array.isArray(v)) matrix[k] = v.map(String)
  }
  return {
    workflow, job, call, version: String(step.with?.version ?? ''), env: { ...(step.env ?? {}) }, matrix,
    failureStep: (j.steps ?? []).find(isFailureStep),
  }
}

/** Every combination of a matrix (one empty combination without a matrix), narrowed to the given values. */
export function matrixCombos(matrix: Record<string, string[]>, chosen: Record<string, string> = {}): Record<string, string>[] {
  for (const [k, v] of Object.entries(chosen)) {
    if (!(k in matrix)) throw new PipelineError(`the job has no matrix key "${k}"`, `its keys are: ${Object.keys(matrix).join(', ') || '(none)'}`, 'drop --matrix or use one of those keys')
    if (!matrix[k].includes(v)) throw new PipelineError(`matrix ${k} has no value "${v}"`, `its values are: ${matrix[k].join(', ')}`, `pass --matrix ${k}=<one of those>`)
  }
  let combos: Record<string, string>[] = [{}]
  for (const [k, values] of Object.entries(matrix)) {
    combos = combos.flatMap((c) => (k in chosen ? [chosen[k]] : values).map((v) => ({ ...c, [k]: v })))
  }
  return combos
}

const EXPRESSION = /\$\{\{\s*(.*?)\s*\}\}/g

/** The expressions a text uses, e.g. ["github.sha", "matrix.service"]. */
export const expressionsIn = (text: string): string[] => [...text.matchAll(EXPRESSION)].map((m) => m[1])

/** Replaces each `${{ expr }}` by its value; an expression without one is refused, naming it. */
export function expand(text: string, values: Record<string, string>): string {
  const unknown = expressionsIn(text).filter((e) => !(e in values))
  if (unknown.length) {
    throw new PipelineError(`the call uses ${unknown.map((e) => `\${{ ${e} }}`).join(', ')}`, `repro knows only ${Object.keys(values).join(', ')}`,
      'keep workflow calls to the commit, the matrix and the actor (secrets go through env: references)')
  }
  return text.replace(EXPRESSION, (_, e: string) => values[e])
}

/** Splits a command line into words as a shell would (single and double quotes, backslash escapes, no expansion). */
export function splitWords(line: string): string[] {
  const words: string[] = []
  let word: string | undefined
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote) {
      if (c === quote) quote = undefined
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i]
      else word += c
    } else if (c === "'" || c === '"') {
      quote = c
      word ??= ''
    } else if (c === '\\' && i + 1 < line.length) {
      if (line[i + 1] === '\n') i++
      else word = (word ?? '') + line[++i]
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word)
      word = undefined
    } else {
      word = (word ?? '') + c
    }
  }
  if (quote) throw new PipelineError('unbalanced quote in the call', line, 'close the quote')
  if (word !== undefined) words.push(word)
  return words
}

/** A `dagger call` line split against the module's surface. */
export interface CallParts {
  /** The function's kebab-case name. */
  fn: string
  /** Flag name (kebab) → value, constructor and function together, in the order written. */
  flags: { name: string; value: string; spec: ArgSpec; of: 'constructor' | 'function' }[]
  /** What follows the function's flags (`export --path P`), [] when nothing. */
  chain: string[]
}

/** Reads `--flag value` pairs from `words[from]` on; stops at the first word that is not a known flag. */
function readFlags(words: string[], from: number, specs: ArgSpec[], where: string): { end: number; flags: { name: string; value: string; spec: ArgSpec }[] } {
  const flags: { name: string; value: string; spec: ArgSpec }[] = []
  let i = from
  while (i < words.length && words[i].startsWith('--')) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(words[i])
    const spec = m && specs.find((a) => kebab(a.name) === m[1])
    if (!m || !spec) {
      throw new PipelineError(`unknown flag ${words[i]} ${where}`, `the flags ${where} are: ${specs.map((a) => `--${kebab(a.name)}`).join(', ') || '(none)'}`,
        'the module has no such argument: fix the workflow call')
    }
    if (m[2] !== undefined) {
      flags.push({ name: m[1], value: m[2], spec })
      i++
    } else if (spec.type === 'Boolean' && !/^(true|false)$/.test(words[i + 1] ?? '')) {
      flags.push({ name: m[1], value: 'true', spec })
      i++
    } else {
      if (i + 1 >= words.length) throw new PipelineError(`${words[i]} has no value ${where}`, `it takes a ${spec.type}`, 'fix the workflow call')
      flags.push({ name: m[1], value: words[i + 1], spec })
      i += 2
    }
  }
  return { end: i, flags }
}

/** Splits a call into constructor flags, function, function flags and chain; every name checked against the surface. */
export function splitCall(words: string[], surface: Surface): CallParts {
  const ctor = readFlags(words, 0, surface.constructorArgs, 'before the function')
  const fnName = words[ctor.end]
  const fn = surface.functions.find((f) => kebab(f.name) === fnName)
  if (!fn) {
    throw new PipelineError(fnName ? `the module has no function "${fnName}"` : 'the call names no function',
      `its functions are: ${surface.functions.map((f) => kebab(f.name)).join(', ')}`, 'fix the workflow call (or add the function to the module first)')
  }
  const fnFlags = readFlags(words, ctor.end + 1, fn.args, `of ${fnName}`)
  const given = new Set(fnFlags.flags.map((f) => f.spec.name))
  const missing = fn.args.filter((a) => !a.optional && !given.has(a.name))
  if (missing.length) {
    throw new PipelineError(`${fnName} needs ${missing.map((a) => `--${kebab(a.name)}`).join(', ')}`, 'required arguments are missing from the call', 'fix the workflow call')
  }
  return {
    fn: fnName,
    flags: [
      ...ctor.flags.map((f) => ({ ...f, of: 'constructor' as const })),
      ...fnFlags.flags.map((f) => ({ ...f, of: 'function' as const })),
    ],
    chain: words.slice(fnFlags.end),
  }
}

/** The path of a chained `export --path P` (the only chain library mode reproduces), undefined without a chain. */
export function exportPath(chain: string[]): string | undefined {
  if (chain.length === 0) return undefined
  const m = chain.length === 3 && chain[0] === 'export' && chain[1] === '--path' ? chain[2]
    : chain.length === 2 && chain[0] === 'export' && chain[1].startsWith('--path=') ? chain[1].slice(7) : undefined
  if (m === undefined) {
    throw new PipelineError(`the call chains "${chain.join(' ')}"`, 'a workflow call may only chain `export --path P` (what library mode reproduces as --output)',
      'end the call at the function, or with export --path')
  }
  return m
}

/** A secret the call takes by reference: which flag, and the env variable (or file) the reference names. */
export interface SecretRef {
  flag: string
  kind: 'env' | 'file'
  name: string
}

/** The Secret-typed flags of a call and what they reference; a Secret given as a literal value is refused. */
export function secretRefs(parts: CallParts): SecretRef[] {
  return parts.flags.filter((f) => f.spec.type === 'Secret').map((f) => {
    const m = /^(env|file):(.+)$/.exec(f.value)
    if (!m) throw new PipelineError(`--${f.name} is given a literal value`, 'secrets are passed as env:NAME references', `use --${f.name} env:NAME with NAME in the step's env`)
    return { flag: f.name, kind: m[1] as 'env' | 'file', name: m[2] }
  })
}

/** Where a secret's value comes from in the workflow: `${{ secrets.X }}` → X; undefined when it is not a secret. */
export function workflowSecretOf(env: Record<string, string>, name: string): string | undefined {
  const m = /^\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}$/.exec(String(env[name] ?? '').trim())
  return m?.[1]
}

/** The environment a call acts on (deploy --env, promote --to), for per-environment lab files. */
const targetEnv = (parts: CallParts): string | undefined => parts.flags.find((f) => f.of === 'function' && (f.name === 'env' || f.name === 'to'))?.value

/**
 * Local stand-ins for the workflow's secrets, by the env name the call references (when no variable of that name is
 * set): the lab's file for it, named by a variable of the lab env file. The lab has one cluster for every environment,
 * reached as the deployer identity; deploy secrets are one YAML file per environment.
 */
export const LAB_SECRET_FILES: Record<string, { labVar: string; what: string; file?: (value: string, parts: CallParts) => string | undefined }> = {
  REGISTRY_PASSWORD: { labVar: 'LAB_RELEASE_PASSWORD_FILE', what: "the lab's release registry password" },
  KUBECONFIG_DATA: { labVar: 'KUBECONFIG_DEPLOYER', what: "the lab cluster's kubeconfig for the deployer identity" },
  FROM_KUBECONFIG_DATA: { labVar: 'KUBECONFIG_DEPLOYER', what: "the lab cluster's kubeconfig for the deployer identity (every environment lives there)" },
  COSIGN_PRIVATE_KEY: { labVar: 'LAB_SIGNING_KEY_FILE', what: "the lab's signing key (cosign)" },
  COSIGN_PASSWORD: { labVar: 'LAB_SIGNING_PASSWORD_FILE', what: "the password of the lab's signing key" },
  DEPLOY_SECRETS: {
    labVar: 'LAB_DEPLOY_SECRETS', what: "the lab's deploy secrets of the target environment",
    file: (dir, parts) => (targetEnv(parts) ? `${dir}/${targetEnv(parts)}.yaml` : undefined),
  },
}

export interface SecretSource {
  ref: SecretRef
  /** The workflow's secret name (secrets.X), when the env value is one. */
  workflowSecret?: string
  /** The reference to pass locally (env:NAME or file:PATH); undefined when nothing local was found. */
  local?: string
  /** Where it was looked for / found, in words. */
  where: string
}

/** Maps each env: reference of the call to a local one; file: references stay as written. */
export function localSecrets(refs: SecretRef[], stepEnv: Record<string, string>, env: NodeJS.ProcessEnv, parts?: CallParts): SecretSource[] {
  return refs.map((ref) => {
    if (ref.kind === 'file') return { ref, local: `file:${ref.name}`, where: `the file ${ref.name}` }
    const workflowSecret = workflowSecretOf(stepEnv, ref.name)
    if (env[ref.name] !== undefined) return { ref, workflowSecret, local: `env:${ref.name}`, where: `the environment variable ${ref.name}` }
    const lab = LAB_SECRET_FILES[ref.name]
    const value = lab && env[lab.labVar]
    const file = value && (lab.file ? (parts ? lab.file(value, parts) : undefined) : value)
    if (file) return { ref, workflowSecret, local: `file:${file}`, where: `${lab.what} (${lab.labVar}: ${file})` }
    return {
      ref, workflowSecret,
      where: `the environment variable ${ref.name}${lab ? ` or the lab's ${lab.labVar} (${lab.what}; \`make lab-up\`)` : ''}`,
    }
  })
}

/** The call with each secret reference replaced by its local one. */
export function withLocalSecrets(parts: CallParts, sources: SecretSource[]): CallParts {
  const local = new Map(sources.filter((s) => s.local).map((s) => [s.ref.flag, s.local as string]))
  return { ...parts, flags: parts.flags.map((f) => (f.spec.type === 'Secret' && local.has(f.name) ? { ...f, value: local.get(f.name) as string } : f)) }
}

const flagWords = (p: CallParts, of: 'constructor' | 'function'): string[] =>
  p.flags.filter((f) => f.of === of).flatMap((f) => (f.spec.type === 'Boolean' ? [`--${f.name}=${f.value}`] : [`--${f.name}`, f.value]))

/** The `dagger call` words (online). */
export const daggerWords = (p: CallParts): string[] => [...flagWords(p, 'constructor'), p.fn, ...flagWords(p, 'function'), ...p.chain]

/** The library-mode words (ci/run.ts): the same flags; a chained export becomes --output. */
export const libraryWords = (p: CallParts, output: string): string[] =>
  [...flagWords(p, 'constructor'), p.fn, ...flagWords(p, 'function'), '--output', output]

/** The name of the reproduction in commands and folders: workflow/job, plus the matrix values. */
export function jobId(workflow: string, job: string, combo: Record<string, string> = {}): string {
  return [`${workflow}/${job}`, ...Object.entries(combo).map(([k, v]) => `${k}=${v}`)].join(' ')
}

/** The command a failed job prints: what to type locally (make) for that job, commit and matrix values. */
export function reproCommand(workflow: string, job: string, sha: string, combo: Record<string, string> = {}): string {
  const matrix = Object.entries(combo).map(([k, v]) => `${k}=${v}`).join(',')
  return `make repro JOB=${workflow}/${job} SHA=${sha}${matrix ? ` MATRIX=${matrix}` : ''}`
}

const PINNED = /^[0-9a-f]{40}$/
/** Expressions a workflow call may use: the commit, the matrix, the actor (for a registry user). */
const CALL_EXPRESSIONS = /^(github\.sha|github\.actor|matrix\.[A-Za-z0-9_-]+)$/

/**
 * What keeps a workflow from being thin, one line each ([] when it is): every job is checkout, the Dagger action and one
 * call of a function the module has (its flags too), plus only SARIF uploads and a failure step that prints the local
 * command; actions pinned by commit SHA, the module's Dagger version, permissions and concurrency set, secrets only as
 * env: references.
 */
export function thinnessProblems(workflow: string, doc: Workflow, surface: Surface, engineVersion: string): string[] {
  const problems: string[] = []
  if (!doc.permissions || doc.permissions === 'write-all') problems.push(`${workflow}: no top-level least-privilege permissions`)
  for (const [name, job] of Object.entries(doc.jobs)) {
    const where = `${workflow}/${name}`
    const steps = job.steps ?? []
    if (!doc.concurrency && !job.concurrency) problems.push(`${where}: no concurrency group`)
    if (job.permissions === 'write-all') problems.push(`${where}: permissions write-all`)
    const first = steps[0] && actionOf(steps[0])
    if (first?.action !== CHECKOUT) problems.push(`${where}: the first step is not ${CHECKOUT}`)
    for (const [i, step] of steps.entries()) {
      const a = actionOf(step)
      const label = `${where} step ${i + 1}${step.name ? ` (${step.name})` : ''}`
      if (a) {
        if (![CHECKOUT, DAGGER_ACTION, UPLOAD_SARIF].includes(a.action)) problems.push(`${label}: uses ${a.action}, not checkout, the Dagger action or upload-sarif`)
        if (!PINNED.test(a.ref)) problems.push(`${label}: ${a.action} is not pinned by a full commit SHA (${a.ref || 'no ref'})`)
        if (a.action === UPLOAD_SARIF && (typeof job.permissions !== 'object' || job.permissions['security-events'] !== 'write')) {
          problems.push(`${label}: uploads SARIF without security-events: write on the job`)
        }
      } else if (!isFailureStep(step)) {
        problems.push(`${label}: runs a script (only a failure step that prints the reproduction command may)`)
      } else if (String(step.run).trim().split('\n').some((l) => !/^echo "[^"`$]*(\$[A-Z_]+[^"`$]*)*"$/.test(l.trim()))) {
        problems.push(`${label}: the failure step does more than echo`)
      }
      const text = JSON.stringify({ with: step.with ?? {}, run: step.run ?? '' })
      if (expressionsIn(text).some((e) => /\bsecrets\./.test(e))) problems.push(`${label}: a secret in with:/run: (secrets go in env: and reach the call as env:NAME)`)
    }
    const daggerSteps = steps.filter(isDaggerStep)
    if (daggerSteps.length !== 1) {
      problems.push(`${where}: ${daggerSteps.length} Dagger steps (a thin job has one)`)
      continue
    }
    const withs = daggerSteps[0].with ?? {}
    const extra = Object.keys(withs).filter((k) => !['version', 'call'].includes(k))
    if (extra.length) problems.push(`${where}: the Dagger step sets ${extra.join(', ')} (only version and call)`)
    if (withs.version !== engineVersion) problems.push(`${where}: Dagger ${String(withs.version)}, the module pins ${engineVersion}`)
    if (!steps.some(isFailureStep)) problems.push(`${where}: no failure step printing the reproduction command`)
    try {
      const c = jobCall(doc, workflow, name)
      const bad = expressionsIn(c.call).filter((e) => !CALL_EXPRESSIONS.test(e))
      if (bad.length) problems.push(`${where}: the call uses ${bad.join(', ')}`)
      const values = Object.fromEntries(expressionsIn(c.call).map((e) => [e, e.startsWith('matrix.') ? (c.matrix[e.slice(7)]?.[0] ?? 'x') : 'x']))
      const parts = splitCall(splitWords(expand(c.call, values)), surface)
      exportPath(parts.chain)
      for (const ref of secretRefs(parts)) {
        if (ref.kind !== 'env') problems.push(`${where}: --${ref.flag} reads a file (${ref.name}); CI passes secrets as env: references`)
        else if (!workflowSecretOf(c.env, ref.name)) problems.push(`${where}: --${ref.flag} env:${ref.name}, but the step's env has no ${ref.name}: \${{ secrets.… }}`)
      }
    } catch (err) {
      problems.push(`${where}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  return problems
}
