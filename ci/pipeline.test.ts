// The bundled library-mode entry (ci/pipeline.mjs): it starts from one file that leaves out what a start does not
// need, and answers like the TypeScript entry it bundles.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { REPO } from './cli/paths.js'

const run = promisify(execFile)
const CACHE = path.join(REPO, 'node_modules', '.cache', 'graphmemory-pipeline')
const bundles = () => fs.readdirSync(CACHE).filter((f) => /^run-[0-9a-f]{16}$/.test(f))

describe('ci/pipeline.mjs', () => {
  it('answers --help from one cached bundle that loads neither the TypeScript compiler nor client-node at start', async () => {
    const { stdout } = await run('node', ['ci/pipeline.mjs', '--help'], { cwd: REPO })
    for (const fn of ['ci', 'build', 'scan', 'deploy', 'promote', 'rollback']) expect(stdout).toMatch(new RegExp(`^  ${fn}\\b`, 'm'))
    expect(bundles()).toHaveLength(1)
    const dir = path.join(CACHE, bundles()[0])
    const text = fs.readFileSync(path.join(dir, 'run.mjs'), 'utf8')
    const chunks = fs.readdirSync(dir).filter((f) => f !== 'run.mjs').map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    // (booleans: a failed match on the 3 MB bundle would print all of it)
    expect(/from\s*"typescript"/.test(text), 'a static import of typescript').toBe(false)
    expect(/from\s*"@kubernetes\/client-node"/.test(text), 'a static import of client-node').toBe(false)
    // client-node in a chunk of its own, which the release functions load
    expect(chunks.some((c) => /from\s*"@kubernetes\/client-node"/.test(c)), 'a chunk that imports client-node').toBe(true)
  })

  it('fails an unknown function with the same message as the TypeScript entry, exit code 1', async () => {
    const bundled = await run('node', ['ci/pipeline.mjs', 'shipit'], { cwd: REPO }).catch((e) => e)
    const source = await run(path.join(REPO, 'node_modules/.bin/tsx'), ['ci/run.ts', 'shipit'], { cwd: REPO }).catch((e) => e)
    expect(bundled.code).toBe(1)
    expect(bundled.stderr).toMatch(/^error: /)
    expect(bundled.stderr).toBe(source.stderr)
  })
})
