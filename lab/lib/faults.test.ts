// Faults of the lab's own machinery give one clear message that says what to do.
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import net from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ensurePortFree, freePort, listenOnFreePort } from './proc.mjs'
import { goBuild } from './gobuild.mjs'
import { binDir } from './paths.mjs'

const cleanups: Array<() => void> = []
afterEach(() => { while (cleanups.length) cleanups.pop()!() })

describe('lab faults', () => {
  it('a port taken by another process names the port and the variable that moves it', async () => {
    const server = net.createServer()
    const port = await listenOnFreePort(server)
    cleanups.push(() => server.close())
    await expect(ensurePortFree('registry-test', port, 'LAB_TEST_PORT'))
      .rejects.toThrow(new RegExp(`port ${port} on 127.0.0.1 is taken[\\s\\S]*LAB_TEST_PORT=<port> make lab-up`))
  })

  it('a free port passes', async () => {
    const port = await freePort()
    await expect(ensurePortFree('registry-test', port, 'LAB_TEST_PORT')).resolves.toBeUndefined()
  })

  // A module proxy of the test's own that refuses every request with `status`, as a proxy that does not serve a version
  // does (proxy.golang.org answers 404 or 410, a mirror that filters modules 403): the message must not depend on
  // which proxy this machine reaches, nor on any network.
  it.each([403, 404, 410])('a Go module version the proxy refuses (%i) says which one and where to pin another', async (status) => {
    const asked: string[] = []
    const proxy = http.createServer((req, res) => { asked.push(req.url ?? ''); res.writeHead(status).end('refused\n') })
    const url = `http://127.0.0.1:${await listenOnFreePort(proxy)}`
    cleanups.push(() => proxy.close())

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gobuild-refused-'))
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
    const mod = `example.com/gmi/refused-${status} v1.2.3`
    fs.writeFileSync(path.join(dir, 'go.mod'), `module refused.test\n\ngo 1.24\n\nrequire ${mod}\n`)
    fs.writeFileSync(path.join(dir, 'go.sum'),
      `${mod} h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n${mod}/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n`)
    fs.writeFileSync(path.join(dir, 'main.go'), `package main\n\nimport _ "example.com/gmi/refused-${status}"\n\nfunc main() {}\n`)
    const name = `refused-test-${status}-${process.pid}`
    cleanups.push(() => fs.rmSync(binDir(name, 'v0'), { recursive: true, force: true }))
    // the module cache of the test's own: a module cached by an earlier run would never reach the proxy
    const env = { GOPROXY: url, GOMODCACHE: path.join(dir, 'modcache'), GOFLAGS: '-mod=readonly -trimpath -modcacherw' }
    const build = goBuild({ module: 'refused-test', name, version: 'v0', moduleDir: dir, targets: [{ pkg: '.', out: 'refused', env }] })
    const refusedUrl = `${url}/example.com/gmi/refused-${status}/@v/v1.2.3`.replace(/[.:/]/g, '\\$&')
    await expect(build).rejects.toThrow(new RegExp(
      `Go module download refused[\\s\\S]*${refusedUrl}\\.(zip|mod) answered ${status}[\\s\\S]*pin a served version in lab/go/refused-test/go.mod`))
    expect(asked.length, 'the refusal came from this proxy').toBeGreaterThan(0)
  })
})
