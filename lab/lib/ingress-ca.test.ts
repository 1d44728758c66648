// The lab's ingress CA (lab/lib/ingress-ca.mjs) in a throw-away LAB_HOME, with the host's openssl: the hosts it
// certifies are the overlays' (and the pipeline's config's), its certificates verify and stay put, and its name
// constraint holds even for a certificate signed with its key outside the permitted domain.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ENVIRONMENTS as CONFIG } from '../../ci/src/config/environments.js'

type Ca = typeof import('./ingress-ca.mjs')
let ca: Ca
let home: string

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-ingress-ca-'))
  process.env.LAB_HOME = home // read when the module loads
  ca = await import('./ingress-ca.mjs')
})

afterAll(() => fs.rmSync(home, { recursive: true, force: true }))

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

describe('the lab ingress CA', () => {
  it('certifies each environment for the hosts its overlay\'s Ingress names, which are the pipeline config\'s', () => {
    for (const env of ca.ENVIRONMENTS) {
      const { host } = CONFIG[env as keyof typeof CONFIG]
      expect(ca.ingressHosts(env), env).toEqual([host, `api.${host}`])
    }
  })

  it('issues a certificate for those hosts that chains to the CA, keeps it, and keeps the keys private', async () => {
    const first = await ca.environmentTls('staging')
    const cert = new crypto.X509Certificate(first['tls.crt'])
    expect(cert.verify(new crypto.X509Certificate(fs.readFileSync(ca.CA_FILE)).publicKey)).toBe(true)
    expect(cert.checkHost('api.staging.graphmemory.example.com')).toBe('api.staging.graphmemory.example.com')
    expect(cert.checkHost('graphmemory.example.com')).toBeUndefined()
    expect(await ca.environmentTls('staging')).toEqual(first) // not issued again
    const dir = path.join(home, 'state', 'ingress')
    for (const key of [path.join(dir, 'ca.key'), path.join(dir, 'certs', 'staging.key')]) expect(fs.statSync(key).mode & 0o777, key).toBe(0o600)
  })

  it('refuses to issue outside graphmemory.example.com, and its name constraint fails such a certificate anyway', async () => {
    await expect(ca.certificateFor('outside', ['graphmemory.example.com.evil.org'])).rejects.toThrow(/cannot sign graphmemory\.example\.com\.evil\.org: its name constraint permits graphmemory\.example\.com/)
    const dir = path.join(home, 'state', 'ingress')
    const forged = path.join(home, 'forged')
    fs.writeFileSync(`${forged}.ext`, 'subjectAltName=DNS:bank.example.org\n')
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=bank.example.org', '-keyout', `${forged}.key`, '-out', `${forged}.csr`)
    openssl('x509', '-req', '-in', `${forged}.csr`, '-CA', ca.CA_FILE, '-CAkey', path.join(dir, 'ca.key'), '-set_serial', '7', '-days', '1', '-extfile', `${forged}.ext`, '-out', `${forged}.crt`)
    expect(() => openssl('verify', '-CAfile', ca.CA_FILE, `${forged}.crt`)).toThrow(/permitted subtree violation/)
    await ca.certificateFor('gmi-t-sandbox', ['sandbox.graphmemory.example.com'])
    expect(openssl('verify', '-CAfile', ca.CA_FILE, path.join(dir, 'certs', 'gmi-t-sandbox.crt'))).toMatch(/: OK/)
  })
})
