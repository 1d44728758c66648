// Pure decisions about attestations: the in-toto predicates the gate signs onto every published digest (SBOM, scan,
// provenance, tests), and the policy check that deploy, promote and rollback run on what an image carries. No I/O.
import { PipelineError } from '../errors.js'
import { SEVERITIES, type Severity } from './scan-gate.js'

/** The attestations the gate makes, by the name a policy uses. */
export const ATTESTATION_KINDS = ['sbom', 'scan', 'provenance', 'tests'] as const
export type AttestationKind = (typeof ATTESTATION_KINDS)[number]

/** Each kind's `cosign attest --type` and the predicate type it records in the statement. */
export const ATTESTATION_TYPES: Record<AttestationKind, { cosignType: string; predicateType: string }> = {
  sbom: { cosignType: 'cyclonedx', predicateType: 'https://cyclonedx.org/bom' },
  scan: { cosignType: 'vuln', predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1' },
  provenance: { cosignType: 'slsaprovenance1', predicateType: 'https://slsa.dev/provenance/v1' },
  tests: { cosignType: 'https://in-toto.io/attestation/test-result/v0.1', predicateType: 'https://in-toto.io/attestation/test-result/v0.1' },
}

/** What an environment demands of the images it runs: a signature by the pipeline's key, and these attestations. */
export interface ReleasePolicy {
  /** Attestations each of the pipeline's images must carry, signed by the same key. */
  readonly attestations: readonly AttestationKind[]
  /** Severities the scan must have blocked on: a scan that let one of them through does not pass. */
  readonly scanBlocks: readonly Severity[]
}

/** What the scan attestation says (the `result` of cosign's vuln predicate). */
export interface ScanVerdict {
  passed: boolean
  /** The severities that blocked when this scan ran. */
  threshold: string[]
  /** Vulnerabilities found, by severity (blocking or not). */
  counts: Record<string, number>
  /** IDs of what blocked (empty when it passed). */
  blocked: string[]
}

/** Trivy's vulnerability DB, as its metadata.json describes it. */
export interface DbMetadata {
  Version?: number
  UpdatedAt?: string
  NextUpdate?: string
}

/** cosign's vuln predicate for a Trivy scan: scanner, DB version and time, the threshold and the verdict. */
export function scanPredicate(o: {
  trivyVersion: string; dbRepository: string; db: DbMetadata; verdict: ScanVerdict; startedOn: string; finishedOn: string
}): object {
  return {
    invocation: { parameters: { severity: o.verdict.threshold.join(',') }, uri: '', event_id: '', 'builder.id': 'graphmemory-ide pipeline' },
    scanner: {
      uri: `pkg:golang/github.com/aquasecurity/trivy@${o.trivyVersion}`, version: o.trivyVersion,
      db: { uri: o.dbRepository, version: `v${o.db.Version ?? '?'} updated ${o.db.UpdatedAt ?? 'unknown'}` },
      result: o.verdict,
    },
    metadata: { scanStartedOn: o.startedOn, scanFinishedOn: o.finishedOn },
  }
}

/** The counts and test names of a JUnit report (pytest's xunit2). */
export interface JunitSummary {
  tests: number
  failures: number
  errors: number
  skipped: number
  passed: string[]
  failed: string[]
}

const attr = (tag: string, name: string): number => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(tag)?.[1] ?? 0)

/** Reads the totals and the test names of a JUnit XML report. */
export function junitSummary(xml: string): JunitSummary {
  const suites = [...xml.matchAll(/<testsuite\b[^>]*>/g)].map((m) => m[0])
  if (!suites.length) throw new PipelineError('the test report is not JUnit XML', 'it has no <testsuite> element', 'run the test step again; it writes the report')
  const sum = (name: string) => suites.reduce((n, s) => n + attr(s, name), 0)
  const passed: string[] = []
  const failed: string[] = []
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const name = `${/classname="([^"]*)"/.exec(m[1])?.[1] ?? ''}::${/\bname="([^"]*)"/.exec(m[1])?.[1] ?? ''}`
    const body = m[3] ?? ''
    if (/<(failure|error)\b/.test(body)) failed.push(name)
    else if (!/<skipped\b/.test(body)) passed.push(name)
  }
  return { tests: sum('tests'), failures: sum('failures'), errors: sum('errors'), skipped: sum('skipped'), passed, failed }
}

/** The in-toto test-result predicate of a suite run. */
export function testPredicate(service: string, junit: JunitSummary): object {
  return {
    result: junit.failures + junit.errors === 0 && junit.tests > 0 ? 'PASSED' : 'FAILED',
    configuration: [{ name: `services/${service}/tests`, annotations: { runner: 'pytest', tests: junit.tests, skipped: junit.skipped } }],
    passedTests: junit.passed, warnedTests: [], failedTests: junit.failed,
  }
}

/** What a build was made from. */
export interface BuildInputs {
  service: string
  /** The commit built (empty: unknown). */
  commit: string
  /** The pipeline module's name and version. */
  builder: { id: string; version: string }
  /** Logical input → reference (base images by digest, the Dockerfile, the source folders' digests). */
  inputs: Record<string, string>
}

/** SLSA v1 provenance of a service image: the builder, the source commit and every input of the build. */
export function provenancePredicate(b: BuildInputs): object {
  return {
    buildDefinition: {
      buildType: 'https://graphmemory.dev/dagger-pipeline/build/v1',
      externalParameters: { service: b.service, source: { commit: b.commit || 'unknown' } },
      internalParameters: {},
      resolvedDependencies: Object.entries(b.inputs).map(([name, ref]) => {
        const [uri, digest] = ref.split('@sha256:')
        return digest ? { name, uri, digest: { sha256: digest } } : { name, uri: ref }
      }),
    },
    runDetails: { builder: { id: b.builder.id, version: { module: b.builder.version } }, metadata: {} },
  }
}

/** One attestation as verified on an image: its kind and its predicate. */
export interface VerifiedAttestation {
  kind: AttestationKind
  predicate: Record<string, unknown>
}

/** What verification found on one image: the signature, and each attestation kind that verified (or why not). */
export interface ImageEvidence {
  name: string
  ref: string
  /** Undefined when a signature verified; otherwise what cosign said. */
  signatureError?: string
  attestations: Partial<Record<AttestationKind, VerifiedAttestation>>
  /** Kinds that were asked for and did not verify, with what cosign said. */
  missing: Partial<Record<AttestationKind, string>>
}

/** Reads the in-toto statements out of `cosign verify-attestation` output (one DSSE envelope per line). */
export function statementsOf(output: string): Array<{ predicateType: string; subject: Array<{ digest: Record<string, string> }>; predicate: Record<string, unknown> }> {
  return output.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => {
    const envelope = JSON.parse(l) as { payload: string }
    return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'))
  })
}

/** The newest statement of a kind about exactly `digest` (sha256:...), or undefined. */
export function attestationFor(kind: AttestationKind, digest: string, output: string): VerifiedAttestation | undefined {
  const hex = digest.replace(/^sha256:/, '')
  const found = statementsOf(output).filter((s) => s.predicateType === ATTESTATION_TYPES[kind].predicateType
    && s.subject.some((x) => x.digest.sha256 === hex))
  const last = found.at(-1)
  return last && { kind, predicate: last.predicate }
}

const scanResultOf = (a?: VerifiedAttestation): ScanVerdict | undefined =>
  (a?.predicate.scanner as { result?: ScanVerdict } | undefined)?.result

/**
 * What keeps an image out of an environment under `policy`, one reason per line (empty: it may be deployed): no
 * signature by the pipeline's key, a required attestation missing, a scan that did not pass or that let one of the
 * policy's severities through, tests that did not pass.
 */
export function policyViolations(e: ImageEvidence, policy: ReleasePolicy): string[] {
  if (e.signatureError !== undefined) return [`not signed by the pipeline's key (${e.signatureError})`]
  const reasons: string[] = []
  for (const kind of policy.attestations) {
    if (!e.attestations[kind]) reasons.push(`no ${kind} attestation signed by the pipeline's key${e.missing[kind] ? ` (${e.missing[kind]})` : ''}`)
  }
  const scan = scanResultOf(e.attestations.scan)
  if (policy.attestations.includes('scan') && scan) {
    if (!scan.passed) reasons.push(`its scan did not pass (blocked: ${scan.blocked.join(', ') || 'see the scan report'})`)
    const lenient = policy.scanBlocks.filter((s) => !scan.threshold.includes(s))
    if (lenient.length) reasons.push(`its scan let ${lenient.join(', ')} through (threshold ${scan.threshold.join(',')}; this environment blocks ${policy.scanBlocks.join(',')})`)
  }
  const tests = e.attestations.tests?.predicate as { result?: string; failedTests?: string[] } | undefined
  if (policy.attestations.includes('tests') && tests && tests.result !== 'PASSED') {
    reasons.push(`its tests did not pass (${tests.failedTests?.slice(0, 3).join(', ') || tests.result})`)
  }
  return reasons
}

/** One line per image for people: signer, SBOM package count, scan summary, tested, provenance commit. */
export function describeEvidence(e: ImageEvidence): string {
  if (e.signatureError !== undefined) return `${e.name}: ${e.ref}\n  signature: NONE by the pipeline's key (${e.signatureError})`
  const bom = e.attestations.sbom?.predicate as { components?: unknown[] } | undefined
  const scan = scanResultOf(e.attestations.scan)
  const db = (e.attestations.scan?.predicate.scanner as { db?: { version?: string } } | undefined)?.db?.version
  const tests = e.attestations.tests?.predicate as { result?: string; passedTests?: string[] } | undefined
  const prov = e.attestations.provenance?.predicate as { buildDefinition?: { externalParameters?: { source?: { commit?: string } } }; runDetails?: { builder?: { id?: string } } } | undefined
  const counts = scan && [...SEVERITIES].reverse().filter((s) => scan.counts[s]).map((s) => `${scan.counts[s]} ${s}`).join(', ')
  return [
    `${e.name}: ${e.ref}`,
    '  signature: verified with the pipeline\'s public key',
    `  sbom: ${bom ? `${bom.components?.length ?? 0} packages` : 'none'}`,
    `  scan: ${scan ? `${scan.passed ? 'passed' : 'FAILED'} at ${scan.threshold.join(',')} (${counts || 'no vulnerabilities'}; DB ${db ?? '?'})` : 'none'}`,
    `  tests: ${tests ? `${tests.result} (${tests.passedTests?.length ?? 0} passed)` : 'none'}`,
    `  provenance: ${prov ? `commit ${prov.buildDefinition?.externalParameters?.source?.commit ?? '?'} by ${prov.runDetails?.builder?.id ?? '?'}` : 'none'}`,
  ].join('\n')
}

/** The JSON form of what an image carries (predicates summarised, not copied). */
export function evidenceSummary(e: ImageEvidence, policy: ReleasePolicy): object {
  const scan = scanResultOf(e.attestations.scan)
  const bom = e.attestations.sbom?.predicate as { components?: unknown[] } | undefined
  const tests = e.attestations.tests?.predicate as { result?: string; passedTests?: string[] } | undefined
  const prov = e.attestations.provenance?.predicate as { buildDefinition?: { externalParameters?: { source?: { commit?: string } } } } | undefined
  return {
    name: e.name, ref: e.ref, signed: e.signatureError === undefined,
    sbomPackages: bom ? bom.components?.length ?? 0 : null,
    scan: scan ?? null, tests: tests ? { result: tests.result, passed: tests.passedTests?.length ?? 0 } : null,
    provenanceCommit: prov?.buildDefinition?.externalParameters?.source?.commit ?? null,
    violations: policyViolations(e, policy),
  }
}
