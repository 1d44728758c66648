// The dashboards against Grafana's schema (@grafana/schema, checked by the TypeScript compiler in memory): the
// committed files pass; seeded mistakes fail at their file and line with their JSON path, all of them, also several
// in one object; what the schema leaves open (a panel plugin without a schema, a missing plugin option) passes.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { dashboardSchemaProblems, enumsAsLiterals, schemaPackage } from './dashboard-schema.js'
import { formatProblem, lineOfText } from './promql-rules.js'

const REPO = path.resolve(import.meta.dirname, '../../..')
const DIR = 'monitoring/grafana/dashboards'
const committed = (file: string) => fs.readFileSync(path.join(REPO, DIR, file), 'utf8')
const SLOW = 120_000 // one compiler run: 1-8 s on the shared 2-core lab machine

type Json = any
/** A copy of production-overview.json changed by `edit`, and its text as the generator writes it. */
function seeded(edit: (d: Json) => void): string {
  const d = JSON.parse(committed('production-overview.json'))
  edit(d)
  return `${JSON.stringify(d, null, 2)}\n`
}
const panel = (d: Json, title: string) => d.panels.find((p: Json) => p.title === title)

describe('dashboards against the Grafana schema', () => {
  it('an enum becomes the values it stands for, its members kept as types', () => {
    const out = enumsAsLiterals('export declare enum M {\n  /** a */\n  A = "a",\n  B = "b"\n}\nexport declare enum N { X, Y = 4, Z }\ninterface I { m: M.A }')
    expect(out).toBe('export type M = "a" | "b"; export declare namespace M { type A = "a"; type B = "b"; }\n'
      + 'export type N = 0 | 4 | 5; export declare namespace N { type X = 0; type Y = 4; type Z = 5; }\ninterface I { m: M.A }')
  })

  it('the committed dashboards pass', () => {
    const files = fs.readdirSync(path.join(REPO, DIR)).filter((f) => f.endsWith('.json')).sort()
    expect(files.length).toBeGreaterThanOrEqual(2)
    expect(dashboardSchemaProblems(files.map((f) => ({ file: `${DIR}/${f}`, text: committed(f) })))).toEqual([])
  }, SLOW)

  it('seeded mistakes fail with file, line, JSON path and what is wrong; what the schema leaves open passes', () => {
    const version = schemaPackage().version
    const wrongTypes = seeded((d) => {
      panel(d, 'Services up').gridPos.h = '4' // a number in the dashboard kind
      panel(d, 'Request rate').options.legend.displayMode = 'grid' // the timeseries panel's enum
      panel(d, 'Request rate').fieldConfig.defaults.custom = { lineWidth: 'thick' } // the timeseries field config
      d.graphTooltip = 7 // DashboardCursorSync: 0, 1, 2
      panel(d, 'Services up').fieldConfig.defaults.mappings = [{ type: 'valu', options: {} }] // MappingType, a union's tag
    })
    const unknownKeys = seeded((d) => {
      panel(d, 'Services up').options.colourMode = 'value' // stat's option is colorMode
      d.refresh_interval = '30s' // two unknown keys and a missing one in one object: the compiler names one at a time
      d.style = 'dark'
      delete d.schemaVersion
    })
    const open = seeded((d) => {
      panel(d, 'Request rate').type = 'grafana-clock-panel' // a plugin Grafana ships no schema for: options are its own
      panel(d, 'Request rate').options = { mode: 'time' }
      delete panel(d, 'Services up').options.colorMode // missing plugin options take the plugin's defaults
      panel(d, 'Services up').fieldConfig.defaults.mappings = [{ type: 'value', options: { 1: { text: 'up' } } }]
    })
    const problems = dashboardSchemaProblems([
      { file: 'wrong-types.json', text: wrongTypes }, { file: 'unknown-keys.json', text: unknownKeys },
      { file: 'open.json', text: open }, { file: 'not-json.json', text: '{"title": ' },
    ]).map(formatProblem)
    const at = (file: string, text: string, needle: string, message: string) =>
      `${file}:${lineOfText(text, needle)}: Grafana schema ${version}: ${message}`
    expect(problems.sort()).toEqual([
      at('wrong-types.json', wrongTypes, '"graphTooltip": 7', 'graphTooltip: 7 is not one of 0, 1, 2'),
      at('wrong-types.json', wrongTypes, '"h": "4"', 'panels[1].gridPos.h: Type \'string\' is not assignable to type \'number\'.'),
      at('wrong-types.json', wrongTypes, '"type": "valu"', 'panels[1].fieldConfig.defaults.mappings[0].type: "valu" is not one of "value", "range", "regex", "special"'),
      at('wrong-types.json', wrongTypes, '"displayMode": "grid"', 'panels[6].options.legend.displayMode: "grid" is not one of "hidden", "list", "table"'),
      at('wrong-types.json', wrongTypes, '"lineWidth": "thick"', 'panels[6].fieldConfig.defaults.custom.lineWidth: Type \'string\' is not assignable to type \'number\'.'),
      `unknown-keys.json:1: Grafana schema ${version}: (dashboard): required key "schemaVersion" is missing`,
      at('unknown-keys.json', unknownKeys, '"colourMode"', 'panels[1].options.colourMode: unknown key "colourMode"'),
      at('unknown-keys.json', unknownKeys, '"refresh_interval"', 'refresh_interval: unknown key "refresh_interval"'),
      at('unknown-keys.json', unknownKeys, '"style"', 'style: unknown key "style"'),
    ].sort())
  }, SLOW)
})
