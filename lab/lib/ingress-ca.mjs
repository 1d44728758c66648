// The lab's ingress CA: it issues each environment's Ingress certificate (the Secret graphmemory-tls, for the hosts the
// overlay's Ingress names). It is the lab's own, apart from the cluster CA (which can mint cluster-admin client
// certificates): a name constraint lets it sign names under graphmemory.example.com only, so a browser profile or a
// test that trusts it trusts nothing else. Nothing on this machine trusts it system-wide: clients pass it explicitly
// (curl --cacert, Node's `ca`, Chromium's NSS db in a throw-away profile). Made once, kept in state/ingress.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { parse } from 'yaml'
import { REPO, STATE } from './paths.mjs'
import { LabError } from './step.mjs'
import { runOrExplain } from './proc.mjs'

const DIR = path.join(STATE, 'ingress')
/** The CA certificate: what clients of the lab's ingress trust (LAB_INGRESS_CA). */
export const CA_FILE = path.join(DIR, 'ca.crt')
const CA_KEY = path.join(DIR, 'ca.key')
/** The only names the CA may sign (and their subdomains): the environments' hosts. */
export const PERMITTED_DOMAIN = 'graphmemory.example.com'
/** The environments whose Ingress gets a certificate. */
export const ENVIRONMENTS = ['dev', 'staging', 'prod']
const CERT_DAYS = 365
/** A certificate is issued again when it expires within this many days. */
const RENEW_DAYS = 30

/** Runs openssl; its output, or a LabError naming `what` it was making. @param {string[]} args @param {string} what */
async function openssl(args, what) {
  const r = await runOrExplain(['openssl', ...args], { what: `openssl could not make ${what}`, tail: 4, fix: `remove ${DIR} and run \`make lab-up\` again` })
  return r.stdout
}

/** The CA's key and certificate, made when missing (EC P-256, 10 years, name-constrained). */
export async function ensureCa() {
  if (fs.existsSync(CA_FILE) && fs.existsSync(CA_KEY)) return CA_FILE
  fs.mkdirSync(DIR, { recursive: true, mode: 0o700 })
  const tmp = `${CA_KEY}.partial`
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650', '-sha256',
    '-subj', '/O=GraphMemory-IDE lab/CN=graphmemory-lab-ingress-ca', '-keyout', tmp, '-out', `${CA_FILE}.partial`,
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', `nameConstraints=critical,permitted;DNS:${PERMITTED_DOMAIN}`], 'the ingress CA')
  fs.chmodSync(tmp, 0o600)
  fs.renameSync(tmp, CA_KEY)
  fs.renameSync(`${CA_FILE}.partial`, CA_FILE)
  return CA_FILE
}

/**
 * The hosts an environment's Ingress serves, read from its overlay (k8s/overlays/<env>/kustomization.yaml: the patch
 * that sets /spec/tls/0/hosts of the Ingress graphmemory).
 * @param {string} env
 * @returns {string[]}
 */
export function ingressHosts(env) {
  const file = path.join(REPO, 'k8s', 'overlays', env, 'kustomization.yaml')
  const patches = parse(fs.readFileSync(file, 'utf8'))?.patches ?? []
  for (const p of /** @type {{ target?: { kind?: string }, patch?: string }[]} */ (patches).filter((x) => x.target?.kind === 'Ingress')) {
    const op = /** @type {{ path?: string, value?: unknown }[]} */ (parse(p.patch ?? '') ?? []).find((o) => o.path === '/spec/tls/0/hosts')
    if (Array.isArray(op?.value) && op.value.length) return op.value
  }
  throw new LabError(`no Ingress hosts for ${env}`, `${path.relative(REPO, file)} has no patch setting /spec/tls/0/hosts of the Ingress`,
    'give the overlay its hosts (k8s/README.md), then run `make lab-up`')
}

/** Days until a PEM certificate expires (negative when expired). @param {string | Buffer} pem */
const daysLeft = (pem) => (Date.parse(new crypto.X509Certificate(pem).validTo) - Date.now()) / 86400000

/**
 * The environment's certificate and key for its Ingress hosts, as PEM strings { 'tls.crt', 'tls.key' }: issued by the
 * ingress CA once and kept (state/ingress/certs/<env>.*, key 0600); issued again when the hosts or the CA change or it
 * nears expiry. `tls.crt` holds the leaf only: clients trust the CA itself.
 * @param {string} env
 */
export const environmentTls = (env) => certificateFor(env, ingressHosts(env))

/**
 * A certificate of the ingress CA for `hosts` (names under graphmemory.example.com), kept under `name` like an
 * environment's: for a test's own namespace, whose Ingress must name hosts of its own (two Ingresses naming the same
 * host split its traffic between them).
 * @param {string} name
 * @param {string[]} hosts
 */
export async function certificateFor(name, hosts) {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new LabError(`bad certificate name ${name}`, 'lowercase letters, digits and dashes only', 'pick another name')
  const outside = hosts.filter((h) => h !== PERMITTED_DOMAIN && !h.endsWith(`.${PERMITTED_DOMAIN}`))
  if (outside.length) throw new LabError(`the ingress CA cannot sign ${outside.join(', ')}`, `its name constraint permits ${PERMITTED_DOMAIN} and its subdomains only`, 'use hosts under that domain')
  await ensureCa()
  const certs = path.join(DIR, 'certs')
  const [crt, key, specFile] = ['crt', 'key', 'spec'].map((e) => path.join(certs, `${name}.${e}`))
  const spec = JSON.stringify({ hosts, ca: crypto.createHash('sha256').update(fs.readFileSync(CA_FILE)).digest('hex') })
  const current = fs.existsSync(crt) && fs.existsSync(key) && fs.existsSync(specFile) && fs.readFileSync(specFile, 'utf8') === spec
  if (!current || daysLeft(fs.readFileSync(crt)) < RENEW_DAYS) await issue({ hosts, crt, key, certs })
  fs.writeFileSync(specFile, spec)
  return { 'tls.crt': fs.readFileSync(crt, 'utf8'), 'tls.key': fs.readFileSync(key, 'utf8') }
}

/**
 * Signs a serving certificate for `hosts` (the first one as CN) with the CA.
 * @param {{ hosts: string[], crt: string, key: string, certs: string }} files
 */
async function issue({ hosts, crt, key, certs }) {
  fs.mkdirSync(certs, { recursive: true, mode: 0o700 })
  const ext = `${crt}.ext`
  const csr = `${crt}.csr`
  fs.writeFileSync(ext, ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth',
    `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}`, ''].join('\n'))
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${hosts[0]}`,
    '-keyout', `${key}.partial`, '-out', csr], `the key of ${hosts[0]}`)
  fs.chmodSync(`${key}.partial`, 0o600)
  await openssl(['x509', '-req', '-in', csr, '-CA', CA_FILE, '-CAkey', CA_KEY, '-set_serial', `0x${crypto.randomBytes(16).toString('hex')}`,
    '-days', String(CERT_DAYS), '-sha256', '-extfile', ext, '-out', crt], `the certificate of ${hosts.join(', ')}`)
  fs.renameSync(`${key}.partial`, key)
  for (const f of [ext, csr]) fs.rmSync(f, { force: true })
}
