// The services the pipeline builds, tests, scans and ships: one typed description each.
import { PipelineError } from '../errors.js'

/**
 * A service the pipeline builds. A Dagger enum: `dagger call build --service api` refuses any other value and `--help`
 * lists these; members are spelt as their values.
 */
export enum ServiceName {
  api = 'api',
  analytics = 'analytics',
  dashboard = 'dashboard',
}

/** A backing service a test suite needs, bound into its container by Dagger. */
export type Backing = 'postgres' | 'redis'

export interface ServiceConfig {
  /** Short name used on the command line and in image names. */
  name: ServiceName
  /** Dockerfile, relative to the repository root. */
  dockerfile: string
  /** Folder holding the services' sources (relative to the repository root): the Dockerfiles' build context. */
  context: string
  /**
   * The folders of `context` its Dockerfile reads (its COPY sources): the only ones its build sees, so a change to
   * another service leaves this one's build, test and scan cached. A folder missing here fails its build naming it.
   */
  reads: string[]
  /** Repository of the published image, under the registry (e.g. graphmemory/api). */
  image: string
  /** Port the service listens on. */
  port: number
  /** Readiness endpoint. */
  readyPath: string
  /** Backing services the test suite talks to. */
  testNeeds: Backing[]
}

const service = (name: ServiceName, dockerfile: string, port: number, testNeeds: Backing[], shares: string[]): ServiceConfig => ({
  name, dockerfile: `docker/production/${dockerfile}`, context: 'services', reads: [name, ...shares, 'testsupport'],
  image: `graphmemory/${name}`, port, readyPath: '/ready', testNeeds,
})

/** Every service, in the order summaries list them. */
export const SERVICES: readonly ServiceConfig[] = [
  service(ServiceName.api, 'Dockerfile.fastapi', 8000, ['postgres', 'redis'], ['common']),
  service(ServiceName.analytics, 'Dockerfile.analytics', 8002, ['redis'], ['common']),
  service(ServiceName.dashboard, 'Dockerfile.streamlit', 8501, [], []),
]

/** The names of every service. */
export const serviceNames = (): string[] => SERVICES.map((s) => s.name)

/** The configuration of one service; an unknown name fails with the list of known ones. */
export function serviceConfig(name: string): ServiceConfig {
  const found = SERVICES.find((s) => s.name === name)
  if (!found) {
    throw new PipelineError(`unknown service "${name}"`, `the services are ${serviceNames().join(', ')}`,
      'pass one of those names (or none, for all of them)')
  }
  return found
}

/** The services named in a list ("" or [] means all); every name is checked before any work starts. */
export function selectServices(names: string[] = []): ServiceConfig[] {
  const wanted = names.flatMap((n) => n.split(',')).map((n) => n.trim()).filter(Boolean)
  return wanted.length ? wanted.map(serviceConfig) : [...SERVICES]
}
