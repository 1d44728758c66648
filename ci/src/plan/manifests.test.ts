import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ENVIRONMENT_NAMES, environment } from '../config/environments.js'
import {
  APP_LABELS, assertAppLabels, containerImages, missingLabels, objectId, parseManifests, parseRequiredSecrets,
  podSpecs, referencedSecrets, uncoveredSecrets, unpinnedImages,
} from './manifests.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const D = 'sha256:' + 'cd'.repeat(32)
const labels = `    app.kubernetes.io/part-of: graphmemory-ide\n    app.kubernetes.io/managed-by: graphmemory-pipeline\n`

const RENDERED = `---
apiVersion: v1
kind: Namespace
metadata:
  name: gm
  labels:
${labels}---
# an empty document (kustomize never writes one, hand-written files do)
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: gm
  labels:
${labels}spec:
  template:
    spec:
      imagePullSecrets: [{name: pull}]
      initContainers:
        - name: migrate
          image: r/api@${D}
          envFrom: [{secretRef: {name: whole}}]
      containers:
        - name: api
          image: r/api:latest
          env:
            - {name: A, valueFrom: {secretKeyRef: {name: pg, key: password}}}
            - {name: B, valueFrom: {configMapKeyRef: {name: cfg, key: x}}}
      volumes:
        - name: s
          secret: {secretName: api, items: [{key: bootstrap-api-key, path: k}]}
        - name: p
          projected: {sources: [{secret: {name: pg, items: [{key: user, path: u}]}}]}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: backup
  namespace: gm
  labels:
    app.kubernetes.io/part-of: graphmemory-ide
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: dump, image: r/pg@${D}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: gm
  labels:
${labels}spec:
  tls: [{hosts: [a.example], secretName: tls}]
`

describe('parseManifests', () => {
  it('reads every object of a multi-document manifest and skips empty documents', () => {
    const objs = parseManifests(RENDERED)
    expect(objs.map(objectId)).toEqual(['Namespace gm', 'Deployment gm/api', 'CronJob gm/backup', 'Ingress gm/web'])
  })

  it('fails on invalid YAML naming the document', () => {
    expect(() => parseManifests('kind: A\n---\nkind: [unclosed\n')).toThrow(/not valid YAML: document 2/)
  })

  it('fails on a duplicated key, naming it, rather than keeping one of the two values', () => {
    // the API server's fieldValidation=Strict refuses a duplicated field; parsed here, only one value would reach it
    const twice = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  level: info\n  level: debug\n'
    expect(() => parseManifests(twice)).toThrow(/not valid YAML: document 1: Map keys must be unique/)
  })

  it('fails on a document that is not an object with apiVersion, kind and metadata.name', () => {
    expect(() => parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n')).toThrow('document 1 lacks apiVersion, kind or metadata.name')
    expect(() => parseManifests('- just\n- a list\n')).toThrow('not a Kubernetes object')
  })
})

describe('labels', () => {
  it('names each object that lacks an application label', () => {
    const objs = parseManifests(RENDERED)
    expect(missingLabels(objs)).toEqual([{ object: 'CronJob gm/backup', missing: ['app.kubernetes.io/managed-by=graphmemory-pipeline'] }])
    expect(() => assertAppLabels(objs)).toThrow('CronJob gm/backup lacks app.kubernetes.io/managed-by=graphmemory-pipeline')
    expect(() => assertAppLabels(objs.filter((o) => o.kind !== 'CronJob'))).not.toThrow()
  })

  it('a label with another value counts as missing', () => {
    const objs = parseManifests(RENDERED.replace('managed-by: graphmemory-pipeline', 'managed-by: helm'))
    expect(missingLabels(objs)[0]).toEqual({ object: 'Namespace gm', missing: ['app.kubernetes.io/managed-by=graphmemory-pipeline'] })
    expect(Object.keys(APP_LABELS)).toEqual(['app.kubernetes.io/part-of', 'app.kubernetes.io/managed-by'])
  })
})

describe('pods and images', () => {
  it('finds pod specs in workloads and CronJobs, and every container image', () => {
    const objs = parseManifests(RENDERED)
    expect(podSpecs(objs).map((p) => objectId(p.object))).toEqual(['Deployment gm/api', 'CronJob gm/backup'])
    expect(containerImages(objs)).toEqual([
      { object: 'Deployment gm/api', container: 'migrate', image: `r/api@${D}` },
      { object: 'Deployment gm/api', container: 'api', image: 'r/api:latest' },
      { object: 'CronJob gm/backup', container: 'dump', image: `r/pg@${D}` },
    ])
    expect(unpinnedImages(objs)).toEqual([{ object: 'Deployment gm/api', container: 'api', image: 'r/api:latest' }])
  })
})

describe('secrets', () => {
  it('lists the secrets and keys the objects read', () => {
    expect(referencedSecrets(parseManifests(RENDERED))).toEqual({
      api: ['bootstrap-api-key'],
      pg: ['password', 'user'],
      pull: ['.dockerconfigjson'],
      tls: ['tls.crt', 'tls.key'],
      whole: [],
    })
  })

  it('reports what a required list does not cover', () => {
    const required = parseRequiredSecrets(`environment: dev\nnamespace: gm\nsecrets:\n  pg: {type: Opaque, keys: [password]}\n  tls: {type: kubernetes.io/tls, keys: [tls.key, tls.crt]}\n`)
    expect(required.secrets.tls.keys).toEqual(['tls.crt', 'tls.key'])
    expect(uncoveredSecrets(referencedSecrets(parseManifests(RENDERED)), required)).toEqual(['api', 'pg/user', 'pull', 'whole'])
  })

  it('refuses a required list of the wrong shape', () => {
    expect(() => parseRequiredSecrets('secrets: []\n', 'x.yaml')).toThrow('x.yaml is not a required-secrets list')
    expect(() => parseRequiredSecrets('environment: dev\nnamespace: n\nsecrets:\n  a: {type: Opaque, keys: []}\n')).toThrow('secret a needs a type and a non-empty list of keys')
    expect(() => parseRequiredSecrets('a: [\n')).toThrow('is not valid YAML')
  })

  it('each overlay commits a required list for its own environment and namespace', () => {
    for (const name of ENVIRONMENT_NAMES) {
      const env = environment(name)
      const file = path.join(REPO, 'k8s', env.overlay, 'required-secrets.yaml')
      const req = parseRequiredSecrets(fs.readFileSync(file, 'utf8'), file)
      expect(req).toMatchObject({ environment: name, namespace: env.namespace })
      const monitoring = name === 'dev' ? [] : ['graphmemory-alertmanager', 'graphmemory-grafana'] // the monitoring component's
      // every overlay renders the backup component, which reads the object store's key pair
      expect(Object.keys(req.secrets).sort()).toEqual([...monitoring, 'graphmemory-api', 'graphmemory-backup-s3', 'graphmemory-postgres', 'graphmemory-redis', 'graphmemory-tls'].sort())
    }
  })
})
