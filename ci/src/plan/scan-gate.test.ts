// The scan gate's pure decisions, on Trivy JSON shaped like the reports the lab's scans write.
import { describe, expect, it } from 'vitest'
import { decide, describeGate, parseSeverities, passes } from './scan-gate.js'

const image = JSON.stringify({
  Results: [
    { Target: 'debian 12.13', Vulnerabilities: [{ VulnerabilityID: 'CVE-2099-1', PkgName: 'libfoo', InstalledVersion: '1.0-1', FixedVersion: '1.0-2', Severity: 'HIGH', Title: 'overflow' }] },
    { Target: 'Python', Vulnerabilities: [
      { VulnerabilityID: 'CVE-2099-10001', PkgName: 'gmi-vulnerable-fixture', InstalledVersion: '1.0.0', FixedVersion: '1.0.1', Severity: 'CRITICAL', Title: 'Remote code execution' },
      { VulnerabilityID: 'CVE-2099-10003', PkgName: 'gmi-medium-fixture', InstalledVersion: '1.5.0', FixedVersion: '2.0.0', Severity: 'MEDIUM' },
    ] },
  ],
})
const config = JSON.stringify({
  Results: [{ Target: 'Dockerfile', Misconfigurations: [
    { ID: 'DS-0002', Status: 'FAIL', Severity: 'HIGH', Title: 'Image user should not be root', Message: 'Specify at least 1 USER command', CauseMetadata: {} },
    { ID: 'DS-0026', Status: 'FAIL', Severity: 'LOW', Title: 'No HEALTHCHECK defined', Message: 'Add HEALTHCHECK' },
  ] }],
})
const secrets = JSON.stringify({ Results: [{ Target: 'app/settings.py', Secrets: [{ RuleID: 'github-pat', Severity: 'CRITICAL', Title: 'GitHub Personal Access Token', StartLine: 3 }] }] })
const empty = JSON.stringify({ SchemaVersion: 2 })

describe('scan gate', () => {
  it('blocks vulnerabilities and failed checks at the threshold, and every secret', () => {
    const d = decide({ image, config, secrets }, parseSeverities('CRITICAL,HIGH'))
    expect(d.blocked.map((f) => f.id)).toEqual(['CVE-2099-1', 'CVE-2099-10001'])
    expect(d.misconfigurations.map((m) => m.id)).toEqual(['DS-0002'])
    expect(d.secrets).toEqual([{ rule: 'github-pat', severity: 'CRITICAL', title: 'GitHub Personal Access Token', file: 'app/settings.py:3' }])
    expect(d.counts).toEqual({ HIGH: 1, CRITICAL: 1, MEDIUM: 1 })
    expect(passes(d)).toBe(false)
  })

  it('passes when nothing reaches the threshold', () => {
    const d = decide({ image, config: empty, secrets: empty }, parseSeverities('critical'))
    expect(d.blocked.map((f) => f.package)).toEqual(['gmi-vulnerable-fixture'])
    expect(passes(decide({ image: empty, config: empty, secrets: empty }, ['CRITICAL']))).toBe(true)
  })

  it('one message names package, CVE, severity, installed and fixed version, and what to do', () => {
    const msg = describeGate('api', decide({ image, config, secrets }, ['CRITICAL']))
    expect(msg).toContain('scan of api blocked: 1 vulnerability, 1 secret')
    expect(msg).toContain('gmi-vulnerable-fixture 1.0.0: CVE-2099-10001 (CRITICAL), fixed in 1.0.1')
    expect(msg).toContain('app/settings.py:3: secret github-pat')
    expect(msg).toMatch(/upgrade .* \.trivyignore with a comment saying why/)
    expect(describeGate('api', decide({ image: empty, config: empty, secrets: empty }, ['CRITICAL']))).toBe('')
  })

  it('an unknown severity fails listing the valid ones', () => {
    expect(() => parseSeverities('CRITICAL,SEVERE')).toThrow(/unknown: SEVERE[\s\S]*UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL/)
  })
})
