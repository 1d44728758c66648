// Writes every dashboard of dashboards.ts to dashboards/<name>.json. Run: npx tsx monitoring/grafana/generate.ts
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DASHBOARDS, render } from './dashboards.js'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dashboards')
fs.mkdirSync(dir, { recursive: true })
for (const [file, build] of Object.entries(DASHBOARDS)) {
  fs.writeFileSync(path.join(dir, file), render(build()))
  console.log(`wrote monitoring/grafana/dashboards/${file}`)
}
