// Step: build a service's image from its Dockerfile, base images and labels from configuration.
import type { Container, Directory } from '@dagger.io/dagger'
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
 * The service's build context with its Dockerfile. File times are left as they are: re-timing the context
 * (`withTimestamps`) made BuildKit miss its content-based cache for every COPY after any change to the context, so a
 * one-line change reinstalled every dependency (measured: 12.8 s of pip per build); the Dockerfiles re-time what they
 * ship instead.
 */
export function buildContext(source: Directory, service: ServiceConfig): Directory {
  return source.directory(service.context).withFile(DOCKERFILE, source.file(service.dockerfile))
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
