// The types a Grafana dashboard is checked against, from @grafana/schema: the TypeScript that Grafana generates from
// the CUE kinds it ships (the dashboard kind, the common kinds, each core panel's options and field config), with
// enums read as the values they stand for. Reads only the schema package's declaration files.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import ts from 'typescript'

/** The declaration files of @grafana/schema (dist/types) and the package's version. */
export function schemaPackage(): { dir: string; version: string } {
  const manifest = createRequire(import.meta.url).resolve('@grafana/schema/package.json')
  const version = (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version
  return { dir: path.join(path.dirname(manifest), 'dist/types'), version }
}

/**
 * An enum's declaration rewritten to the values it stands for: `enum M { A = "a" }` becomes the type `"a"` (with
 * `M.A` kept as a type). JSON holds the values, and TypeScript would not let a string literal be a string enum.
 */
export function enumsAsLiterals(text: string): string {
  const sf = ts.createSourceFile('x.d.ts', text, ts.ScriptTarget.Latest, true)
  const edits: { start: number; end: number; text: string }[] = []
  for (const st of sf.statements) {
    if (!ts.isEnumDeclaration(st)) continue
    let next = 0
    const members = st.members.map((m) => {
      const init = m.initializer
      const value = !init ? String(next) : ts.isStringLiteral(init) ? JSON.stringify(init.text) : init.getText(sf)
      if (!init || ts.isNumericLiteral(init)) next = Number(value) + 1
      return { name: m.name.getText(sf), value }
    })
    const name = st.name.text
    const values = members.length ? [...new Set(members.map((m) => m.value))].join(' | ') : 'never'
    edits.push({ start: st.getStart(sf), end: st.end,
      text: `export type ${name} = ${values}; export declare namespace ${name} { ${members.map((m) => `type ${m.name} = ${m.value};`).join(' ')} }` })
  }
  return edits.reverse().reduce((t, e) => t.slice(0, e.start) + e.text + t.slice(e.end), text)
}

/** Panel plugin ids whose schema folder has another name. */
const PANEL_FOLDER: Record<string, string> = { annolist: 'annotationslist', dashlist: 'dashboardlist' }

/** The folder of a core panel's options schema, when Grafana ships one for that panel type. */
function panelSchema(dir: string, type: string): string | undefined {
  const file = path.join(dir, 'raw/composable', PANEL_FOLDER[type] ?? type, 'panelcfg/x/types.gen.d.ts')
  return /^[a-z0-9-]+$/.test(type) && fs.existsSync(file) ? file.replace(/\.d\.ts$/, '') : undefined
}

/**
 * The type each file is checked against: the dashboard kind, with each panel's options and field config typed by
 * its plugin's schema (a panel type without one keeps the kind's open `options`). Plugin options may be partial
 * (Grafana fills what is missing from the plugin's defaults); queries carry the common query keys, typed.
 */
export function strictTypes(dir: string, panelTypes: string[]): string {
  const lines = [
    `import type * as D from ${JSON.stringify(path.join(dir, 'raw/dashboard/x/types.gen'))}`,
    `import type * as C from ${JSON.stringify(path.join(dir, 'common/common.gen'))}`,
    'type DeepPartial<T> = T extends readonly (infer U)[] ? DeepPartial<U>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T',
    'type Query = Partial<C.DataQuery> & Record<string, unknown>',
    'type Typed<T extends string, O, F> = Omit<D.Panel, "type" | "options" | "fieldConfig" | "targets"> & { type: T; options?: O; targets?: Query[];',
    '  fieldConfig?: Omit<D.FieldConfigSource, "defaults"> & { defaults: Omit<D.FieldConfig, "custom"> & { custom?: F } } }',
  ]
  const members = panelTypes.map((type, i) => {
    const schema = panelSchema(dir, type)
    if (!schema) return `Typed<${JSON.stringify(type)}, Record<string, unknown>, Record<string, unknown>>`
    lines.push(`import type * as P${i} from ${JSON.stringify(schema)}`)
    const custom = fs.readFileSync(`${schema}.d.ts`, 'utf8').includes('export interface FieldConfig ') ? `DeepPartial<P${i}.FieldConfig>` : 'Record<string, unknown>'
    return `Typed<${JSON.stringify(type)}, DeepPartial<P${i}.Options>, ${custom}>`
  })
  lines.push(
    `export type Panel = ${members.length ? members.join(' | ') : 'never'}`,
    'export type PanelOf<T extends string> = Extract<Panel | Row, { type: T }>',
    'export type { Query }',
    'export type Row = Omit<D.RowPanel, "panels"> & { panels: Panel[] }',
    'export type Dashboard = Omit<D.Dashboard, "panels"> & { panels?: (Panel | Row)[] }',
  )
  return lines.join('\n')
}
