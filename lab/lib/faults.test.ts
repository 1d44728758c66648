// Faults of the lab's own machinery give one clear message that says what to do.
import fs from 'node:fs'
import os from 'node:os'
import net from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ensurePortFree } from './proc.mjs'
import { goBuild } from './gobuild.mjs'

const cleanups: Array<() => void> = []
afterEach(() => { while (cleanups.length) cleanups.pop()!() })

describe('lab faults', () => {
  it('a port taken by another process names the port and the variable that moves it', async () => {
    const server = net.createServer().listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    cleanups.push(() => server.close())
    const port = (server.address() as net.AddressInfo).port
    await expect(ensurePortFree('registry-test', port, 'LAB_TEST_PORT'))
      .rejects.toThrow(new RegExp(`port ${port} on 127.0.0.1 is taken[\\s\\S]*LAB_TEST_PORT=<port> make lab-up`))
  })

  it('a free port passes', async () => {
    const server = net.createServer().listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    const port = (server.address() as net.AddressInfo).port
    await new Promise((r) => server.close(r))
    await expect(ensurePortFree('registry-test', port, 'LAB_TEST_PORT')).resolves.toBeUndefined()
  })

  it('a Go module version the proxy refuses says which one and where to pin another', async () => {
    // github.com/vito/midterm at this pseudo-version is refused (403) by the module proxy reachable here.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gobuild-refused-'))
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
    const mod = 'github.com/vito/midterm v0.2.5-0.20260312180916-3c2add750bea'
    fs.writeFileSync(path.join(dir, 'go.mod'), `module refused.test\n\ngo 1.24\n\nrequire ${mod}\n`)
    fs.writeFileSync(path.join(dir, 'go.sum'),
      `${mod} h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n${mod}/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n`)
    fs.writeFileSync(path.join(dir, 'main.go'), 'package main\n\nimport _ "github.com/vito/midterm"\n\nfunc main() {}\n')
    const build = goBuild({ module: 'refused-test', version: 'v0', moduleDir: dir, targets: [{ pkg: '.', out: 'refused' }] })
    await expect(build).rejects.toThrow(/Go module download refused[\s\S]*midterm[\s\S]*answered 403[\s\S]*pin a served version in lab\/go\/refused-test\/go.mod/)
  })
})
