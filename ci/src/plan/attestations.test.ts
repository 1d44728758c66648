import { describe, expect, it } from 'vitest'
import { ENVIRONMENTS } from '../config/environments.js'
import {
  ATTESTATION_TYPES, attestationFor, describeEvidence, evidenceSummary, junitSummary, policyViolations, provenancePredicate,
  scanPredicate, testPredicate, type ImageEvidence, type ScanVerdict,
} from './attestations.js'

const DIGEST = `sha256:${'a'.repeat(64)}`
const REF = `127.0.0.1:5001/graphmemory/api:abc@${DIGEST}`

const JUNIT = `<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4">
<testcase classname="tests.test_a" name="test_ok" time="0.1" />
<testcase classname="tests.test_a" name="test_ok_too" time="0.1"></testcase>
<testcase classname="tests.test_b" name="test_broken" time="0.1"><failure message="assert 2 == 3">boom</failure></testcase>
<testcase classname="tests.test_b" name="test_later" time="0.0"><skipped message="later" /></testcase>
</testsuite></testsuites>`

/** A DSSE envelope line as `cosign verify-attestation` prints it. */
const envelope = (predicateType: string, predicate: object, digest = DIGEST): string => JSON.stringify({
  payloadType: 'application/vnd.in-toto+json',
  payload: Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', predicateType, subject: [{ name: 'x', digest: { sha256: digest.replace('sha256:', '') } }], predicate })).toString('base64'),
  signatures: [{ keyid: '', sig: 'MEUCIQ' }],
})

const verdict = (o: Partial<ScanVerdict> = {}): ScanVerdict => ({ passed: true, threshold: ['CRITICAL', 'HIGH'], counts: { MEDIUM: 3, LOW: 7 }, blocked: [], ...o })

/** Evidence of an image that carries everything the gate makes. */
function complete(o: { scan?: Partial<ScanVerdict>; tests?: object } = {}): ImageEvidence {
  const scan = scanPredicate({ trivyVersion: '0.74.0', dbRepository: 'mirror/trivy-db:2', db: { Version: 2, UpdatedAt: '2026-12-01T00:00:00Z' }, verdict: verdict(o.scan), startedOn: '2026-12-05T01:00:00Z', finishedOn: '2026-12-05T01:00:09Z' })
  return {
    name: 'graphmemory/api', ref: REF, missing: {},
    attestations: {
      sbom: { kind: 'sbom', predicate: { bomFormat: 'CycloneDX', components: [{ name: 'fastapi' }, { name: 'uvicorn' }] } },
      scan: { kind: 'scan', predicate: scan as Record<string, unknown> },
      provenance: { kind: 'provenance', predicate: provenancePredicate({ service: 'api', commit: 'c0ffee', builder: { id: 'pipeline', version: 'v1' }, inputs: {} }) as Record<string, unknown> },
      tests: { kind: 'tests', predicate: (o.tests ?? testPredicate('api', junitSummary(JUNIT.replace('failures="1"', 'failures="0"').replace(/<failure[^<]*<\/failure>/, '')))) as Record<string, unknown> },
    },
  }
}

describe('attestation predicates', () => {
  it('reads a JUnit report: totals and which tests passed or failed (skipped ones neither)', () => {
    const j = junitSummary(JUNIT)
    expect(j).toMatchObject({ tests: 4, failures: 1, errors: 0, skipped: 1 })
    expect(j.passed).toEqual(['tests.test_a::test_ok', 'tests.test_a::test_ok_too'])
    expect(j.failed).toEqual(['tests.test_b::test_broken'])
    expect(() => junitSummary('<html/>')).toThrow(/not JUnit XML/)
  })

  it('a suite with a failure, or with no tests at all, is not PASSED', () => {
    expect(testPredicate('api', junitSummary(JUNIT))).toMatchObject({ result: 'FAILED', failedTests: ['tests.test_b::test_broken'] })
    expect(testPredicate('api', junitSummary('<testsuite tests="0" failures="0"></testsuite>'))).toMatchObject({ result: 'FAILED' })
  })

  it('provenance names the commit, the builder and each input by digest', () => {
    const p = provenancePredicate({ service: 'api', commit: 'abc', builder: { id: 'b', version: '1' }, inputs: { base: `img@${DIGEST}`, ctx: 'no-digest' } }) as {
      buildDefinition: { externalParameters: object; resolvedDependencies: object[] }; runDetails: { builder: { id: string } }
    }
    expect(p.buildDefinition.externalParameters).toEqual({ service: 'api', source: { commit: 'abc' } })
    expect(p.buildDefinition.resolvedDependencies).toEqual([{ name: 'base', uri: 'img', digest: { sha256: 'a'.repeat(64) } }, { name: 'ctx', uri: 'no-digest' }])
    expect(p.runDetails.builder.id).toBe('b')
  })

  it('finds the statement of a kind about exactly this digest', () => {
    const out = [envelope(ATTESTATION_TYPES.tests.predicateType, { result: 'PASSED' }, `sha256:${'b'.repeat(64)}`),
      envelope(ATTESTATION_TYPES.scan.predicateType, { n: 1 }), 'Verification for ... --', ''].join('\n')
    expect(attestationFor('scan', DIGEST, out)?.predicate).toEqual({ n: 1 })
    expect(attestationFor('tests', DIGEST, out)).toBeUndefined() // about another digest
  })
})

describe('release policy', () => {
  const prod = ENVIRONMENTS.prod.policy
  const dev = ENVIRONMENTS.dev.policy

  it('admits an image that carries everything, in every environment', () => {
    expect(policyViolations(complete(), prod)).toEqual([])
    expect(policyViolations(complete(), dev)).toEqual([])
  })

  it('refuses an unsigned image, naming only that', () => {
    expect(policyViolations({ ...complete(), signatureError: 'no signatures found' }, dev)).toEqual(["not signed by the pipeline's key (no signatures found)"])
  })

  it('refuses an image lacking a required attestation, with what cosign said', () => {
    const e = complete()
    delete e.attestations.scan
    e.missing.scan = 'none of the attestations matched the predicate type'
    expect(policyViolations(e, prod)).toEqual(["no scan attestation signed by the pipeline's key (none of the attestations matched the predicate type)"])
    delete e.attestations.sbom
    expect(policyViolations(e, dev)).toHaveLength(1) // dev does not ask for an SBOM
    expect(policyViolations(e, prod)).toHaveLength(2)
  })

  it('refuses a failed scan, and a scan too lenient for the environment (prod blocks HIGH; dev only CRITICAL)', () => {
    expect(policyViolations(complete({ scan: { passed: false, blocked: ['CVE-2026-1'] } }), dev)).toEqual(['its scan did not pass (blocked: CVE-2026-1)'])
    const lenient = complete({ scan: { threshold: ['CRITICAL'] } })
    expect(policyViolations(lenient, dev)).toEqual([])
    expect(policyViolations(lenient, prod)).toEqual(['its scan let HIGH through (threshold CRITICAL; this environment blocks CRITICAL,HIGH)'])
  })

  it('refuses failed tests, naming them', () => {
    const e = complete({ tests: testPredicate('api', junitSummary(JUNIT)) })
    expect(policyViolations(e, dev)).toEqual(['its tests did not pass (tests.test_b::test_broken)'])
  })

  it('prod asks for more than dev', () => {
    expect(prod.attestations.length).toBeGreaterThan(dev.attestations.length)
    expect(prod.scanBlocks).toContain('HIGH')
    expect(ENVIRONMENTS.staging.policy).toEqual(prod)
  })

  it('describes what an image carries, for people and as JSON', () => {
    const text = describeEvidence(complete())
    expect(text).toMatch(/sbom: 2 packages/)
    expect(text).toMatch(/scan: passed at CRITICAL,HIGH \(3 MEDIUM, 7 LOW\b.*DB v2 updated 2026-12-01/)
    expect(text).toMatch(/tests: PASSED \(3 passed\)/)
    expect(text).toMatch(/provenance: commit c0ffee by pipeline/)
    expect(describeEvidence({ ...complete(), signatureError: 'x' })).toMatch(/signature: NONE/)
    expect(evidenceSummary(complete({ scan: { passed: false } }), prod)).toMatchObject({ signed: true, sbomPackages: 2, provenanceCommit: 'c0ffee', violations: [expect.stringMatching(/did not pass/)] })
  })
})
