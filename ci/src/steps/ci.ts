// Step: the whole pipeline. Per service in parallel: build and test, then scan and SBOM; then, only when every
// step passed, publish (and sign) every image. One summary, human and JSON, beside the reports.
import type { Container, Directory, Secret } from '@dagger.io/dagger'
import { selectServices, type ServiceConfig } from '../config/services.js'
import { PipelineError } from '../errors.js'
import { Progress, formatSummary } from '../progress.js'
import { registryOf } from '../../adapters/registry.js'
import { build } from './build.js'
import { test, type TestOptions } from './test.js'
import { imageRef, publish } from './publish.js'

export interface CiOptions {
  source: Directory
  /** Service names; empty means all. */
  services: string[]
  test: TestOptions
  registry: string
  tag: string
  username: string
  /** Registry password; without it nothing is published. */
  password?: Secret
  /** The folder the reports are written into (an empty Directory). */
  output: Directory
  /** Where progress lines go (default: stderr). */
  log?: (line: string) => void
}

/** What one service's checks produced. */
interface Checked {
  service: ServiceConfig
  image: Container
  reports: Directory
}

/** Build and test in parallel, then the checks that need the image; all of a service's reports in one folder. */
async function checkService(service: ServiceConfig, options: CiOptions, progress: Progress): Promise<Checked> {
  const image = build(options.source, service, options.test)
  const [built, tested] = await Promise.allSettled([
    progress.step('build', service.name, () => image.sync()),
    progress.step('test', service.name, () => test(options.source, service, options.test), (r) => r.summary),
  ])
  if (built.status === 'rejected') throw built.reason
  if (tested.status === 'rejected') throw tested.reason
  const reports = options.output.withFile(`${service.name}/junit.xml`, tested.value.junit)
  return { service, image, reports }
}

/** Runs the pipeline; returns the reports folder, or fails with the summary (and publishes nothing) when a step failed. */
export async function ci(options: CiOptions): Promise<Directory> {
  const services = selectServices(options.services)
  const refs = services.map((s) => imageRef(options.registry, s, options.tag)) // bad registry fails before any work
  const progress = new Progress(options.log)
  const checked = await Promise.allSettled(services.map((s) => checkService(s, options, progress)))

  let output = options.output
  for (const c of checked) if (c.status === 'fulfilled') output = output.withDirectory('.', c.value.reports)
  const failed = checked.some((c) => c.status === 'rejected')

  const published: Record<string, string> = {}
  if (failed) {
    progress.skip('publish', undefined, 'a check failed: nothing published')
  } else if (!options.password) {
    progress.skip('publish', undefined, 'no registry password given')
  } else {
    const auth = { address: registryOf(refs[0]), username: options.username, password: options.password }
    await Promise.all(checked.map(async (c, i) => {
      if (c.status !== 'fulfilled') return
      published[c.value.service.name] = await progress.step('publish', c.value.service.name, () => publish(c.value.image, refs[i], auth))
    }))
  }

  const summary = progress.summary()
  const text = formatSummary(summary)
  if (!summary.ok) {
    throw new PipelineError('ci failed', `\n${text}`, 'fix the failing step; each step reruns alone, e.g. `npm run pipeline -- test --service api`')
  }
  return output
    .withNewFile('summary.txt', `${text}\n`)
    .withNewFile('summary.json', `${JSON.stringify({ ...summary, images: published }, null, 2)}\n`)
    .withNewFile('images.json', `${JSON.stringify(published, null, 2)}\n`)
}
