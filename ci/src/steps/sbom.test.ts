// The SBOM step against the lab: Trivy (lab image, offline fixture DB) writes CycloneDX for an image with a Python
// package installed.
import { connection, dag } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { sbom } from './sbom.js'

/** These tests start real containers on a shared 2-core machine: give them room beyond the default. */
const LONG = 420_000

interface CycloneDx { bomFormat: string; components?: Array<{ name: string; version: string; purl?: string; type: string }> }

describe('sbom (lab Trivy)', () => {
  it('lists the Python packages of an image as CycloneDX JSON', async () => {
    let text = ''
    await connection(async () => {
      // a virtualenv with one package from PyPI, the way the services' images install theirs
      const image = dag.container().from(labVar('LAB_IMAGE_PYTHON_BUILD'))
        .withExec(['python3', '-m', 'venv', '/opt/venv'])
        .withExec(['/opt/venv/bin/pip', 'install', '--quiet', '--no-deps', '--only-binary=:all:', 'six==1.16.0'])
      text = await sbom(image, { trivyImage: labVar('LAB_IMAGE_TRIVY'), dbRepository: labVar('LAB_TRIVY_DB_REPOSITORY') }).contents()
    })
    const bom = JSON.parse(text) as CycloneDx
    expect(bom.bomFormat).toBe('CycloneDX')
    const purls = (bom.components ?? []).map((c) => c.purl ?? '')
    expect(purls).toContain('pkg:pypi/six@1.16.0')
    // the OS packages are listed too (Debian's python3 among them)
    expect(purls.some((p) => p.startsWith('pkg:deb/debian/python3.11@'))).toBe(true)
  }, LONG)
})
