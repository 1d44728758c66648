// Base images made from Debian packages (debootstrap → docker import), pushed to the lab mirror under lab names.
// Image references used by the pipeline are configuration: online users keep official images, the lab passes these.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { $ } from 'zx'
import { CACHE, STATE, REPO } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { runOrExplain } from '../lib/proc.mjs'
import { MIRROR } from './registries.mjs'
import { inRegistry } from '../lib/images.mjs'

export const name = 'base-images'

const SUITE = 'bookworm'
const DEBIAN_MIRROR = process.env.LAB_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'

/**
 * The lab's images. The first is a debootstrap root; the others are built on it with Debian `packages`
 * (lab/images/Dockerfile.packages) or with their own `dockerfile` folder (repo-relative), given BASE_IMAGE.
 * @typedef {{ repo: string, tag: string, bootstrap?: string[], packages?: string[], dockerfile?: string }} LabImage
 * @type {LabImage[]}
 */
export const IMAGES = [
  { repo: 'gmi-lab/debian', tag: SUITE, bootstrap: ['ca-certificates'] },
  { repo: 'gmi-lab/python', tag: `3.11-${SUITE}`, packages: ['python3', 'python3-venv', 'python3-pip'] },
  { repo: 'gmi-lab/python', tag: `3.11-slim-${SUITE}`, packages: ['python3'] },
  { repo: 'gmi-lab/postgres', tag: `15-${SUITE}`, dockerfile: 'docker/lab/postgres' },
  { repo: 'gmi-lab/redis', tag: `7-${SUITE}`, dockerfile: 'docker/lab/redis' },
]

const HOST_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'
/** The PEM certificates of a bundle file (none when it is missing). @param {string} file @returns {string[]} */
const pemBlocks = (file) => fs.existsSync(file)
  ? (fs.readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [])
  : []

/**
 * An image's reference in the mirror; a LabError for none (a look-up in IMAGES that found nothing).
 * @param {LabImage | undefined} img
 */
export const ref = (img) => {
  if (!img) throw new LabError('no such lab base image', 'IMAGES in lab/components/base-images.mjs has no image of that repository and tag', 'name one of IMAGES')
  return `${MIRROR}/${img.repo}:${img.tag}`
}
/** The lab's Debian base image (the debootstrap root every lab image is built on). */
export const DEBIAN_IMAGE = `${MIRROR}/gmi-lab/debian:${SUITE}`
const BASE = IMAGES[0]
const hostBundleHash = () => crypto.createHash('sha256').update(pemBlocks(HOST_BUNDLE).join('')).digest('hex')

/**
 * Hash of what a derived image is built from: its Dockerfile folder (every file), or the shared packages Dockerfile.
 * @param {LabImage} img
 */
function contextHash(img) {
  const h = crypto.createHash('sha256')
  if (img.bootstrap) return ''
  const folder = img.dockerfile && path.join(REPO, img.dockerfile)
  const files = folder
    ? fs.readdirSync(folder, { recursive: true, encoding: 'utf8' }).sort().map((f) => path.join(folder, f))
    : [path.join(REPO, 'lab/images/Dockerfile.packages')]
  for (const f of files.filter((f) => fs.statSync(f).isFile())) h.update(path.relative(REPO, f)).update(fs.readFileSync(f))
  return h.digest('hex')
}
/** @param {LabImage} img @returns {string} */
const specHash = (img) => crypto.createHash('sha256')
  .update(JSON.stringify({ img, SUITE, DEBIAN_MIRROR, context: contextHash(img), base: img.bootstrap ? hostBundleHash() : specHash(BASE) }))
  .digest('hex').slice(0, 16)
/** @param {LabImage} img */
const stampFile = (img) => path.join(STATE, 'images', `${img.repo.replace('/', '_')}_${img.tag}.stamp`)

/** @param {LabImage} img */
async function isCurrent(img) {
  const stamp = stampFile(img)
  return fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === specHash(img) && (await inRegistry(ref(img)))
}

/**
 * Containers must trust what the host trusts: where outbound HTTPS passes a TLS-inspecting proxy, its CA is in the
 * host's bundle but not in Debian's. Certificates the host has beyond the root's own bundle are added to the root
 * as local CAs (update-ca-certificates keeps them across later ca-certificates upgrades). Adds nothing elsewhere.
 */
/** @param {string} dir */
async function trustHostCAs(dir) {
  const own = new Set(pemBlocks(path.join(dir, HOST_BUNDLE)).map((b) => b.replace(/\s/g, '')))
  const extra = pemBlocks(HOST_BUNDLE).filter((b) => !own.has(b.replace(/\s/g, '')))
  if (extra.length === 0) return
  const local = path.join(dir, 'usr/local/share/ca-certificates')
  fs.mkdirSync(local, { recursive: true })
  extra.forEach((pem, i) => fs.writeFileSync(path.join(local, `host-ca-${i + 1}.crt`), `${pem}\n`))
  await $`chroot ${dir} update-ca-certificates`.quiet()
}

/**
 * The base image: a debootstrap minimal root, trimmed of caches and docs, imported into Docker.
 * @param {LabImage & { bootstrap: string[] }} img
 */
async function bootstrap(img) {
  const dir = path.join(CACHE, 'rootfs', `${img.repo.replace('/', '_')}_${img.tag}`)
  fs.rmSync(dir, { recursive: true, force: true })
  const debs = path.join(CACHE, 'debootstrap-debs')
  fs.mkdirSync(debs, { recursive: true })
  const r = await $`debootstrap --variant=minbase --cache-dir=${debs} --include=${img.bootstrap.join(',')} ${SUITE} ${dir} ${DEBIAN_MIRROR}`.nothrow().quiet()
  if (r.exitCode !== 0) {
    const log = fs.existsSync(`${dir}/debootstrap/debootstrap.log`) ? fs.readFileSync(`${dir}/debootstrap/debootstrap.log`, 'utf8') : r.stderr
    throw new LabError(`debootstrap of ${img.repo}:${img.tag} failed`, log.trim().split('\n').slice(-6).join('\n'),
      `check that ${DEBIAN_MIRROR} answers (or set LAB_DEBIAN_MIRROR), then run \`make lab-up\``)
  }
  await trustHostCAs(dir)
  await $`rm -rf ${dir}/var/cache/apt/archives/*.deb ${dir}/var/lib/apt/lists/* ${dir}/usr/share/doc ${dir}/usr/share/man ${dir}/usr/share/info`
  await $`tar -C ${dir} -c . | docker import --change ${'ENV LANG=C.UTF-8'} --change ${'CMD ["/bin/bash"]'} - ${ref(img)}`.quiet()
  fs.rmSync(dir, { recursive: true, force: true })
}

/**
 * A derived image: Docker build on the base image, with packages or with the image's own Dockerfile folder.
 * @param {LabImage} img
 */
async function derive(img) {
  const context = path.join(REPO, img.dockerfile ?? 'lab/images')
  const file = path.join(context, img.dockerfile ? 'Dockerfile' : 'Dockerfile.packages')
  const args = ['--build-arg', `BASE_IMAGE=${ref(BASE)}`, ...(img.packages ? ['--build-arg', `PACKAGES=${img.packages.join(' ')}`] : [])]
  await runOrExplain(['docker', 'build', '-q', '-f', file, ...args, '-t', ref(img), context], {
    what: `building ${img.repo}:${img.tag} failed`, fix: 'fix the error above (is the Debian mirror reachable from containers?), then run `make lab-up`',
  })
}

/** @param {LabImage} img */
async function build(img) {
  await (img.bootstrap ? bootstrap({ ...img, bootstrap: img.bootstrap }) : derive(img))
  await $`docker push ${ref(img)}`.quiet()
  fs.mkdirSync(path.dirname(stampFile(img)), { recursive: true })
  fs.writeFileSync(stampFile(img), specHash(img))
}

export async function up() {
  const built = []
  for (const img of IMAGES) {
    if (await isCurrent(img)) continue
    await build(img)
    built.push(`${img.repo}:${img.tag}`)
  }
  return { note: built.length ? `built ${built.join(', ')}` : 'all current' }
}

export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const mirrorUp = await fetch(`http://${MIRROR}/v2/`).then(() => true, () => false)
  return Promise.all(IMAGES.map(async (img) => ({
    name: `image ${img.repo}:${img.tag}`,
    state: !mirrorUp ? 'down' : (await isCurrent(img)) ? 'ok' : 'missing',
    version: SUITE,
    address: ref(img),
  })))
}

export function env() {
  const byTag = (/** @type {string} */ repo, /** @type {string} */ tag) => ref(IMAGES.find((i) => i.repo === repo && i.tag === tag))
  return {
    LAB_IMAGE_DEBIAN: byTag('gmi-lab/debian', SUITE),
    LAB_IMAGE_PYTHON_BUILD: byTag('gmi-lab/python', `3.11-${SUITE}`),
    LAB_IMAGE_PYTHON_RUNTIME: byTag('gmi-lab/python', `3.11-slim-${SUITE}`),
    LAB_IMAGE_POSTGRES: byTag('gmi-lab/postgres', `15-${SUITE}`),
    LAB_IMAGE_REDIS: byTag('gmi-lab/redis', `7-${SUITE}`),
  }
}
