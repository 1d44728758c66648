// The secrets argument: parsing it without ever echoing a value, checking it against an environment's required list,
// and the Secret objects made from it.
import { describe, expect, it } from 'vitest'
import { PipelineError } from '../errors.js'
import { parseRequiredSecrets } from './manifests.js'
import { assertSecrets, checkSecrets, parseSecretValues, secretObjects } from './secrets.js'

const REQUIRED = parseRequiredSecrets(`environment: staging
namespace: graphmemory-staging
secrets:
  graphmemory-postgres:
    type: Opaque
    keys: [password, user]
  graphmemory-api:
    type: Opaque
    keys: [bootstrap-api-key]
  graphmemory-tls:
    type: kubernetes.io/tls
    keys: [tls.crt, tls.key]
`)

const PG = 'pg-S3cr3t-7f2a9c'
const KEY = 'gmi_bootstrap_0123456789abcdef'

/** The PipelineError `fn` throws. */
const failure = (fn: () => unknown): PipelineError => {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(PipelineError)
    return err as PipelineError
  }
  throw new Error('expected a PipelineError')
}

describe('parseSecretValues', () => {
  it('reads secret name → key → value, block or flow style', () => {
    expect(parseSecretValues(`graphmemory-postgres:\n  password: ${PG}\n  user: gmi\ngraphmemory-api: {bootstrap-api-key: "${KEY}"}\n`)).toEqual({
      'graphmemory-postgres': { password: PG, user: 'gmi' },
      'graphmemory-api': { 'bootstrap-api-key': KEY },
    })
    expect(parseSecretValues('graphmemory-tls:\n  tls.crt: |\n    -----BEGIN CERTIFICATE-----\n    MIIB\n    -----END CERTIFICATE-----\n'))
      .toEqual({ 'graphmemory-tls': { 'tls.crt': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' } })
  })

  it('an empty argument (or only comments) gives nothing', () => {
    expect(parseSecretValues('')).toEqual({})
    expect(parseSecretValues('# no secrets this time\n')).toEqual({})
    expect(parseSecretValues('---\n')).toEqual({})
  })

  it('invalid YAML fails without the parser message, which would quote the value', () => {
    const broken = [
      `graphmemory-postgres: {password: "${PG}}\n`, // unterminated quote
      `graphmemory-postgres:\n  password: ${PG}\n  password: ${PG}-again\n`, // duplicate key
      `graphmemory-postgres:\n\tpassword: ${PG}\n`, // tab indentation
      `graphmemory-postgres:\n  password: ${PG}\n user: ${PG}\n`, // misaligned
    ]
    for (const text of broken) {
      const e = failure(() => parseSecretValues(text))
      expect(e.what).toBe('the secrets argument is not valid YAML')
      expect(e.message).not.toContain(PG)
      expect(e.message).not.toContain('line')
    }
  })

  it('a top level that is not a map fails, without the value', () => {
    for (const text of [PG, `- ${PG}\n`]) {
      const e = failure(() => parseSecretValues(text))
      expect(e.what).toBe('the secrets argument is not a map of secrets')
      expect(e.message).not.toContain(PG)
    }
  })

  it('a secret that is not a map of keys fails naming the secret, not the value', () => {
    for (const text of [`graphmemory-postgres: ${PG}\n`, `graphmemory-postgres: [${PG}]\n`, 'graphmemory-postgres:\n']) {
      const e = failure(() => parseSecretValues(text))
      expect(e.what).toBe('secret graphmemory-postgres in the secrets argument is not a map of keys')
      expect(e.message).not.toContain(PG)
    }
  })

  it('a value that is not a non-empty string fails naming secret and key, not the value', () => {
    const cases = [
      ['graphmemory-postgres:\n  password: 73911045\n', '73911045'],
      ['graphmemory-postgres:\n  password: 0x7f2a9c\n', '0x7f2a9c'],
      ['graphmemory-postgres:\n  password: [a, b]\n', '[a, b]'],
      ['graphmemory-postgres:\n  password: {nested: x}\n', 'nested'],
      ['graphmemory-postgres:\n  password: ""\n', '""'],
      ['graphmemory-postgres:\n  password:\n', 'null'],
    ]
    for (const [text, value] of cases) {
      const e = failure(() => parseSecretValues(text))
      expect(e.what).toBe('secret graphmemory-postgres key password has no text value')
      expect(e.fix).toBe('quote it in the YAML')
      expect(e.message).not.toContain(value)
    }
  })
})

describe('checkSecrets', () => {
  const live = { 'graphmemory-postgres': ['password', 'user'], 'graphmemory-api': ['bootstrap-api-key'], 'graphmemory-tls': ['tls.crt', 'tls.key'] }

  it('nothing is missing when the cluster has every key and nothing is given', () => {
    expect(checkSecrets(REQUIRED, {}, live)).toEqual({ missing: [], unknown: [] })
  })

  it('a Secret not in the cluster and not given misses every key', () => {
    expect(checkSecrets(REQUIRED, {}, { 'graphmemory-postgres': ['password', 'user'] }))
      .toEqual({ missing: ['graphmemory-api/bootstrap-api-key', 'graphmemory-tls/tls.crt', 'graphmemory-tls/tls.key'], unknown: [] })
    expect(checkSecrets(REQUIRED, {}, { ...live, 'graphmemory-tls': ['tls.crt'] }).missing).toEqual(['graphmemory-tls/tls.key'])
  })

  it('a Secret given partially misses the keys not given, even when the cluster has them (applying replaces it whole)', () => {
    expect(checkSecrets(REQUIRED, { 'graphmemory-postgres': { password: PG } }, live))
      .toEqual({ missing: ['graphmemory-postgres/user'], unknown: [] })
  })

  it('a Secret given whole needs nothing from the cluster', () => {
    const given = { 'graphmemory-postgres': { password: PG, user: 'gmi' }, 'graphmemory-api': { 'bootstrap-api-key': KEY } }
    expect(checkSecrets(REQUIRED, given, { 'graphmemory-tls': ['tls.crt', 'tls.key'] })).toEqual({ missing: [], unknown: [] })
  })

  it('lists unknown secrets and unknown keys of known secrets', () => {
    const given = {
      'graphmemory-postgress': { password: PG },
      'graphmemory-postgres': { password: PG, user: 'gmi', pasword: PG },
      'graphmemory-api': { 'bootstrap-api-key': KEY },
    }
    expect(checkSecrets(REQUIRED, given, live)).toEqual({ missing: [], unknown: ['graphmemory-postgress', 'graphmemory-postgres/pasword'] })
  })
})

describe('assertSecrets', () => {
  it('passes when every required key is given or in the cluster and nothing else is given', () => {
    expect(() => assertSecrets(REQUIRED, { 'graphmemory-api': { 'bootstrap-api-key': KEY } },
      { 'graphmemory-postgres': ['password', 'user'], 'graphmemory-tls': ['tls.crt', 'tls.key'] })).not.toThrow()
  })

  it('names one missing key with "is", several with "are", the namespace and the required list, never a value', () => {
    const one = failure(() => assertSecrets(REQUIRED, { 'graphmemory-postgres': { password: PG } },
      { 'graphmemory-api': ['bootstrap-api-key'], 'graphmemory-tls': ['tls.crt', 'tls.key'] }))
    expect(one.what).toBe('staging is missing required secrets')
    expect(one.why).toBe('graphmemory-postgres/user is neither given nor in namespace graphmemory-staging')
    expect(one.fix).toContain('k8s/overlays/staging/required-secrets.yaml')
    expect(one.message).not.toContain(PG)
    const many = failure(() => assertSecrets(REQUIRED, { 'graphmemory-postgres': { password: PG } }, {}))
    expect(many.why).toBe('graphmemory-postgres/user, graphmemory-api/bootstrap-api-key, graphmemory-tls/tls.crt, graphmemory-tls/tls.key are neither given nor in namespace graphmemory-staging')
  })

  it('reports missing keys before unknown names', () => {
    const e = failure(() => assertSecrets(REQUIRED, { typo: { x: PG } }, {}))
    expect(e.what).toBe('staging is missing required secrets')
  })

  it('names what is given but not used, never a value', () => {
    const live = { 'graphmemory-postgres': ['password', 'user'], 'graphmemory-api': ['bootstrap-api-key'], 'graphmemory-tls': ['tls.crt', 'tls.key'] }
    const e = failure(() => assertSecrets(REQUIRED, { 'graphmemory-redis': { password: PG }, 'graphmemory-api': { 'bootstrap-api-key': KEY, token: KEY } }, live))
    expect(e.what).toBe('the secrets argument names what staging does not use')
    expect(e.why).toBe('graphmemory-redis, graphmemory-api/token')
    expect(e.fix).toBe('fix the name, or add it to k8s/overlays/staging/required-secrets.yaml')
    expect(e.message).not.toContain(PG)
    expect(e.message).not.toContain(KEY)
  })
})

describe('secretObjects', () => {
  it('makes one Secret per given name, typed as required, labelled, values base64 (UTF-8)', () => {
    const labels = { 'app.kubernetes.io/part-of': 'graphmemory-ide', 'app.kubernetes.io/managed-by': 'graphmemory-pipeline' }
    const objects = secretObjects(REQUIRED, {
      'graphmemory-postgres': { password: PG, user: 'gmi' },
      'graphmemory-tls': { 'tls.crt': 'CERT\n', 'tls.key': 'schlüssel ✓' },
    }, labels)
    expect(objects).toEqual([
      {
        apiVersion: 'v1', kind: 'Secret', metadata: { name: 'graphmemory-postgres', namespace: 'graphmemory-staging', labels },
        type: 'Opaque', data: { password: 'cGctUzNjcjN0LTdmMmE5Yw==', user: 'Z21p' },
      },
      {
        apiVersion: 'v1', kind: 'Secret', metadata: { name: 'graphmemory-tls', namespace: 'graphmemory-staging', labels },
        type: 'kubernetes.io/tls', data: { 'tls.crt': 'Q0VSVAo=', 'tls.key': 'c2NobMO8c3NlbCDinJM=' },
      },
    ])
    const data = objects[1].data as Record<string, string>
    expect(Buffer.from(data['tls.key'], 'base64').toString('utf8')).toBe('schlüssel ✓')
    expect(JSON.stringify(objects)).not.toContain(PG)
  })

  it('makes nothing when nothing is given', () => {
    expect(secretObjects(REQUIRED, {}, {})).toEqual([])
  })
})

describe('a value typed without a space after ":" never reaches a message', () => {
  it('withholds a key name that may hold the value, in the parse error and in the unknown list', () => {
    const required = parseRequiredSecrets('environment: dev\nnamespace: ns\nsecrets:\n  pg: {type: Opaque, keys: [password]}\n')
    expect(() => parseSecretValues('pg: {password:hunter2}')).toThrow(/key \(a key whose name is withheld/)
    expect(() => parseSecretValues('pg: {password:hunter2}')).not.toThrow(/hunter2/)
    const given = parseSecretValues('pg: {password: ok, "token=hunter2": x}')
    const unknown = checkSecrets(required, given, {}).unknown
    expect(unknown).toHaveLength(1)
    expect(unknown.join()).not.toMatch(/hunter2/)
  })
})
