// The library-mode entry, fast: ci/run.ts and everything it imports (the Dagger SDK and its telemetry included)
// bundled by esbuild into one file, cached under node_modules/.cache by the hash of its sources and of the lockfile,
// so that a warm start reads one file instead of some 1,500 modules and compiles no TypeScript.
// @kubernetes/client-node stays outside: only the release functions load it.
//   node ci/pipeline.mjs [same arguments as `npm run pipeline --`]
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const CI = path.dirname(fileURLToPath(import.meta.url))
const REPO = path.dirname(CI)
const CACHE = path.join(REPO, 'node_modules', '.cache', 'graphmemory-pipeline')

/** The bundle's inputs: the module and CLI sources (not their tests) and the lockfile. */
function inputs() {
  const sources = fs.readdirSync(CI, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('sdk') && !f.includes('node_modules'))
  return [...sources.map((f) => path.join(CI, f)), path.join(REPO, 'package-lock.json')].sort()
}

/** The bundle for the current sources, built when it is not in the cache yet (about 2 s; older bundles removed). */
async function bundle() {
  const hash = crypto.createHash('sha256')
  for (const f of inputs()) hash.update(f).update(fs.readFileSync(f))
  const name = `run-${hash.digest('hex').slice(0, 16)}.mjs`
  const out = path.join(CACHE, name)
  if (fs.existsSync(out)) return out
  const esbuild = await import('esbuild')
  const tmp = `${out}.${process.pid}.tmp`
  await esbuild.build({
    entryPoints: [path.join(CI, 'run.ts')], outfile: tmp, bundle: true, platform: 'node', format: 'esm', target: 'node20',
    external: ['@kubernetes/client-node', 'typescript'], minify: true, keepNames: true, logLevel: 'error',
    // CommonJS dependencies inside an ES module bundle still call require()
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  })
  fs.renameSync(tmp, out)
  for (const old of fs.readdirSync(CACHE)) if (/^run-[0-9a-f]{16}\.mjs$/.test(old) && old !== name) fs.rmSync(path.join(CACHE, old), { force: true })
  return out
}

await import(pathToFileURL(await bundle()).href)
