// The pipeline class on the lab: its images, registries and scanners (what library mode's defaults give the
// Makefile), for tests that drive the module's functions the way a user calls them.
import crypto from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { dag, type Directory } from '@dagger.io/dagger'
import { GraphmemoryIde } from '../ci/src/index.js'
import { labVar } from './env.js'

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The repository as the module's source (what defaultPath "/" gives under `dagger call`). */
export const repoSource = (): Directory => dag.host().directory(REPO, { exclude: ['**/node_modules', '.git', '.ci-out', '**/__pycache__'] })

/** The pipeline on the lab's images and release registry, for a commit id (default: a fresh one, so its tags are its own). */
/** What a lab release pins from tags: the lab's Postgres, Redis and monitoring images (see ImageSources.pinned). */
export const labPinned = (): Record<string, string> => ({
  'graphmemory/postgres': labVar('LAB_IMAGE_POSTGRES'), 'graphmemory/redis': labVar('LAB_IMAGE_REDIS'),
  'graphmemory/prometheus': labVar('LAB_IMAGE_PROMETHEUS'), 'graphmemory/alertmanager': labVar('LAB_IMAGE_ALERTMANAGER'),
  'graphmemory/grafana': labVar('LAB_IMAGE_GRAFANA'),
})

export const labPipeline = (source: Directory, commit = crypto.randomBytes(20).toString('hex')): GraphmemoryIde => new GraphmemoryIde(source,
  labVar('LAB_IMAGE_PYTHON_BUILD'), labVar('LAB_IMAGE_PYTHON_RUNTIME'), labVar('LAB_IMAGE_POSTGRES'), labVar('LAB_IMAGE_REDIS'),
  labVar('LAB_RELEASE_REGISTRY'), commit, 1700000000, labVar('LAB_IMAGE_TRIVY'), labVar('LAB_TRIVY_DB_REPOSITORY'), 'CRITICAL,HIGH',
  labVar('LAB_IMAGE_COSIGN'), labVar('LAB_IMAGE_KUSTOMIZE'), labVar('LAB_IMAGE_PROMETHEUS'), labVar('LAB_IMAGE_ALERTMANAGER'),
  labVar('LAB_IMAGE_OTELCOL'), labVar('LAB_IMAGE_GRAFANA'))
