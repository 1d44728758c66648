// The kubernetes lab component on a warm machine (binaries built, cluster up: `make lab-up`): the contract and the
// properties the rest of the lab relies on (fast second up, loopback only, authentication required).
import fs from 'node:fs'
import https from 'node:https'
import { execFileSync } from 'node:child_process'
import { beforeAll, describe, expect, it } from 'vitest'
import * as kube from './kubernetes.mjs'
import { runningArgs, runningPid } from '../lib/proc.mjs'

const get = (url: string, ca: Buffer, token?: string) =>
  new Promise<number>((resolve, reject) => {
    const req = https.get(url, { ca, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
  })

describe('kubernetes lab component', () => {
  beforeAll(async () => {
    const [plane] = await kube.status()
    if (plane.state !== 'ok') throw new Error(`the lab's Kubernetes control plane is ${plane.state}: run \`make lab-up\` first`)
  })

  it('a second up() on a warm machine takes seconds', async () => {
    const t0 = performance.now()
    await kube.up()
    expect(performance.now() - t0).toBeLessThan(5000)
  })

  it('reports the control plane and its nodes as ok', async () => {
    const rows = await kube.status()
    expect(rows).toEqual([
      { name: 'kubernetes', state: 'ok', version: kube.KUBE_VERSION, address: kube.env().LAB_KUBE_API },
      { name: 'kubernetes nodes', state: 'ok', version: `kwok ${kube.KWOK_VERSION}`, address: '2/2 nodes ready' },
    ])
  })

  it('publishes a kubeconfig whose CA and token the API server accepts, and refuses anonymous requests', async () => {
    const { KUBECONFIG_LAB, LAB_KUBE_API } = kube.env()
    const config = JSON.parse(fs.readFileSync(KUBECONFIG_LAB, 'utf8'))
    const ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64')
    expect(config.clusters[0].cluster.server).toBe(LAB_KUBE_API)
    expect(await get(`${LAB_KUBE_API}/api/v1/nodes`, ca, config.users[0].user.token)).toBe(200)
    expect(await get(`${LAB_KUBE_API}/api/v1/nodes`, ca)).toBe(401)
  })

  it('listens on the loopback interface only', () => {
    const pids = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'].map((d) => runningPid(d))
    expect(pids.every(Boolean)).toBe(true)
    const lines = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' }).split('\n')
      .filter((l) => pids.some((p) => l.includes(`pid=${p},`)))
    expect(lines.length).toBeGreaterThanOrEqual(5)
    for (const l of lines) expect(l.split(/\s+/)[3]).toMatch(/^127\.0\.0\.1:\d+$/)
  })

  it('shows kubelets a client certificate of the lab CA and checks theirs against it (logs from the real node)', () => {
    const args = runningArgs('kube-apiserver') ?? []
    const flag = (f: string) => args.find((a) => a.startsWith(`--${f}=`))?.split('=')[1]
    expect(flag('kubelet-certificate-authority')).toBe(kube.CA_FILE)
    expect(flag('kubelet-preferred-address-types')).toBe('InternalIP,Hostname')
    const cert = flag('kubelet-client-certificate')!
    const subject = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-subject', '-nameopt', 'RFC2253'], { encoding: 'utf8' })
    expect(subject).toMatch(/CN=kube-apiserver-kubelet-client,O=system:masters/)
    expect(execFileSync('openssl', ['verify', '-CAfile', kube.CA_FILE, cert], { encoding: 'utf8' })).toContain(': OK')
  })
})
