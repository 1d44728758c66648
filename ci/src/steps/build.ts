// Step: build a service's image from its Dockerfile, base images and labels from configuration.
import { dag, type Container, type Directory } from '@dagger.io/dagger'
import type { ServiceConfig } from '../config/services.js'

/** What every image build of one run shares. */
export interface BuildOptions {
  /** Base image of the build stages (needs python3 -m venv and pip). */
  builderImage: string
  /** Base image of the runtime stage. */
  runtimeImage: string
  /** Source revision recorded in the image labels. */
  revision: string
  /** Commit time (Unix seconds), recorded in the `created` label. */
  sourceDateEpoch: number
}

/**
 * SOURCE_DATE_EPOCH of every build: 1980-01-01, the earliest time every archive format holds. The Dockerfiles stamp
 * every file they ship with it, so the same content gives the same layers (reproducible). A constant rather than the
 * commit time: BuildKit passes SOURCE_DATE_EPOCH to every RUN, so a value that changed with each commit would
 * rebuild every layer of every image on every commit.
 */
export const REPRODUCIBLE_EPOCH = 315532800

/** Where the Dockerfile is placed inside the build context (the context is services/, the Dockerfiles live apart). */
const DOCKERFILE = '.pipeline/Dockerfile'

/**
 * The service's build context: only the folders its Dockerfile reads, and the Dockerfile. Narrow on purpose: Dagger
 * keys an exec on a built image by the build's inputs, so with the whole of services/ as context a change to the API
 * re-ran the dashboard's tests and every image's scans (measured). File times are left as they are: re-timing the
 * context (`withTimestamps`) made BuildKit miss its content-based cache for every COPY after any change, so a
 * one-line change reinstalled every dependency; the Dockerfiles re-time what they ship instead.
 */
export function buildContext(source: Directory, service: ServiceConfig): Directory {
  return serviceSources(source, service).withFile(DOCKERFILE, source.file(service.dockerfile))
}

/** The folders of the services' sources that one service's Dockerfile reads (`reads`), in one directory. */
export function serviceSources(source: Directory, service: ServiceConfig): Directory {
  let sources = dag.directory()
  for (const folder of service.reads) sources = sources.withDirectory(folder, source.directory(`${service.context}/${folder}`))
  return sources
}

/** The image labels' creation time: the commit time, or "unknown" when no commit time was given. */
export const createdLabel = (epoch: number): string => (epoch > 0 ? new Date(epoch * 1000).toISOString() : 'unknown')

/** Builds one target of a service's Dockerfile: `runtime` (what ships) or `test` (the image that runs its suite). */
export function build(source: Directory, service: ServiceConfig, options: BuildOptions, target: 'runtime' | 'test' = 'runtime'): Container {
  const buildArgs = Object.entries({
    BUILDER_IMAGE: options.builderImage,
    RUNTIME_IMAGE: options.runtimeImage,
    REVISION: options.revision,
    CREATED: createdLabel(options.sourceDateEpoch),
    SOURCE_DATE_EPOCH: String(REPRODUCIBLE_EPOCH),
  }).map(([name, value]) => ({ name, value }))
  return buildContext(source, service)
    .dockerBuild({ dockerfile: DOCKERFILE, target, buildArgs })
}
