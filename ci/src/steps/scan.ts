// Step: scan an image for vulnerabilities, its build context for misconfigurations and secrets; JSON and SARIF
// reports, and the gate's decision (what blocks, and one message saying so).
import { dag, ExecError, type Container, type Directory, type File } from '@dagger.io/dagger'
import { PipelineError } from '../errors.js'
import { unalias } from '../adapters/loopback.js'
import { registryOf } from '../adapters/registry.js'
import * as trivy from '../adapters/trivy.js'
import { decide, describeGate, gateError, parseSeverities, passes, type Finding, type Misconfiguration, type SecretFinding } from '../plan/scan-gate.js'

export type { Finding, Misconfiguration, SecretFinding } from '../plan/scan-gate.js'

/** How to scan. */
export interface ScanOptions {
  /** Trivy image (online: the official image, pinned; the lab: LAB_IMAGE_TRIVY). */
  trivyImage: string
  /** Severities that block, comma-separated. Default CRITICAL,HIGH. */
  severity?: string
  /** The repository's .trivyignore, when it has one: findings listed there (with a reason) neither block nor appear. */
  ignoreFile?: File
  /** OCI repository of the vulnerability DB. Default: the official one (the lab: LAB_TRIVY_DB_REPOSITORY). */
  dbRepository?: string
  /** A new value lets Trivy look for a newer DB (it downloads only when its own is due). Default: today's date (UTC). */
  dbRefreshKey?: string
  /** Do not block on vulnerabilities that have no fixed version yet. Default false. */
  ignoreUnfixed?: boolean
}

/** What a scan reads beside the image. */
export interface ScanSources {
  /** The Dockerfile and the manifests: the misconfiguration scan (a code change leaves it cached). */
  configs: Directory
  /** Every file the service's build reads, its Dockerfile and the manifests: the secret scan. */
  files: Directory
}

/** What a scan found and decided. */
export interface ScanResult {
  /** image.json, image.sarif, config.json, config.sarif, secrets.json, secrets.sarif (every severity reported). */
  reports: Directory
  /** Vulnerabilities at or above the threshold (they block). */
  blocked: Finding[]
  /** Failed misconfiguration checks at or above the threshold (they block). */
  misconfigurations: Misconfiguration[]
  /** Secrets found in the context (any secret blocks). */
  secrets: SecretFinding[]
  /** Every vulnerability in the image, by severity, blocking or not. */
  counts: Record<string, number>
  /** True when nothing blocks. */
  passed: boolean
  /** The image's packages as CycloneDX JSON, from the same analysis. */
  sbom: File
  /** The severities that blocked. */
  threshold: string[]
  /** When the image scan started and finished (files holding one RFC 3339 time each). */
  started: File
  finished: File
}

/** A Trivy run that failed (not a finding: the scanner itself) as one message with Trivy's own last words. */
function scanFailure(err: unknown, dbRepository: string): Error {
  if (!(err instanceof ExecError)) return err instanceof Error ? err : new Error(String(err))
  const lines = (err.stderr || err.stdout).trim().split('\n').filter((l) => l.trim()).slice(-3)
  // Trivy's log prefix (time, level, "Fatal error") says nothing a reader needs
  const said = unalias(lines.map((l) => l.replace(/^\S+\s+FATAL\s+(Fatal error\s+)?/, '')).join('\n'), registryOf(dbRepository))
  return new PipelineError('the scan could not run', `trivy ${['image', 'config', 'fs'].find((c) => err.cmd.includes(c)) ?? ''} failed: ${said}`,
    'check the Trivy image and the DB repository options (an offline lab: `make lab-status`), then run the scan again')
}

/** Today's date (UTC): the default DB refresh key, so a cached scan is reused for at most a day. */
const today = (): string => new Date().toISOString().slice(0, 10)

/** Trivy with the DB the options name. */
const trivyWithDb = (opts: ScanOptions): Container => trivy.trivyWithDb(opts.trivyImage, {
  dbRepository: opts.dbRepository ?? trivy.DEFAULT_DB_REPOSITORY,
  dbRefreshKey: opts.dbRefreshKey ?? today(),
})

/** The vulnerability scan of an image (its reports and SBOM), with the DB the options name. */
export function imageScan(image: Container, opts: ScanOptions): trivy.ImageReport {
  return trivy.scanImage(trivyWithDb(opts), image, { ignoreFile: opts.ignoreFile, ignoreUnfixed: opts.ignoreUnfixed })
}

/** Trivy's version and its DB's (`trivy version --format json`), as the scans of these options see them. */
export const scannerVersion = (opts: ScanOptions): File => trivy.versionReport(trivyWithDb(opts))

/**
 * Scans `image` (vulnerabilities in OS and language packages) and its sources (misconfigurations of the Dockerfile
 * and manifests; secrets in every file). Reports keep every severity; the result says what blocks.
 */
export async function scan(image: Container, sources: ScanSources, opts: ScanOptions): Promise<ScanResult> {
  const threshold = parseSeverities(opts.severity ?? 'CRITICAL,HIGH')
  const plain = trivy.trivyContainer(opts.trivyImage)
  const run = { ignoreFile: opts.ignoreFile, ignoreUnfixed: opts.ignoreUnfixed }
  const vulnerabilities = imageScan(image, opts)
  const scans = {
    image: vulnerabilities,
    config: trivy.scanConfig(plain, sources.configs, run),
    secrets: trivy.scanSecrets(plain, sources.files, run),
  }
  let reports = dag.directory()
  for (const [name, report] of Object.entries(scans)) {
    reports = reports.withFile(`${name}.json`, report.json).withFile(`${name}.sarif`, report.sarif)
  }
  try {
    reports = await reports.sync()
  } catch (err) {
    throw scanFailure(err, opts.dbRepository ?? trivy.DEFAULT_DB_REPOSITORY)
  }
  const [imageJson, configJson, secretsJson] = await Promise.all(
    ['image', 'config', 'secrets'].map((n) => reports.file(`${n}.json`).contents()))
  const decision = decide({ image: imageJson, config: configJson, secrets: secretsJson }, threshold)
  return {
    reports, ...decision, passed: passes(decision), sbom: vulnerabilities.sbom, threshold,
    started: vulnerabilities.started, finished: vulnerabilities.finished,
  }
}

/**
 * One clear message for a blocked scan: each vulnerable package with its CVE, severity, installed and fixed version,
 * each failed check and secret, and what to do (upgrade, or list the ID in .trivyignore with a reason). Empty when
 * the scan passed.
 */
export function describeBlocked(service: string, result: ScanResult): string {
  return describeGate(service, result)
}

/** Scans a built image and its context; a blocked scan fails naming what blocks. */
export async function scanPassed(service: string, image: Container, sources: ScanSources, options: ScanOptions): Promise<ScanResult> {
  const result = await scan(image, sources, options)
  if (!result.passed) throw gateError(service, result)
  return result
}

/** Scans a built image and its context and returns the reports; a blocked scan fails naming what blocks. */
export async function scanGate(service: string, image: Container, sources: ScanSources, options: ScanOptions): Promise<Directory> {
  return (await scanPassed(service, image, sources, options)).reports
}

/**
 * Scans and returns the reports whatever they find (for an upload to code scanning, where findings become alerts);
 * what would have blocked is written beside them as blocked.txt and to the log.
 */
export async function scanReports(service: string, image: Container, sources: ScanSources, options: ScanOptions): Promise<Directory> {
  const result = await scan(image, sources, options)
  if (result.passed) return result.reports
  const blocked = describeBlocked(service, result)
  process.stderr.write(`${blocked}\n`)
  return result.reports.withNewFile('blocked.txt', `${blocked}\n`)
}
