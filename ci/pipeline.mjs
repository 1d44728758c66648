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

/** The bundle's inputs: the module and CLI sources, TypeScript and JavaScript (not their tests), the lockfile and this file (the build's options). */
function inputs() {
  const sources = fs.readdirSync(CI, { recursive: true, encoding: 'utf8' })
    .filter((f) => (f.endsWith('.ts') || f.endsWith('.mjs')) && !f.endsWith('.test.ts') && f !== 'pipeline.mjs' && !f.startsWith('sdk') && !f.includes('node_modules'))
  return [...sources.map((f) => path.join(CI, f)), path.join(REPO, 'package-lock.json'), fileURLToPath(import.meta.url)].sort()
}

/**
 * Marks the Dagger SDK's own files free of side effects, so that what library mode does not use is left out: its
 * module runtime (the introspector, which imports the TypeScript compiler, some 9 MB of CommonJS to load).
 */
const sdkWithoutSideEffects = {
  name: 'sdk-without-side-effects',
  setup(build) {
    build.onResolve({ filter: /^\.{1,2}\// }, (args) =>
      (args.importer.includes('/node_modules/@dagger.io/dagger/') ? { path: path.resolve(path.dirname(args.importer), args.path), sideEffects: false } : undefined))
  },
}

/**
 * The bundle for the current sources, built when it is not in the cache yet (a few seconds; older bundles removed):
 * a folder with the entry, run.mjs, and the chunks it imports on demand (the release side, with client-node).
 */
async function bundle() {
  const hash = crypto.createHash('sha256')
  for (const f of inputs()) hash.update(f).update(fs.readFileSync(f))
  const name = `run-${hash.digest('hex').slice(0, 16)}`
  const out = path.join(CACHE, name)
  if (fs.existsSync(path.join(out, 'run.mjs'))) return path.join(out, 'run.mjs')
  const esbuild = await import('esbuild')
  const tmp = `${out}.${process.pid}.tmp`
  await esbuild.build({
    entryPoints: { run: path.join(CI, 'run.ts') }, outdir: tmp, outExtension: { '.js': '.mjs' }, bundle: true, splitting: true,
    platform: 'node', format: 'esm', target: 'node20', minify: true, keepNames: true, logLevel: 'error',
    external: ['@kubernetes/client-node', 'typescript'], plugins: [sdkWithoutSideEffects],
    // CommonJS dependencies inside an ES module bundle still call require()
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  })
  fs.rmSync(out, { recursive: true, force: true })
  fs.renameSync(tmp, out)
  for (const old of fs.readdirSync(CACHE)) if (/^run-[0-9a-f]{16}(\.mjs)?$/.test(old) && old !== name) fs.rmSync(path.join(CACHE, old), { recursive: true, force: true })
  return path.join(out, 'run.mjs')
}

await import(pathToFileURL(await bundle()).href)
