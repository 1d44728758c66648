// Where the repository is, found from this file's location whether it runs from source (tsx) or from the bundled
// library-mode entry (ci/pipeline.mjs writes it under node_modules/.cache): the nearest folder upward with dagger.json.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The nearest folder at or above `from` that holds dagger.json (the module's root: the repository). */
export function moduleRoot(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'dagger.json'))) return dir
    if (path.dirname(dir) === dir) throw new Error(`no dagger.json at or above ${from}: run the pipeline from inside the repository`)
  }
}

/** The repository this code belongs to. */
export const REPO = moduleRoot(path.dirname(fileURLToPath(import.meta.url)))
