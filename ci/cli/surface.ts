// The module's function surface, read offline by the Dagger SDK's own introspector: what `dagger functions` and
// `dagger call --help` would list. The library-mode entry parses its arguments with it; a test asserts it.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { REPO } from './paths.js'

export const MODULE_NAME = 'graphmemory-ide'
const CI_DIR = path.join(REPO, 'ci')
const SRC = path.join(CI_DIR, 'src')
const CACHE = path.join(CI_DIR, '..', 'node_modules', '.cache', 'graphmemory-pipeline')

/** One argument of a function (or of the constructor), as `dagger call` takes it. */
export interface ArgSpec {
  name: string
  description: string
  /** String, Integer, Float, Boolean, or an object type (Secret, Directory, File, ...). */
  type: string
  optional: boolean
  defaultValue?: string
  defaultPath?: string
  /** Paths left out of a defaultPath directory. */
  ignore?: string[]
  /** The values an enum argument takes (e.g. dev, staging, prod), in declaration order. */
  values?: string[]
}

export interface FunctionSpec {
  name: string
  description: string
  args: ArgSpec[]
  returns: string
}

export interface Surface {
  object: string
  description: string
  constructorArgs: ArgSpec[]
  functions: FunctionSpec[]
}

/** Every .ts file of the module source (tests and their kits excluded, as dagger.json's include does), sorted. */
export function moduleFiles(dir = SRC): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.testkit.ts')).map((f) => path.join(dir, f)).sort()
}

const KINDS: Record<string, string> = {
  STRING_KIND: 'String', INTEGER_KIND: 'Integer', FLOAT_KIND: 'Float', BOOLEAN_KIND: 'Boolean', VOID_KIND: 'Void',
}

function typeName(t: any): string {
  if (!t) return 'Void'
  if (t.kind === 'LIST_KIND') return `[${typeName(t.typeDef)}]`
  return t.name ?? KINDS[t.kind] ?? String(t.kind)
}

/** Enum name → its values, as the introspector found them. */
type Enums = Record<string, string[]>

const argSpec = (enums: Enums) => (a: any): ArgSpec => ({
  name: a.name, description: a.description ?? '', type: typeName(a.type), optional: Boolean(a.isOptional || a.isNullable || a.defaultValue !== undefined || a.defaultPath),
  ...(a.defaultValue !== undefined ? { defaultValue: String(a.defaultValue) } : {}),
  ...(a.defaultPath ? { defaultPath: a.defaultPath } : {}),
  ...(a.ignore ? { ignore: a.ignore } : {}),
  ...(enums[typeName(a.type)] ? { values: enums[typeName(a.type)] } : {}),
})

/**
 * A scratch copy of the module where `@dagger.io/dagger` resolves to the installed SDK with its generated client
 * named client.gen.ts, as the introspector expects (module mode generates that file; the npm package ships .d.ts).
 */
function scratchModule(): string {
  const root = path.join(CACHE, 'introspect')
  const sdkDist = path.dirname(path.dirname(fileURLToPath(import.meta.resolve('@dagger.io/dagger'))))
  const sdk = path.join(root, 'node_modules', '@dagger.io', 'dagger')
  fs.rmSync(root, { recursive: true, force: true })
  fs.mkdirSync(sdk, { recursive: true })
  fs.cpSync(path.join(sdkDist, '..', 'package.json'), path.join(sdk, 'package.json'))
  fs.cpSync(sdkDist, path.join(sdk, 'dist'), { recursive: true, filter: (f) => !f.endsWith('.js') && !f.endsWith('.map') })
  fs.copyFileSync(path.join(sdk, 'dist/src/api/client.gen.d.ts'), path.join(sdk, 'dist/src/api/client.gen.ts'))
  fs.cpSync(CI_DIR, path.join(root, 'ci'), { recursive: true, filter: (f) => !/\/(sdk|cli|node_modules)(\/|$)/.test(f.slice(CI_DIR.length)) })
  return path.join(root, 'ci', 'src')
}

/** Runs the SDK's introspector over the module source (a few seconds: it type-checks the module). */
export async function introspect(): Promise<Surface> {
  const { scan } = await import(new URL('./module/introspector/index.js', import.meta.resolve('@dagger.io/dagger')).href)
  const module = await scan(moduleFiles(scratchModule()), MODULE_NAME, false)
  const objects = Object.values(module.objects) as { toJSON(): any }[]
  const main = objects.map((o) => o.toJSON()).find((o) => o.name.toLowerCase() === MODULE_NAME.replace(/-/g, ''))
  if (!main) throw new Error(`the module has no main object for ${MODULE_NAME}`)
  const ctor = main.constructor?.toJSON?.() ?? main.constructor
  const enums: Enums = Object.fromEntries(Object.values(module.enums as Record<string, { toJSON(): any }>).map((e) => e.toJSON())
    .map((e: any) => [e.name, Object.values(e.values).map((v: any) => String(v.value ?? v.name))]))
  const arg = argSpec(enums)
  return {
    object: main.name,
    description: main.description ?? '',
    constructorArgs: Object.values(ctor?.arguments ?? {}).map(arg),
    functions: Object.values(main.methods).map((f: any) => ({
      name: f.alias ?? f.name, description: f.description ?? '',
      args: Object.values(f.arguments).map(arg), returns: typeName(f.returnType),
    })),
  }
}

/** The surface, from a cache keyed by the module's source (the introspector runs only after a change). */
export async function surface(): Promise<Surface> {
  const hash = crypto.createHash('sha256')
  for (const f of moduleFiles()) hash.update(f).update(fs.readFileSync(f))
  const cached = path.join(CACHE, `surface-${hash.digest('hex').slice(0, 16)}.json`)
  if (fs.existsSync(cached)) return JSON.parse(fs.readFileSync(cached, 'utf8'))
  const fresh = await introspect()
  fs.mkdirSync(CACHE, { recursive: true })
  for (const old of fs.readdirSync(CACHE)) if (/^surface-[0-9a-f]{16}\.json$/.test(old)) fs.rmSync(path.join(CACHE, old), { force: true })
  fs.writeFileSync(cached, JSON.stringify(fresh, null, 2))
  return fresh
}
