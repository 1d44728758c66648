// Grafana dashboards checked against Grafana's own schema (@grafana/schema, see dashboard-schema-types.ts) by the
// TypeScript compiler, in memory and offline: each part of a file (the dashboard, each panel, each panel's options,
// field config and queries) becomes `const part: <its schema type> = <its JSON>`, so a value of the wrong type, a key
// the schema does not have, or a required key missing is a problem at its line, named by its JSON path. The compiler
// stops at the first failure of an object; what it names is set aside and the part checked again, until nothing new.
import ts from 'typescript'
import { schemaPackage, strictTypes, enumsAsLiterals } from './dashboard-schema-types.js'
import type { Problem } from './promql-rules.js'

export { enumsAsLiterals, schemaPackage } from './dashboard-schema-types.js'

const VIRTUAL = '/__gmi_dashboard_schema__'
const PANEL = 'S.Panel | S.Row'

/** A part of a file checked on its own: its JSON node, its schema type, and its JSON path. */
interface Unit { node: ts.Expression; type: string; path: string }
/** Text of the file replaced while checking a part: an inner part (`null!`), or a key set aside (''). */
interface Edit { start: number; end: number; with: string }
interface Part { file: string; text: string; unit: Unit; edits: Edit[]; source: string }

const propertyOf = (o: ts.Node, key: string): ts.PropertyAssignment | undefined => ts.isObjectLiteralExpression(o)
  ? o.properties.find((p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && (p.name as ts.StringLiteral).text === key)
  : undefined
const join = (base: string, key: string | number) => typeof key === 'number' ? `${base}[${key}]` : base ? `${base}.${key}` : key

/** The parts inside a part: a dashboard's panels; a row's panels; a panel's options, field config and each query. */
function childrenOf(u: Unit): Unit[] {
  const items = (key: string, type: string): Unit[] => {
    const v = propertyOf(u.node, key)?.initializer
    return v && ts.isArrayLiteralExpression(v) ? v.elements.map((e, i) => ({ node: e, type, path: join(join(u.path, key), i) })) : []
  }
  if (u.type === 'S.Dashboard') return items('panels', PANEL)
  const kind = propertyOf(u.node, 'type')?.initializer
  if (u.type !== PANEL || !kind || !ts.isStringLiteral(kind)) return []
  if (kind.text === 'row') return items('panels', PANEL)
  const objects = ['options', 'fieldConfig'].flatMap((key) => {
    const v = propertyOf(u.node, key)?.initializer
    return v && ts.isObjectLiteralExpression(v)
      ? [{ node: v, type: `NonNullable<S.PanelOf<${JSON.stringify(kind.text)}>[${JSON.stringify(key)}]>`, path: join(u.path, key) }] : []
  })
  return [...objects, ...items('targets', 'S.Query')]
}

/** The source that checks a part: the file with all else blanked (newlines kept: a line is the file's line). */
function sourceOf(p: Part): string {
  const blank = (t: string) => t.replace(/[^\n]/g, ' ')
  const [start, end] = [p.unit.node.getStart(), p.unit.node.end]
  const body = [...p.edits].sort((a, b) => b.start - a.start)
    .reduce((t, e) => t.slice(0, e.start - start) + e.with + blank(t.slice(e.start - start, e.end - start)) + t.slice(e.end - start), p.text.slice(start, end))
  return `import type * as S from './strict'; export const part: ${p.unit.type} = ${blank(p.text.slice(0, start))}${body}${blank(p.text.slice(end))}\n`
}

/** The JSON path (keys and indexes) from `root` to the deepest property or element at `pos`. */
function pathAt(root: ts.Node, pos: number): (string | number)[] {
  const out: (string | number)[] = []
  let node: ts.Node | undefined = root
  while (node) {
    const child: ts.Node | undefined = node.getChildren().flatMap((c) => c.kind === ts.SyntaxKind.SyntaxList ? c.getChildren() : [c])
      .find((c) => c.getStart() <= pos && pos < c.end)
    if (!child) break
    if (ts.isPropertyAssignment(child)) out.push((child.name as ts.StringLiteral).text)
    if (ts.isArrayLiteralExpression(node)) out.push(node.elements.indexOf(child as ts.Expression))
    node = child
  }
  return out
}

/** The property at a JSON path below `root`, in the same file. */
function propertyAt(root: ts.Node, path: (string | number)[]): ts.PropertyAssignment | undefined {
  let node: ts.Node | undefined = root
  let property: ts.PropertyAssignment | undefined
  for (const key of path) {
    if (typeof key === 'number') node = ts.isArrayLiteralExpression(node!) ? node.elements[key] : undefined
    else node = (property = propertyOf(node!, key))?.initializer
    if (!node) return undefined
  }
  return property
}

/** What the compiler found, said in the JSON's terms where it can be: unknown key, missing key, allowed values. */
function messageOf(d: ts.Diagnostic, checker: ts.TypeChecker, property?: ts.PropertyAssignment): { text: string; kind: 'unknown' | 'missing' | 'value' } {
  const chain = ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n').map((l) => l.trim()).filter(Boolean)
  const find = (re: RegExp) => chain.map((l) => l.match(re)).filter(Boolean).pop()
  const unknown = find(/Object literal may only specify known properties, (?:and|but) '"?([^'"]+)"?' does not exist.*?(Did you mean to write '([^']+)'\?)?$/)
  if (unknown) return { kind: 'unknown', text: `unknown key "${unknown[1]}"${unknown[3] ? ` (did you mean "${unknown[3]}"?)` : ''}` }
  const missing = find(/^Property '([^']+)' is missing in type/)
  if (missing) return { kind: 'missing', text: `required key "${missing[1]}" is missing` }
  const allowed = property && checker.getContextualType(property.initializer)
  if (property && allowed?.isUnion() && allowed.types.some((t) => t.isLiteral()) && allowed.types.every((t) => t.isLiteral() || t.flags & ts.TypeFlags.Undefined)) {
    const values = allowed.types.filter((t) => !(t.flags & ts.TypeFlags.Undefined)).map((t) => checker.typeToString(t))
    return { kind: 'value', text: `${property.initializer.getText()} is not one of ${values.join(', ')}` }
  }
  const text = chain.join(' ')
  return { kind: 'value', text: text.length <= 240 ? text : chain[chain.length - 1].slice(0, 400) }
}

/** The range of a property with its comma, to take it out of an object and leave valid JSON. */
function withComma(text: string, p: ts.PropertyAssignment): Edit {
  let [start, end] = [p.getStart(), p.end]
  const after = text.slice(end).match(/^\s*,/)
  if (after) end += after[0].length
  else { const before = text.slice(0, start).match(/,\s*$/); if (before) start -= before[0].length }
  return { start, end, with: '' }
}

/** Every part of the JSON files (files that are not JSON are left to the shape check, promql-dashboards.ts). */
function partsOf(files: { file: string; text: string }[]): { parts: Part[]; panelTypes: Set<string> } {
  const parts: Part[] = []
  const panelTypes = new Set<string>()
  for (const { file, text } of files) {
    try { JSON.parse(text) } catch { continue }
    const json = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JSON) as ts.JsonSourceFile
    const queue: Unit[] = [{ node: json.statements[0].expression, type: 'S.Dashboard', path: '' }]
    for (let unit = queue.shift(); unit; unit = queue.shift()) {
      const kind = propertyOf(unit.node, 'type')?.initializer
      if (unit.type === PANEL && kind && ts.isStringLiteral(kind) && kind.text !== 'row') panelTypes.add(kind.text)
      const inner = childrenOf(unit)
      parts.push({ file, text, unit, source: `${VIRTUAL}/part${parts.length}.ts`, edits: inner.map((c) => ({ start: c.node.getStart(), end: c.node.end, with: 'null!' })) })
      queue.push(...inner)
    }
  }
  return { parts, panelTypes }
}

/** Every schema violation of the dashboards, with file, line and JSON path. */
export function dashboardSchemaProblems(files: { file: string; text: string }[]): Problem[] {
  const { dir, version } = schemaPackage()
  const { parts, panelTypes } = partsOf(files)
  if (parts.length === 0) return []
  const strict = `${VIRTUAL}/strict.ts`
  const texts = new Map<string, string>([[strict, strictTypes(dir, [...panelTypes].sort())]])
  const options: ts.CompilerOptions = {
    noEmit: true, strict: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Node10, lib: ['lib.es2022.d.ts'], types: [],
  }
  const host = ts.createCompilerHost(options)
  const parsed = new Map<string, ts.SourceFile>() // kept between passes: only changed parts are parsed again
  const read = (f: string): string | undefined => texts.get(f)
    ?? (f.startsWith(dir) && ts.sys.fileExists(f) ? enumsAsLiterals(ts.sys.readFile(f)!) : ts.sys.readFile(f))
  host.readFile = read
  host.fileExists = (f) => texts.has(f) || ts.sys.fileExists(f)
  host.directoryExists = (d) => d === VIRTUAL || ts.sys.directoryExists(d)
  host.getSourceFile = (f, lang) => {
    const t = read(f)
    if (t === undefined) return undefined
    if (parsed.get(f)?.text !== t) parsed.set(f, ts.createSourceFile(f, t, lang, true))
    return parsed.get(f)
  }

  const found = new Map<string, Problem>()
  let pending = parts
  let program: ts.Program | undefined
  for (let pass = 0; pending.length && pass < 8; pass++) {
    for (const p of pending) texts.set(p.source, sourceOf(p))
    program = ts.createProgram([strict, ...pending.map((p) => p.source)], options, host, program)
    const broken = [...program.getSyntacticDiagnostics(program.getSourceFile(strict)), ...program.getSemanticDiagnostics(program.getSourceFile(strict))]
    if (broken.length) { // the schema package did not load as expected: say so rather than pass every dashboard
      return [{ file: '@grafana/schema', line: 0, message: `schema ${version} did not load: ${ts.flattenDiagnosticMessageText(broken[0].messageText, ' ')}` }]
    }
    const checker = program.getTypeChecker()
    pending = pending.filter((p) => {
      const sf = program!.getSourceFile(p.source)!
      const literal = (sf.statements[1] as ts.VariableStatement).declarationList.declarations[0].initializer!
      const before = p.edits.length
      for (const d of [...program!.getSyntacticDiagnostics(sf), ...program!.getSemanticDiagnostics(sf)]) {
        const pos = Math.max(d.start ?? 0, literal.getStart()) // a missing key is reported at the declaration's name
        const keys = pathAt(literal, pos)
        const generated = propertyAt(literal, keys)
        const { text, kind } = messageOf(d, checker, generated)
        const path = keys.reduce<string>(join, p.unit.path) || '(dashboard)'
        const problem = { file: p.file, line: sf.getLineAndCharacterOfPosition(pos).line + 1, message: `Grafana schema ${version}: ${path}: ${text}` }
        found.set(`${problem.file}:${problem.line}:${problem.message}`, problem)
        // set the named key aside (its value, or the whole key when the schema has no such key) and check again
        const original = kind !== 'missing' ? propertyAt(p.unit.node, keys) : undefined
        if (original && !p.edits.some((e) => e.start <= original.getStart() && original.end <= e.end)) {
          p.edits.push(kind === 'unknown' ? withComma(p.text, original) : { start: original.initializer.getStart(), end: original.initializer.end, with: 'null!' })
        }
      }
      return p.edits.length > before
    })
  }
  return [...found.values()].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.message.localeCompare(b.message))
}
