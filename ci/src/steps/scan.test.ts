// The scan step against the lab: the lab's Trivy image and its offline DB (built from lab/trivy-db/fixtures), run by
// the lab's Dagger engine. No mocks: a fixture image carries a package with a CRITICAL advisory in that DB.
import { connection, dag, type Container, type Directory } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { describeBlocked, scan, scanGate, scanReports, type ScanOptions, type ScanResult, type ScanSources } from './scan.js'

/** These tests start real containers on a shared 2-core machine: give them room beyond the default. */
const LONG = 420_000

/** Runs fn inside one Dagger session and returns its result. */
async function inSession<T>(fn: () => Promise<T>): Promise<T> {
  let result: T | undefined
  await connection(async () => { result = await fn() })
  return result as T
}

const options = (extra: Partial<ScanOptions> = {}): ScanOptions => ({
  trivyImage: labVar('LAB_IMAGE_TRIVY'),
  dbRepository: labVar('LAB_TRIVY_DB_REPOSITORY'),
  ...extra,
})

const SITE = '/usr/local/lib/python3.11/dist-packages'
const distInfo = (name: string, version: string) =>
  [`${SITE}/${name.replace(/-/g, '_')}-${version}.dist-info/METADATA`, `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`] as const

/** The lab's Python runtime image plus two fixture distributions: one with a CRITICAL advisory, one with a MEDIUM one. */
const fixtureImage = (): Container => dag.container().from(labVar('LAB_IMAGE_PYTHON_RUNTIME'))
  .withNewFile(...distInfo('gmi-vulnerable-fixture', '1.0.0'))
  .withNewFile(...distInfo('gmi-medium-fixture', '1.5.0'))

/** A small service source tree whose Dockerfile passes the CRITICAL/HIGH checks. */
const cleanContext = (): Directory => dag.directory()
  .withNewFile('Dockerfile', 'FROM python:3.11-slim-bookworm\nCOPY app /app\nRUN useradd --uid 10001 app\nUSER 10001\nHEALTHCHECK CMD ["python3", "-c", "print(1)"]\nCMD ["python3", "/app/main.py"]\n')
  .withNewFile('app/main.py', 'print("hello")\n')

/** One tree as both what the misconfiguration scan and what the secret scan read. */
const both = (dir: Directory): ScanSources => ({ configs: dir, files: dir })

/** A GitHub token shaped secret, assembled at run time so that this file itself holds no secret. */
const plantedToken = ['ghp', '_', 'Zq8', 'x'.repeat(4), 'R2mT7kLw9VbN3cY6dH1fJ5pS0aE4uG8iKo'].join('')

/** Every file of the reports folder, by name. */
async function reportFiles(result: ScanResult): Promise<Record<string, string>> {
  const names = await result.reports.entries()
  const texts = await Promise.all(names.map((n) => result.reports.file(n).contents()))
  return Object.fromEntries(names.map((n, i) => [n, texts[i]]))
}

describe('scan (lab Trivy, offline fixture DB)', () => {
  it('blocks an image with a CRITICAL advisory and names package, CVE, severity and versions', async () => {
    const { result, files } = await inSession(async () => {
      const result = await scan(fixtureImage(), both(cleanContext()), options())
      return { result, files: await reportFiles(result) }
    })
    expect(result.passed).toBe(false)
    expect(result.blocked).toEqual([expect.objectContaining({
      package: 'gmi-vulnerable-fixture', id: 'CVE-2099-10001', severity: 'CRITICAL', installed: '1.0.0', fixed: '1.0.1',
    })])
    // the HIGH advisory only affects versions before 0.5.0; the MEDIUM one is reported, below the threshold
    expect(result.counts).toEqual({ CRITICAL: 1, MEDIUM: 1 })
    expect(result.misconfigurations).toEqual([])
    expect(result.secrets).toEqual([])
    const msg = describeBlocked('fixture', result)
    expect(msg).toContain('scan of fixture blocked: 1 vulnerability')
    expect(msg).toContain('gmi-vulnerable-fixture 1.0.0: CVE-2099-10001 (CRITICAL), fixed in 1.0.1')
    expect(msg).toContain('.trivyignore')
    expect(Object.keys(files).sort()).toEqual(['config.json', 'config.sarif', 'image.json', 'image.sarif', 'secrets.json', 'secrets.sarif'])
    expect(files['image.sarif']).toContain('CVE-2099-10001')
    expect(JSON.parse(files['image.sarif']).version).toBe('2.1.0')
  }, LONG)

  it('report-only returns the reports of a blocked scan with blocked.txt; the gate fails on the same scan', async () => {
    const { names, blocked, gate } = await inSession(async () => {
      const reports = await scanReports('fixture', fixtureImage(), both(cleanContext()), options())
      const gate = await scanGate('fixture', fixtureImage(), both(cleanContext()), options()).then(() => 'passed', (e: Error) => e.message)
      return { names: (await reports.entries()).sort(), blocked: await reports.file('blocked.txt').contents(), gate }
    })
    expect(names).toEqual(['blocked.txt', 'config.json', 'config.sarif', 'image.json', 'image.sarif', 'secrets.json', 'secrets.sarif'])
    expect(blocked).toContain('gmi-vulnerable-fixture 1.0.0: CVE-2099-10001 (CRITICAL), fixed in 1.0.1')
    expect(gate).toMatch(/^scan of fixture blocked: 1 vulnerability/)
  }, LONG)

  it('an ignore-file entry lets the image through', async () => {
    const result = await inSession(() => scan(fixtureImage(), both(cleanContext()), options({
      ignoreFile: dag.directory().withNewFile('.trivyignore', '# fixture package: never shipped, test-only\nCVE-2099-10001\n').file('.trivyignore'),
    })))
    expect(result.blocked).toEqual([])
    expect(result.passed).toBe(true)
    expect(describeBlocked('fixture', result)).toBe('')
  }, LONG)

  it('finds a secret planted in the source tree, and it blocks', async () => {
    const { result, files } = await inSession(async () => {
      const context = cleanContext().withNewFile('app/settings.py', `DEBUG = False\n\nGITHUB_TOKEN = "${plantedToken}"\n`)
      const result = await scan(fixtureImage(), both(context), options({ severity: 'CRITICAL' }))
      return { result, files: await reportFiles(result) }
    })
    expect(result.secrets).toEqual([expect.objectContaining({ rule: 'github-pat', file: 'app/settings.py:3' })])
    expect(result.passed).toBe(false)
    expect(describeBlocked('fixture', result)).toMatch(/app\/settings\.py:3: secret github-pat[\s\S]*remove each secret/)
    // Trivy masks the match: the reports carry where the secret is, not the secret
    for (const text of Object.values(files)) expect(text).not.toContain(plantedToken)
  }, LONG)

  it('a Dockerfile that runs as root is a HIGH misconfiguration', async () => {
    const result = await inSession(() => scan(fixtureImage(), both(dag.directory().withNewFile('Dockerfile', 'FROM python:3.11-slim-bookworm\nCMD ["python3"]\n')),
      options({ ignoreFile: dag.directory().withNewFile('.trivyignore', 'CVE-2099-10001\n').file('.trivyignore') })))
    expect(result.misconfigurations).toEqual([expect.objectContaining({ severity: 'HIGH', file: expect.stringContaining('Dockerfile') })])
    expect(result.passed).toBe(false)
  }, LONG)

  it('a DB repository that does not exist fails with one message saying the scan could not run', async () => {
    const missing = labVar('LAB_TRIVY_DB_REPOSITORY').replace(/:[^:/]+$/, ':no-such-tag')
    const attempt = inSession(() => scan(fixtureImage(), both(cleanContext()), options({ dbRepository: missing })))
    await expect(attempt).rejects.toThrow(/the scan could not run: trivy image failed: run error: [\s\S]*127\.0\.0\.1:5000\/gmi-lab\/trivy-db:no-such-tag[\s\S]*MANIFEST_UNKNOWN[\s\S]*→ check the Trivy image and the DB repository/)
  }, LONG)
})
