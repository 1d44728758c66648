// Step: the software bill of materials of an image, as CycloneDX JSON (written by Trivy from the same analysis as
// the vulnerability scan: no second tool, and the image is read once for both).
import type { Container, File } from '@dagger.io/dagger'
import { imageScan, type ScanOptions } from './scan.js'

/** The CycloneDX JSON SBOM of an image: its OS packages and its language (e.g. Python) packages. */
export function sbom(image: Container, opts: ScanOptions): File {
  return imageScan(image, opts).sbom
}
