// Step: what the gate proved about an image travels with its digest — a signature and signed in-toto attestations
// (CycloneDX SBOM, Trivy scan, SLSA provenance, test results) — and the check that deploy, promote and rollback run
// on every image of a release before anything is applied.
import { dag, type File, type Secret } from '@dagger.io/dagger'
import { attestImage, classicTags, cosignFailure, inspectImage, type Predicate } from '../adapters/cosign.js'
import { imageExists, registryOf, type RegistryAuth } from '../adapters/registry.js'
import { SERVICES } from '../config/services.js'
import { PipelineError } from '../errors.js'
import {
  ATTESTATION_KINDS, ATTESTATION_TYPES, attestationFor, describeEvidence, junitSummary, policyViolations, provenancePredicate,
  scanPredicate, testPredicate, type AttestationKind, type BuildInputs, type ImageEvidence, type ReleasePolicy,
} from '../plan/attestations.js'
import type { ScanResult } from './scan.js'

/** How images are signed: a cosign private key and its password (Secrets), and the cosign image. */
export interface Signing {
  key: Secret
  password: Secret
  cosignImage: string
}

/** What the gate produced for one image: the scan it passed, the tests it passed, its SBOM and its build's inputs. */
export interface GateEvidence {
  scan: ScanResult
  /** `trivy version --format json` of the scanner that judged it (its version and its DB's). */
  scannerVersion: File
  dbRepository: string
  junit: File
  build: BuildInputs
}

const jsonFile = (name: string, value: object): File => dag.directory().withNewFile(name, `${JSON.stringify(value, null, 2)}\n`).file(name)

/** The four predicates of an image, as files, by kind. */
async function predicates(e: GateEvidence): Promise<Record<AttestationKind, File>> {
  const [version, started, finished, junit] = await Promise.all([e.scannerVersion, e.scan.started, e.scan.finished, e.junit].map((f) => f.contents()))
  const trivy = JSON.parse(version) as { Version?: string; VulnerabilityDB?: Record<string, unknown> }
  const verdict = {
    passed: e.scan.passed, threshold: e.scan.threshold, counts: e.scan.counts,
    blocked: [...e.scan.blocked.map((f) => f.id), ...e.scan.misconfigurations.map((m) => m.id), ...e.scan.secrets.map((s) => s.rule)],
  }
  return {
    sbom: e.scan.sbom,
    scan: jsonFile('scan.json', scanPredicate({
      trivyVersion: trivy.Version ?? 'unknown', dbRepository: e.dbRepository, db: trivy.VulnerabilityDB ?? {}, verdict,
      startedOn: started.trim(), finishedOn: finished.trim(),
    })),
    provenance: jsonFile('provenance.json', provenancePredicate(e.build)),
    tests: jsonFile('tests.json', testPredicate(e.build.service, junitSummary(junit))),
  }
}

/**
 * Signs the published image `ref` (by digest) and attaches its four attestations, each signed with the same key.
 * When the registry already holds a signature and attestations for the digest, the engine answers the unchanged
 * work from its cache: a rerun of an unchanged commit pushes nothing.
 */
export async function attest(ref: string, evidence: GateEvidence, signing: Signing, auth?: RegistryAuth): Promise<string> {
  const tags = classicTags(ref)
  const [files, signed, attested] = await Promise.all([predicates(evidence), imageExists(tags.signature, auth), imageExists(tags.attestations, auth)])
  const list: Predicate[] = ATTESTATION_KINDS.map((kind) => ({ cosignType: ATTESTATION_TYPES[kind].cosignType, file: files[kind] }))
  // signing again adds a signature of the same payload, and --replace keeps one attestation of each type
  return attestImage(signing.cosignImage, ref, signing.key, signing.password, list, auth, signed && attested)
    .catch((err: unknown) => { throw attestFailure(ref, err) })
}

/** A failed signing run as one message: what cosign said last (it was an exit code alone before). */
function attestFailure(ref: string, err: unknown): unknown {
  const said = cosignFailure(err, ref)
  if (said === undefined) return err
  return new PipelineError(`signing and attesting ${ref} failed`, `cosign: ${said}`,
    `check that ${registryOf(ref)} answers and accepts pushes with the credentials given, then run the pipeline again`)
}

/** Logical names of the images the pipeline builds (graphmemory/api, ...): the ones that must be signed. */
const OURS = new Set(SERVICES.map((s) => s.image))

/** What the verification of a release found: each image's evidence, and the reasons each may not be deployed. */
export interface ReleaseVerification {
  evidence: ImageEvidence[]
  /** Image name → why it may not run in the environment (absent: it may). */
  refused: Record<string, string[]>
  /** Third-party images checked only for existing in their registry. */
  pinned: string[]
}

/** How to verify: the pipeline's public key, the cosign image, registry credentials for the pipeline's images. */
export interface VerifyOptions {
  publicKey: File
  cosignImage: string
  auth?: RegistryAuth
}

/**
 * Checks one of the pipeline's images: its signature, and every attestation kind.
 */
async function inspect(name: string, ref: string, opts: VerifyOptions): Promise<ImageEvidence> {
  const types = ATTESTATION_KINDS.map((k) => ATTESTATION_TYPES[k].cosignType)
  const seen = await inspectImage(opts.cosignImage, ref, opts.publicKey, types, opts.auth) // never from the cache
  const digest = ref.slice(ref.lastIndexOf('@') + 1)
  const evidence: ImageEvidence = { name, ref, attestations: {}, missing: {} }
  if (!seen.signature.ok) evidence.signatureError = seen.signature.output || 'cosign found no signature'
  for (const kind of ATTESTATION_KINDS) {
    const got = seen.attestations[ATTESTATION_TYPES[kind].cosignType]
    const found = got.ok ? attestationFor(kind, digest, got.output) : undefined
    if (found) evidence.attestations[kind] = found
    else evidence.missing[kind] = got.ok ? 'its statement names another digest' : got.output
  }
  return evidence
}

/**
 * Verifies every image of a release under an environment's policy: each must exist in its registry; the pipeline's
 * own images must also be signed by its key and carry the attestations the policy asks for (scan passed at the
 * policy's threshold, tests passed). Returns what was found; see `assertVerified` for the refusal.
 */
export async function verifyRelease(images: Record<string, string>, policy: ReleasePolicy, opts: VerifyOptions): Promise<ReleaseVerification> {
  const entries = Object.entries(images)
  const exists = await Promise.all(entries.map(([, ref]) => imageExists(ref, opts.auth)))
  const refused: Record<string, string[]> = {}
  entries.forEach(([name, ref], i) => { if (!exists[i]) refused[name] = [`${ref} does not exist in ${registryOf(ref)}`] })
  const ours = entries.filter(([name], i) => OURS.has(name) && exists[i])
  const evidence = await Promise.all(ours.map(([name, ref]) => inspect(name, ref, opts)))
  for (const e of evidence) {
    const reasons = policyViolations(e, policy)
    if (reasons.length) refused[e.name] = reasons
  }
  return { evidence, refused, pinned: entries.filter(([name]) => !OURS.has(name)).map(([name]) => name) }
}

/** Fails naming every image that may not run in `env` and why; returns one line saying what was verified. */
export function assertVerified(v: ReleaseVerification, env: string, policy: ReleasePolicy): string {
  const names = Object.keys(v.refused)
  if (names.length) {
    const lines = names.map((n) => `${n}: ${v.refused[n].join('; ')}`)
    throw new PipelineError(`${env} refuses ${names.length === 1 ? names[0] : `${names.length} images`}: nothing was applied`, lines.join('\n  '),
      `deploy images that passed \`ci\` with the pipeline's signing key (it signs and attests what it publishes), or deploy from source; \`verify --images ...\` shows what an image carries`)
  }
  return `verified for ${env}: ${v.evidence.length} pipeline image${v.evidence.length === 1 ? '' : 's'} signed with ${policy.attestations.join(', ')} attestations; ${v.pinned.length} pinned image${v.pinned.length === 1 ? '' : 's'} present by digest`
}

/** The human report of a verification: per image what it carries, then the verdict. */
export function describeVerification(v: ReleaseVerification, env: string): string {
  const refusedPinned = v.pinned.filter((n) => v.refused[n]).map((n) => `${n}: ${v.refused[n].join('; ')}`)
  const verdict = Object.keys(v.refused).length ? `REFUSED for ${env}: ${Object.keys(v.refused).join(', ')}` : `ok for ${env}`
  return [...v.evidence.map(describeEvidence), ...refusedPinned, verdict].join('\n')
}
