// The library-mode entry: the module's own class, driven inside connection(), with `dagger call`'s function and
// flag names. No module runtime to start, so a cached step answers in about a second.
//   npm run pipeline -- [constructor flags] <function> [flags] [--output PATH]
//   npm run pipeline -- --help | <function> --help
import fs from 'node:fs'
import path from 'node:path'
import { connection, dag, Container, Directory, File } from '@dagger.io/dagger'
import { GraphmemoryIde } from './src/index.js'
import { messageOf } from './src/errors.js'
import { inSpan, traceId } from './src/adapters/tracing.js'
import { labHint } from './cli/lab-hint.js'
import { parseCall, helpText, kebab, type Call } from './cli/args.js'
import { surface, type ArgSpec, type Surface } from './cli/surface.js'
import { constructorDefaults } from './cli/defaults.js'
import { REPO } from './cli/paths.js'

const OUT = path.join(REPO, '.ci-out')

/** A raw command-line value as the Dagger or JavaScript value the argument's type asks for. */
function toValue(spec: ArgSpec, raw: string): unknown {
  if (spec.values) return raw // an enum's value, checked against spec.values when the flags were read
  switch (spec.type) {
    case 'Integer': case 'Float': {
      const n = Number(raw)
      if (Number.isNaN(n)) throw new Error(`--${kebab(spec.name)} takes a number, not "${raw}"`)
      return n
    }
    case 'Boolean': return raw === 'true'
    case 'String': return raw
    case 'Secret': {
      const m = /^(env|file):(.+)$/.exec(raw)
      if (!m) throw new Error(`--${kebab(spec.name)} takes a secret reference (env:NAME or file:PATH), never the value itself`)
      if (m[1] === 'env' && process.env[m[2]] === undefined) throw new Error(`--${kebab(spec.name)}: environment variable ${m[2]} is not set`)
      if (m[1] === 'file' && !fs.existsSync(m[2])) throw new Error(`--${kebab(spec.name)}: file ${m[2]} does not exist`)
      return dag.secret(m[1] === 'env' ? `env://${m[2]}` : `file://${path.resolve(m[2])}`)
    }
    case 'Directory': return dag.host().directory(path.resolve(raw), { exclude: spec.ignore })
    case 'File': return dag.host().file(path.resolve(raw))
    default: throw new Error(`--${kebab(spec.name)}: arguments of type ${spec.type} are not supported in library mode`)
  }
}

/** The arguments in declaration order, undefined where not given (so the function's own defaults apply). */
const ordered = (specs: ArgSpec[], raw: Record<string, string>): unknown[] =>
  specs.map((s) => (s.name in raw ? toValue(s, raw[s.name]) : undefined))

/** Prints or exports what a function returned, as `dagger call` would. */
async function show(result: unknown, call: Call): Promise<void> {
  const name = [kebab(call.fn.name), call.args.service].filter(Boolean).join('-')
  if (result instanceof Directory) {
    const dest = path.resolve(call.output ?? path.join(OUT, name))
    await result.export(dest)
    const summary = path.join(dest, 'summary.txt')
    if (fs.existsSync(summary)) process.stdout.write(fs.readFileSync(summary, 'utf8'))
    process.stdout.write(`exported to ${dest}\n`)
  } else if (result instanceof File) {
    const dest = path.resolve(call.output ?? path.join(OUT, name, await result.name()))
    await result.export(dest)
    process.stdout.write(`exported to ${dest}\n`)
  } else if (result instanceof Container) {
    await result.sync()
    process.stdout.write(`${name}: container ready\n`)
  } else if (result !== undefined) {
    process.stdout.write(`${typeof result === 'string' ? result : JSON.stringify(result, null, 2)}\n`)
  }
}

async function main(argv: string[]): Promise<number> {
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT === '') delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT // set but empty: untraced
  const spec = await surface()
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(`${helpText(spec)}\n`)
    return argv.length === 0 ? 2 : 0
  }
  const helpAt = argv.findIndex((a) => a === '--help' || a === '-h')
  if (helpAt > 0) {
    process.stdout.write(`${helpText(spec, argv[helpAt - 1])}\n`)
    return 0
  }
  const call = parseCall(argv, spec)
  const raw = { ...constructorDefaults(REPO), ...call.constructorArgs }
  const t0 = performance.now()
  let failure: unknown // kept apart: connection() would flatten it into a longer message
  // with OTEL_EXPORTER_OTLP_ENDPOINT set, connection() starts the SDK's tracer provider: the run is one trace, the
  // engine's spans (every build, test, scan) and the deploy's phases below this one root span
  await connection(async () => {
    try {
      await inSpan(`pipeline ${kebab(call.fn.name)}`, { 'pipeline.function': kebab(call.fn.name), 'pipeline.env': call.args.env ?? '' }, async () => {
        const id = traceId()
        if (id) process.stderr.write(`trace: ${id}\n`)
        await invoke(call, spec, raw)
      })
    } catch (err) {
      failure = err
    }
  }, { LogOutput: process.env.PIPELINE_ENGINE_LOG ? process.stderr : undefined })
  if (failure) throw failure
  process.stderr.write(`${kebab(call.fn.name)}: done in ${((performance.now() - t0) / 1000).toFixed(1)}s\n`)
  return 0
}

/** Constructs the pipeline with the given and default values and calls the function; shows what it returned. */
async function invoke(call: Call, spec: Surface, raw: Record<string, string>): Promise<void> {
  const sourceAt = spec.constructorArgs.findIndex((a) => a.name === 'source')
  const ctorValues = ordered(spec.constructorArgs, raw)
  ctorValues[sourceAt] ??= dag.host().directory(REPO, { exclude: spec.constructorArgs[sourceAt].ignore })
  const pipeline = new (GraphmemoryIde as unknown as new (...a: unknown[]) => GraphmemoryIde)(...ctorValues)
  const method = (pipeline as unknown as Record<string, (...a: unknown[]) => unknown>)[call.fn.name].bind(pipeline)
  await show(await method(...ordered(call.fn.args, call.args)), call)
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  process.stderr.write(`error: ${messageOf(err)}${labHint(err)}\n`)
  process.exit(1)
})
