// The edge to Trivy: a Trivy container (image from configuration, vulnerability DB in a cache volume) and thin
// runners that write Trivy's own reports. No policy here: what blocks is decided by the scan step.
import { CacheSharingMode, dag, ImageLayerCompression, type Container, type Directory, type File } from '@dagger.io/dagger'
import { reachRegistry, rehost } from './loopback.js'
import { registryOf } from './registry.js'

/** The official vulnerability DB repository (online default; the lab passes LAB_TRIVY_DB_REPOSITORY). */
export const DEFAULT_DB_REPOSITORY = 'mirror.gcr.io/aquasec/trivy-db:2'

/** Where the cache volume (vulnerability DB) is mounted. */
const CACHE_DIR = '/cache/trivy'
/** A copy of the DB's metadata.json outside the volume: scans depend on its content, so a new DB means a new scan. */
const DB_STAMP = '/etc/trivy-db.metadata.json'

/** Flags of every scan: no network (the DB is already in the cache volume), no update or telemetry calls. */
const OFFLINE = [
  '--cache-dir', CACHE_DIR, '--cache-backend', 'fs', '--skip-db-update', '--skip-java-db-update', '--offline-scan',
  '--skip-version-check', '--disable-telemetry', '--no-progress', '--quiet',
]
/** Flags of scans that need no vulnerability DB (misconfiguration, secrets, SBOM); `trivy config` has no --no-progress. */
const NO_DB = ['--cache-dir', '/tmp/trivy', '--skip-version-check', '--disable-telemetry', '--quiet']

/** How the vulnerability DB is obtained. */
export interface TrivyDbOptions {
  /** OCI repository of the vulnerability DB (with its tag). */
  dbRepository: string
  /**
   * Any value; a new one makes Trivy look at the DB repository again. Trivy itself only downloads a DB when its
   * own is due (the DB's NextUpdate), so the same key reuses the cached DB and the cached scans.
   */
  dbRefreshKey: string
}

/** Options every runner takes. */
export interface RunOptions {
  /** Severities to report, comma-separated (UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL). */
  severity?: string
  /** A .trivyignore file: findings listed there are left out of the report. */
  ignoreFile?: File
  /** Leave out vulnerabilities that have no fixed version yet. */
  ignoreUnfixed?: boolean
}

/** The cache volume of a DB repository: one per tool and repository, e.g. trivy-db-mirror.gcr.io-aquasec-trivy-db-2. */
export function dbVolumeName(dbRepository: string): string {
  return `trivy-db-${dbRepository.replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-|-$/g, '')}`
}

/** A plain Trivy container (no DB): for the scans that need none. */
export function trivyContainer(image: string): Container {
  return dag.container().from(image).withEnvVariable('TRIVY_NO_PROGRESS', 'true')
}

/**
 * A Trivy container holding the vulnerability DB: the DB repository's DB is downloaded into the cache volume when
 * Trivy finds its own missing or due; a loopback repository (the lab's mirror) is reached through a host tunnel.
 */
export function trivyWithDb(image: string, db: TrivyDbOptions): Container {
  const base = trivyContainer(image).withMountedCache(CACHE_DIR, dag.cacheVolume(dbVolumeName(db.dbRepository)))
  const registry = registryOf(db.dbRepository)
  const reached = reachRegistry(base, registry)
  const fetched = reached.container
    .withEnvVariable('GMI_TRIVY_DB_REFRESH', db.dbRefreshKey)
    .withExec([
      'trivy', 'image', '--download-db-only', '--db-repository', rehost(db.dbRepository, registry, reached.host),
      '--cache-dir', CACHE_DIR, '--skip-version-check', '--disable-telemetry', '--no-progress', '--quiet',
      ...(reached.viaHost ? ['--insecure'] : []),
    ])
    .withExec(['cp', `${CACHE_DIR}/db/metadata.json`, DB_STAMP])
  return base.withFile(DB_STAMP, fetched.file(DB_STAMP))
}

/**
 * Trivy's analysis of image layers, kept between runs in a cache volume (mounted where Trivy's fs cache lives under
 * its cache dir): a layer already analysed (the base image, the venv) is not read again, so a code change costs the
 * analysis of the code's layer only. Private: concurrent scans each get a copy rather than waiting on Trivy's lock.
 */
function withLayerCache(c: Container): Container {
  return c.withMountedCache(`${CACHE_DIR}/fanal`, dag.cacheVolume('trivy-layers'), { sharing: CacheSharingMode.Private })
}

/**
 * An image as Trivy reads it: an OCI tarball with uncompressed layers (compressing a few hundred megabytes only for
 * Trivy to decompress them again cost seconds per scan).
 */
const imageTarball = (image: Container): File => image.asTarball({ forcedCompression: ImageLayerCompression.Uncompressed })

/** Where runners write their reports: a folder made empty for each run. */
const OUT_DIR = '/tmp/gmi-trivy-out'
const OUT = `${OUT_DIR}/report.json`

/** A scan's reports: Trivy's JSON, and the same findings as SARIF. */
export interface Report {
  json: File
  sarif: File
}

/** Report flags: JSON output, severity, ignore file. */
function reportArgs(opts: RunOptions): string[] {
  return [
    '--format', 'json', '--output', OUT,
    ...(opts.severity ? ['--severity', opts.severity] : []),
    ...(opts.ignoreFile ? ['--ignorefile', '/in/.trivyignore'] : []),
    ...(opts.ignoreUnfixed ? ['--ignore-unfixed'] : []),
  ]
}

/** The container a runner starts from: an empty output folder, the ignore file when given. */
function prepared(c: Container, opts: RunOptions = {}): Container {
  const out = c.withDirectory(OUT_DIR, dag.directory())
  return opts.ignoreFile ? out.withMountedFile('/in/.trivyignore', opts.ignoreFile) : out
}

/**
 * Runs one Trivy scan (its arguments after `trivy`) and converts its JSON report to SARIF (and to the other formats
 * asked for) in the same exec: one container start per scan (the engine's per-exec cost dominates small scans).
 */
function run(c: Container, args: string[], also: Record<string, string> = {}): Directory {
  const converts = Object.entries({ sarif: 'report.sarif', ...also })
    .map(([format, file]) => ` && trivy convert --quiet --format ${format} --output ${OUT_DIR}/${file} ${OUT}`).join('')
  const stamp = (name: string) => `date -u +%Y-%m-%dT%H:%M:%SZ > ${OUT_DIR}/${name}`
  return c.withExec(['sh', '-c', `${stamp('started')} && "$@"${converts} && ${stamp('finished')}`, 'trivy', 'trivy', ...args]).directory(OUT_DIR)
}

/** The JSON and SARIF reports of a scan's output folder. */
const reportOf = (out: Directory): Report => ({ json: out.file('report.json'), sarif: out.file('report.sarif') })

/** A vulnerability scan's reports, and the image's packages as a CycloneDX SBOM made from the same analysis. */
export interface ImageReport extends Report {
  sbom: File
  /** When the scan started and finished (UTC, RFC 3339), one line each: the times of the run the engine cached. */
  started: File
  finished: File
}

/** Trivy's own version and its DB's metadata, as `trivy version --format json` reports them from `trivy`'s cache. */
export function versionReport(trivy: Container): File {
  return trivy.withExec(['sh', '-c', `trivy version --format json --cache-dir ${CACHE_DIR} > /tmp/gmi-trivy-version.json`])
    .file('/tmp/gmi-trivy-version.json')
}

/**
 * Vulnerability scan of a container image (exported as an OCI tarball), with the DB of `trivy` (see trivyWithDb).
 * The JSON lists every package (`--list-all-pkgs`), so the same run also writes the CycloneDX SBOM (`trivy convert`):
 * the image is analysed once for both.
 */
export function scanImage(trivy: Container, image: Container, opts: RunOptions = {}): ImageReport {
  const c = withLayerCache(prepared(trivy, opts)).withMountedFile('/in/image.tar', imageTarball(image))
  const out = run(c, ['image', '--input', '/in/image.tar', '--scanners', 'vuln', '--list-all-pkgs', ...OFFLINE, ...reportArgs(opts)],
    { cyclonedx: 'sbom.json' })
  return { ...reportOf(out), sbom: out.file('sbom.json'), started: out.file('started'), finished: out.file('finished') }
}

/** Misconfiguration scan of a directory (Dockerfiles, Kubernetes manifests) with the checks built into Trivy. */
export function scanConfig(trivy: Container, dir: Directory, opts: RunOptions = {}): Report {
  const c = prepared(trivy, opts).withMountedDirectory('/in/src', dir).withWorkdir('/in/src')
  return reportOf(run(c, ['config', '--skip-check-update', ...NO_DB, ...reportArgs(opts), '.']))
}

/** Secret scan of a directory (Trivy's built-in rules; matches are masked in the reports). */
export function scanSecrets(trivy: Container, dir: Directory, opts: RunOptions = {}): Report {
  const c = prepared(trivy, opts).withMountedDirectory('/in/src', dir).withWorkdir('/in/src')
  return reportOf(run(c, ['fs', '--scanners', 'secret', '--no-progress', ...NO_DB, ...reportArgs(opts), '.']))
}
