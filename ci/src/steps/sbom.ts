// Step: the software bill of materials of an image, as CycloneDX JSON (written by Trivy: no second tool).
import type { Container, File } from '@dagger.io/dagger'
import { cyclonedx, trivyContainer } from '../adapters/trivy.js'

/** How to make an SBOM. */
export interface SbomOptions {
  /** Trivy image (online: the official image, pinned; the lab: LAB_IMAGE_TRIVY). */
  trivyImage: string
}

/** The CycloneDX JSON SBOM of an image: its OS packages and its language (e.g. Python) packages. Needs no DB. */
export function sbom(image: Container, opts: SbomOptions): File {
  return cyclonedx(trivyContainer(opts.trivyImage), image)
}
