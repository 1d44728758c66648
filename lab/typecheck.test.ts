// The lab is type-checked: lab/tsconfig.json turns checkJs on for lab/**/*.mjs (JSDoc types) and index.mjs declares
// every component a `Component` (lab/components/component.d.ts), so a type error anywhere in the lab, or a component
// that breaks the contract, fails `npm test` and `make test`. Runs the repository's own TypeScript compiler.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc')

/**
 * tsc's report for a project (empty when it type-checks). `buildInfo`: run incrementally, keeping tsc's build info in
 * that file, so a second run re-checks only what changed.
 */
async function typeErrors(project: string, buildInfo?: string): Promise<string> {
  const incremental = buildInfo ? ['--incremental', '--tsBuildInfoFile', buildInfo] : []
  return promisify(execFile)(process.execPath, [TSC, '--noEmit', '--pretty', 'false', ...incremental, '-p', project], { cwd: REPO, maxBuffer: 16 << 20 })
    .then(() => '', (err: { stdout?: string, stderr?: string, message: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`.trim() || err.message)
}

describe('the lab type-checks', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-lab-typecheck-'))
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

  it('with checkJs over every lab module, each component checked against the contract', async () => {
    expect(await typeErrors(path.join(REPO, 'lab'), path.join(REPO, 'node_modules', '.cache', 'typecheck-lab.tsbuildinfo'))).toBe('')
  })

  it('refuses a component that breaks the contract (a status row with a state the contract does not know)', async () => {
    fs.writeFileSync(path.join(scratch, 'bad-component.mjs'), [
      `/** @type {import(${JSON.stringify(path.join(REPO, 'lab/components/component.js'))}).Component} */`,
      `export const bad = { name: 'bad', up: async () => {}, down: async () => {}, status: async () => [{ name: 'bad', state: 'fine' }] }`,
      '',
    ].join('\n'))
    fs.writeFileSync(path.join(scratch, 'tsconfig.json'), JSON.stringify({
      extends: path.join(REPO, 'lab', 'tsconfig.json'),
      compilerOptions: { typeRoots: [path.join(REPO, 'node_modules', '@types')] },
      include: ['bad-component.mjs'],
    }))
    const report = await typeErrors(scratch)
    expect(report).toMatch(/bad-component\.mjs\(2,\d+\): error TS2322/)
    expect(report).toContain('"fine"')
  })
})
