// Step: the whole pipeline, the gate every release passes. Per service in parallel: build and test, then scan and SBOM;
// then, only when every step passed, publish every image, sign it and attach its attestations (SBOM, scan, provenance,
// tests). One summary, human and JSON, beside the reports.
import { dag, type Container, type Directory, type Secret } from '@dagger.io/dagger'
import { selectServices, type ServiceConfig } from '../config/services.js'
import { PipelineError } from '../errors.js'
import { Progress, formatSummary } from '../progress.js'
import { build, buildContext } from './build.js'
import { test, type TestOptions, type TestResult } from './test.js'
import { authFor, imageRef, publish } from './publish.js'
import { scanPassed, scannerVersion, type ScanOptions, type ScanResult, type ScanSources } from './scan.js'
import { DEFAULT_DB_REPOSITORY } from '../adapters/trivy.js'
import { sbom } from './sbom.js'
import { attest, type GateEvidence } from './attest.js'
import type { BuildInputs } from '../plan/attestations.js'

export interface CiOptions {
  source: Directory
  /** Service names; empty means all. */
  services: string[]
  test: TestOptions
  scan: ScanOptions
  /** What the misconfiguration and secret scans of a service read. */
  scanSources: (service: string) => ScanSources
  cosignImage: string
  /** cosign private key and its password; without them images are published unsigned (and no environment admits them). */
  signingKey?: Secret
  signingPassword?: Secret
  /** The commit built (recorded in the provenance). */
  commit: string
  registry: string
  tag: string
  username: string
  /** Registry password; without it nothing is published. */
  password?: Secret
  /** Where progress lines go (default: stderr). */
  log?: (line: string) => void
}

/** What one service's checks produced. */
interface Checked {
  service: ServiceConfig
  image: Container
  reports: Directory
  scan: ScanResult
  tests: TestResult
}

/** Starts a promise now and keeps its failure for whoever awaits it later (none, when an earlier step failed). */
function started<T>(fn: () => Promise<T>): () => Promise<T> {
  const promise = fn()
  promise.catch(() => undefined)
  return () => promise
}

/**
 * Build and test in parallel; scan and SBOM of the image are asked for with the build (the engine runs what they share
 * once, and their own lookups overlap the build's) but reported after it, so a failed build is one failure, not three.
 * All of a service's reports in one folder.
 */
async function checkService(service: ServiceConfig, options: CiOptions, progress: Progress): Promise<Checked> {
  const image = build(options.source, service, options.test)
  const testing = progress.step('test', service.name, () => test(options.source, service, options.test), (r) => r.summary)
  const scanning = started(() => scanPassed(service.name, image, options.scanSources(service.name), options.scan))
  const sbomming = started(() => sbom(image, options.scan).sync())
  const imageChecks = progress.step('build', service.name, () => image.sync()).then(() => Promise.all([
    progress.step('scan', service.name, scanning),
    progress.step('sbom', service.name, sbomming),
  ]))
  const [tested, checked] = await Promise.allSettled([testing, imageChecks])
  if (tested.status === 'rejected') throw tested.reason
  if (checked.status === 'rejected') throw checked.reason
  const [scanned, bom] = checked.value
  const reports = dag.directory()
    .withFile(`${service.name}/junit.xml`, tested.value.junit)
    .withDirectory(`${service.name}/scan`, scanned.reports)
    .withFile(`${service.name}/sbom.cdx.json`, bom)
  return { service, image, reports, scan: scanned, tests: tested.value }
}

/** The builder recorded in provenance: this module, at the commit it was run from, on its Dagger engine. */
const BUILDER_ID = 'https://github.com/graphmemory/graphmemory-ide/ci (Dagger module graphmemory-ide)'

/** What a service's image was built from: base images by digest, its Dockerfile and build context by digest. */
async function buildInputs(c: Checked, options: CiOptions): Promise<BuildInputs> {
  const [builder, runtime, context, engine] = await Promise.all([
    dag.container().from(options.test.builderImage).imageRef(), dag.container().from(options.test.runtimeImage).imageRef(),
    buildContext(options.source, c.service).digest(), dag.version(),
  ])
  return {
    service: c.service.name, commit: options.commit,
    builder: { id: BUILDER_ID, version: `${options.commit || 'unknown'} (dagger ${engine})` },
    inputs: { 'builder-image': builder, 'runtime-image': runtime, [`${c.service.context}/${c.service.name} with ${c.service.dockerfile}`]: `build-context@${context}` },
  }
}

/** The gate's evidence of one checked service, for its attestations. */
async function evidenceOf(c: Checked, options: CiOptions): Promise<GateEvidence> {
  return {
    scan: c.scan, scannerVersion: scannerVersion(options.scan), dbRepository: options.scan.dbRepository ?? DEFAULT_DB_REPOSITORY,
    junit: c.tests.junit, build: await buildInputs(c, options),
  }
}

/** Runs the pipeline; returns the reports folder, or fails with the summary (and publishes nothing) when a step failed. */
export async function ci(options: CiOptions): Promise<Directory> {
  const services = selectServices(options.services)
  const refs = services.map((s) => imageRef(options.registry, s, options.tag)) // bad registry fails before any work
  const progress = new Progress(options.log)
  const checked = await Promise.allSettled(services.map((s) => checkService(s, options, progress)))

  let output = dag.directory()
  for (const c of checked) if (c.status === 'fulfilled') output = output.withDirectory('.', c.value.reports)
  const failed = checked.some((c) => c.status === 'rejected')

  const published: Record<string, string> = {}
  if (failed) {
    progress.skip('publish', undefined, 'a check failed: nothing published')
  } else if (!options.password) {
    progress.skip('publish', undefined, 'no registry password given')
  } else {
    const auth = authFor(refs[0], options.username, options.password)
    await Promise.all(checked.map(async (c, i) => {
      if (c.status !== 'fulfilled') return
      published[c.value.service.name] = await progress.step('publish', c.value.service.name, () => publish(c.value.image, refs[i], auth))
    }))
    if (options.signingKey && options.signingPassword) {
      const signing = { key: options.signingKey, password: options.signingPassword, cosignImage: options.cosignImage }
      await Promise.allSettled(checked.map(async (c) => {
        if (c.status !== 'fulfilled' || !published[c.value.service.name]) return
        const checkedService = c.value
        await progress.step('sign', checkedService.service.name,
          async () => attest(published[checkedService.service.name], await evidenceOf(checkedService, options), signing, auth),
          () => 'signature + sbom, scan, provenance, tests attestations')
      }))
    } else {
      progress.skip('sign', undefined, 'no signing key given: images are unsigned, and no environment admits them')
    }
  }

  const summary = progress.summary()
  const text = formatSummary(summary)
  if (!summary.ok) {
    const details = summary.steps.filter((s) => s.status === 'failed').map((s) => `[${s.service ?? 'ci'} ${s.step}] ${s.detail}`)
    throw new PipelineError('ci failed', `\n${text}\n\n${details.join('\n\n')}`, 'fix the failing step; each step reruns alone, e.g. `npm run pipeline -- test --service api`')
  }
  return output
    .withNewFile('summary.txt', `${text}\n`)
    .withNewFile('summary.json', `${JSON.stringify({ ...summary, images: published }, null, 2)}\n`)
    .withNewFile('images.json', `${JSON.stringify(published, null, 2)}\n`)
}
