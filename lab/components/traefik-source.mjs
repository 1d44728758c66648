// Traefik v3.7.13's source for the lab's ingress controller (lab/components/ingress.mjs): the module from the Go module
// proxy, checked against pinned hashes, copied into the lab cache and patched so that it builds from what the proxy
// serves. The patches are files in lab/go/traefik/patches, each with a line on why:
//   1. dynamic-ext/: the nested module pkg/config/dynamic/ext is missing from the module's zip (and not served).
//   2. lego-dns/: lego v5.4.1's DNS-provider factory, reduced to exec and httpreq: seven providers' cloud SDKs are
//      refused by the proxy; the nine refused modules are dropped from lego's and traefik's go.mod (ACME is not used).
//   3. go-http-auth/: traefik's fork github.com/containous/go-http-auth is refused; abbot's v0.4.0 plus the two
//      functions traefik calls (CheckSecret, DigestAuth.RequireAuthStale), with their test, run before the build.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { $ } from 'zx'
import { CACHE, REPO } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { goEnv, downloadModule, writableCopy } from '../lib/gobuild.mjs'

export const VERSION = 'v3.7.13'
export const PATCHES = path.join(REPO, 'lab', 'go', 'traefik', 'patches')

/** The modules the build takes from the proxy, with their hashes (GOSUMDB is off in the lab: checked here instead). */
const MODULES = {
  traefik: { path: 'github.com/traefik/traefik/v3', version: VERSION, sum: 'h1:T8wy9KuaFzCkmXCqAzDy7t73pBDR1DHrJe3pqXpNXTw=' },
  // the version traefik v3.7.13 requires; the hash is the one its go.sum records
  lego: { path: 'github.com/go-acme/lego/v5', version: 'v5.4.1', sum: 'h1:Jt6xAP9xQrJ3SLLGgxejfDDd3pzdrmuLCWe4oTqHHQc=' },
  httpAuth: { path: 'github.com/abbot/go-http-auth', version: 'v0.4.0', sum: 'h1:QjmvZ5gSC7jm3Zg54DqWE/T5m1t2AfDu6QlXJT0EVT0=' },
}

/** The modules the proxy refuses, required (indirectly) through lego's DNS providers: dropped from both go.mod files. */
export const REFUSED = [
  'github.com/akamai/AkamaiOPEN-edgegrid-golang/v13',
  'github.com/huaweicloud/huaweicloud-sdk-go-v3',
  'github.com/nrdcg/oci-go-sdk/common/v1065',
  'github.com/nrdcg/oci-go-sdk/dns/v1065',
  'github.com/sacloud/sacloud-sdk-go',
  'github.com/ucloud/ucloud-sdk-go',
  'github.com/yandex-cloud/go-genproto',
  'github.com/yandex-cloud/go-sdk/services/dns',
  'github.com/yandex-cloud/go-sdk/v2',
]

/** Where the patched copies of lego and go-http-auth go, inside the traefik copy (`_` keeps them out of `./...`). */
const LEGO_DIR = '_lab/lego'
const HTTP_AUTH_DIR = '_lab/go-http-auth'

/** A hash of the patch files: a changed patch makes a new source copy (and so a new build). */
export function patchesHash() {
  const h = crypto.createHash('sha256')
  const walk = (/** @type {string} */ dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else h.update(path.relative(PATCHES, p)).update(fs.readFileSync(p))
    }
  }
  walk(PATCHES)
  return h.digest('hex').slice(0, 12)
}

export const sourceDir = () => path.join(CACHE, 'src', `traefik-${VERSION}-lab-${patchesHash()}`)

/** `go` in `cwd` with the lab's Go environment (the module's own go.mod decides `-mod`). @param {string} cwd @param {Record<string, string>} [env] */
const go = (cwd, env = {}) => $({ cwd, env: { ...goEnv(), GOFLAGS: '', ...env } })

const patch = (/** @type {string[]} */ ...p) => path.join(PATCHES, ...p)

/** Patch 1: the nested module traefik's go.mod replaces with ./pkg/config/dynamic/ext. @param {string} dir */
function addDynamicExt(dir) {
  const ext = path.join(dir, 'pkg', 'config', 'dynamic', 'ext')
  fs.mkdirSync(ext, { recursive: true })
  for (const f of ['ext.go', 'go.mod']) fs.copyFileSync(patch('dynamic-ext', f), path.join(ext, f))
}

/**
 * Patch 2: lego with the reduced DNS-provider factory, without the refused modules.
 * @param {string} dir
 * @param {string} legoSource
 */
async function addLego(dir, legoSource) {
  const lego = path.join(dir, LEGO_DIR)
  await writableCopy(legoSource, lego)
  fs.copyFileSync(patch('lego-dns', 'zz_gen_dns_providers.go'), path.join(lego, 'providers', 'dns', 'zz_gen_dns_providers.go'))
  fs.rmSync(path.join(lego, 'providers', 'dns', 'dns_providers_test.go'))
  await go(lego)`go mod edit ${REFUSED.map((m) => `-droprequire=${m}`)}`.quiet()
}

/**
 * Patch 3: abbot's go-http-auth v0.4.0 with the two functions of the fork traefik calls (and their test).
 * @param {string} dir
 * @param {string} authSource
 */
async function addHttpAuth(dir, authSource) {
  const auth = path.join(dir, HTTP_AUTH_DIR)
  await writableCopy(authSource, auth)
  for (const f of ['go.mod', 'lab_additions.go', 'lab_additions_test.go']) fs.copyFileSync(patch('go-http-auth', f), path.join(auth, f))
}

/** traefik's go.mod: the refused modules dropped, lego and go-http-auth replaced by the patched copies. @param {string} dir */
async function editTraefikModule(dir) {
  await go(dir)`go mod edit ${REFUSED.map((m) => `-droprequire=${m}`)} ${`-replace=${MODULES.lego.path}=./${LEGO_DIR}`} ${`-replace=${MODULES.httpAuth.path}=./${HTTP_AUTH_DIR}`}`.quiet()
}

/**
 * The patched source, made once per patch set and kept in the lab cache (a half-made copy is never used: it is
 * assembled beside and renamed). Runs patch 3's test in it before returning.
 */
export async function patchedSource() {
  const dir = sourceDir()
  if (fs.existsSync(path.join(dir, '.patched'))) return dir
  fs.mkdirSync(CACHE, { recursive: true })
  const [traefik, lego, auth] = [await downloadModule(MODULES.traefik), await downloadModule(MODULES.lego), await downloadModule(MODULES.httpAuth)]
  const tmp = `${dir}.partial`
  fs.rmSync(tmp, { recursive: true, force: true })
  await writableCopy(traefik, tmp)
  addDynamicExt(tmp)
  await addLego(tmp, lego)
  await addHttpAuth(tmp, auth)
  await editTraefikModule(tmp)
  // -vet=off: v0.4.0's own misc_test.go has a format string go vet refuses; its tests and ours still run
  const t = await go(tmp, { GOFLAGS: '-mod=readonly' })`nice -n 19 go test -vet=off ${MODULES.httpAuth.path}`.nothrow().quiet()
  if (t.exitCode !== 0) {
    throw new LabError('the go-http-auth patch fails its test', (t.stdout + t.stderr).trim().split('\n').slice(-10).join('\n'),
      `fix lab/go/traefik/patches/go-http-auth, then run \`make lab-up\``)
  }
  fs.writeFileSync(path.join(tmp, '.patched'), `${patchesHash()}\n`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.renameSync(tmp, dir)
  return dir
}
