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
  /** Commit time (Unix seconds): file timestamps and the `created` label, so a rebuild gives the same image. */
  sourceDateEpoch: number
}

/** Where the Dockerfile is placed inside the build context (the context is services/, the Dockerfiles live apart). */
const DOCKERFILE = '.pipeline/Dockerfile'

/** The service's build context with its Dockerfile, every timestamp set to the commit time. */
export function buildContext(source: Directory, service: ServiceConfig, epoch: number): Directory {
  return source.directory(service.context)
    .withFile(DOCKERFILE, source.file(service.dockerfile))
    .withTimestamps(epoch)
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
    SOURCE_DATE_EPOCH: String(options.sourceDateEpoch),
  }).map(([name, value]) => ({ name, value }))
  return buildContext(source, service, options.sourceDateEpoch)
    .dockerBuild({ dockerfile: DOCKERFILE, target, buildArgs })
}
