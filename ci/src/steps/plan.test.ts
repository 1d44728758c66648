// The client-side checks a deploy makes before any request: a rendered manifest that would deploy a mutable tag,
// leave its namespace or read a Secret nobody provides is refused, naming what is wrong.
import { stringify } from 'yaml'
import { describe, expect, it } from 'vitest'
import { environment } from '../config/environments.js'
import { APP_LABELS, parseRequiredSecrets } from '../plan/manifests.js'
import { checkManifest } from './plan.js'

const env = environment('dev')
const required = parseRequiredSecrets('environment: dev\nnamespace: graphmemory-dev\nsecrets:\n  db: {type: Opaque, keys: [password]}\n')
const labels = { ...APP_LABELS }
const digest = `127.0.0.1:5001/graphmemory/api@sha256:${'a'.repeat(64)}`
const deployment = (image: string, namespace = 'graphmemory-dev', secret = 'db') => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace, labels },
  spec: { template: { spec: { containers: [{ name: 'api', image, env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: secret, key: 'password' } } }] }] } } },
})
const manifest = (...objects: object[]) => objects.map((o) => `---\n${stringify(o)}`).join('')
const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'graphmemory-dev', labels } }

describe('checkManifest', () => {
  it('passes a pinned manifest inside its namespace whose secrets are all required, and returns its objects', () => {
    expect(checkManifest(manifest(namespace, deployment(digest)), env, required).map((o) => o.kind)).toEqual(['Namespace', 'Deployment'])
  })

  it('refuses an image without a digest, naming the object, container and image', () => {
    expect(() => checkManifest(manifest(deployment('graphmemory/api:latest')), env, required))
      .toThrow('images without a digest in the rendered manifest: Deployment graphmemory-dev/api container api: graphmemory/api:latest')
  })

  it('refuses an object outside the environment namespace', () => {
    expect(() => checkManifest(manifest(deployment(digest, 'kube-system')), env, required))
      .toThrow('objects outside namespace graphmemory-dev: Deployment kube-system/api')
  })

  it('refuses a Secret the pods read that the required list lacks', () => {
    expect(() => checkManifest(manifest(deployment(digest, 'graphmemory-dev', 'stray')), env, required))
      .toThrow('the manifests of dev read secrets that are not in its required list: stray')
  })

  it('refuses an object without the application labels (deploy could not prune it)', () => {
    const bare = { ...deployment(digest), metadata: { name: 'api', namespace: 'graphmemory-dev' } }
    expect(() => checkManifest(manifest(bare), env, required)).toThrow(/objects without the application labels/)
  })
})
