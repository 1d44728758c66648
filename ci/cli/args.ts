// Parses a library-mode command line the way `dagger call` reads one:
//   [constructor flags] <function> [function flags]     e.g.  --registry 127.0.0.1:5001 publish --service api
// Flags are the kebab-case names of the arguments; values stay raw strings until the session turns them into
// Dagger objects (Secret from env:NAME or file:PATH, Directory and File from host paths).
import { PipelineError } from '../src/errors.js'
import type { ArgSpec, FunctionSpec, Surface } from './surface.js'

/** A parsed invocation: raw values by camelCase argument name. */
export interface Call {
  constructorArgs: Record<string, string>
  fn: FunctionSpec
  args: Record<string, string>
  /** Where a returned File or Directory is exported (--output). */
  output?: string
}

/** camelCase → kebab-case, as `dagger call` names flags. */
export const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

const flagList = (specs: ArgSpec[]): string =>
  specs.length ? specs.map((a) => `--${kebab(a.name)}${a.optional ? '' : ' (required)'}`).join(', ') : '(none)'

/** Reads `--name value` / `--name=value` pairs for the given arguments; a Boolean flag may stand alone. */
function readFlags(tokens: string[], specs: ArgSpec[], where: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(token)
    if (!match) throw new PipelineError(`unexpected "${token}" ${where}`, 'arguments are given as --name value', `the flags ${where} are: ${flagList(specs)}`)
    const spec = specs.find((a) => kebab(a.name) === match[1])
    if (!spec) throw new PipelineError(`unknown flag --${match[1]} ${where}`, `the flags ${where} are: ${flagList(specs)}`, 'check the spelling, or run with --help')
    let value = match[2]
    if (value === undefined) {
      const next = tokens[i + 1]
      if (spec.type === 'Boolean' && (next === undefined || next.startsWith('--'))) value = 'true'
      else if (next === undefined) throw new PipelineError(`--${match[1]} has no value`, `it takes a ${spec.type}`, `pass --${match[1]} <value>`)
      else { value = next; i++ }
    }
    if (spec.values && !spec.values.includes(value)) {
      throw new PipelineError(`--${match[1]} "${value}" is not a valid ${spec.type}`, `it takes one of ${spec.values.join(', ')}`, `pass --${match[1]} ${spec.values[0]} (or another of those)`)
    }
    values[spec.name] = value
  }
  return values
}

/** The index of the function name: the first token that is neither a constructor flag nor a flag's value. */
function functionIndex(tokens: string[], ctor: ArgSpec[]): number {
  for (let i = 0; i < tokens.length; i++) {
    if (!tokens[i].startsWith('--')) return i
    if (tokens[i].includes('=')) continue
    const spec = ctor.find((a) => `--${kebab(a.name)}` === tokens[i])
    if (spec?.type !== 'Boolean' || /^(true|false)$/.test(tokens[i + 1] ?? '')) i++
  }
  return -1
}

/** Splits argv into the constructor's flags, the function and its flags; checks every name and required argument. */
export function parseCall(argv: string[], surface: Surface): Call {
  let output: string | undefined
  const tokens: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const m = /^(?:-o|--output)(?:=(.*))?$/.exec(argv[i])
    if (m) output = m[1] ?? argv[++i]
    else tokens.push(argv[i])
  }
  const names = surface.functions.map((f) => kebab(f.name))
  const at = functionIndex(tokens, surface.constructorArgs)
  if (at < 0) throw new PipelineError('no function named', `the functions are: ${names.join(', ')}`, 'run e.g. `npm run pipeline -- ci`')
  const fn = surface.functions.find((f) => kebab(f.name) === tokens[at])
  if (!fn) throw new PipelineError(`unknown function "${tokens[at]}"`, `the functions are: ${names.join(', ')}`, 'check the spelling, or run with --help')
  const constructorArgs = readFlags(tokens.slice(0, at), surface.constructorArgs, 'before the function')
  const args = readFlags(tokens.slice(at + 1), fn.args, `of ${tokens[at]}`)
  const missing = fn.args.filter((a) => !a.optional && !(a.name in args))
  if (missing.length) {
    throw new PipelineError(`${tokens[at]} needs ${missing.map((a) => `--${kebab(a.name)}`).join(', ')}`,
      missing.map((a) => `--${kebab(a.name)}: ${a.description || a.type}`).join('; '), `pass ${missing.map((a) => `--${kebab(a.name)} <value>`).join(' ')}`)
  }
  return { constructorArgs, fn, args, output }
}

/** The --help text: the functions and their flags, with their doc comments. */
export function helpText(surface: Surface, fnName?: string): string {
  const describe = (a: ArgSpec) => `    --${kebab(a.name)} ${a.type}${a.values ? ` (${a.values.join(' | ')})` : ''}${a.optional ? '' : ' (required)'}${a.defaultValue ? ` [default ${a.defaultValue}]` : ''}\n        ${a.description.replace(/\n/g, ' ')}`
  const fn = surface.functions.find((f) => kebab(f.name) === fnName)
  if (fn) return [`${kebab(fn.name)} → ${fn.returns}`, `  ${fn.description.replace(/\n/g, '\n  ')}`, '  flags:', ...fn.args.map(describe)].join('\n')
  return [
    'usage: npm run pipeline -- [constructor flags] <function> [flags] [--output PATH]', '',
    surface.description, '', 'functions:',
    ...surface.functions.map((f) => `  ${kebab(f.name).padEnd(12)} ${f.description.split('\n')[0]}`), '',
    'constructor flags:', ...surface.constructorArgs.map(describe),
  ].join('\n')
}
