// Pure: the Kubernetes Secrets a deploy creates from the `secrets` argument (a YAML map, given as a Dagger Secret:
// secret name → key → value), checked against the environment's required list. No message ever holds a value.
import { parse } from 'yaml'
import { PipelineError } from '../errors.js'
import type { RequiredSecrets } from './manifests.js'

/** Secret name → key → value, as given. */
export type SecretValues = Record<string, Record<string, string>>

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** What a Secret key may be called (Kubernetes' rule). Anything else is not named in messages: `{password:x}` (no space) is one key holding the value. */
const KEY = /^[-._a-zA-Z0-9]+$/
const keyName = (k: string): string => (KEY.test(k) ? k : '(a key whose name is withheld: it is not a valid key and may hold a value; check for a missing space after ":")')

/** Reads the secrets argument. Errors name the secret and key, never the value (the YAML parser's messages quote text, so they are not passed on). */
export function parseSecretValues(text: string): SecretValues {
  let doc: unknown
  try {
    doc = parse(text)
  } catch {
    throw new PipelineError('the secrets argument is not valid YAML', 'its parser refused it (the message is withheld: it may quote a value)',
      'give a YAML map: <secret name>: {<key>: <value>, ...}, e.g. graphmemory-postgres: {password: ...}')
  }
  if (doc === null || doc === undefined) return {}
  const shape = 'give a YAML map: <secret name>: {<key>: <value>, ...}'
  if (!isMap(doc)) throw new PipelineError('the secrets argument is not a map of secrets', 'its top level is not a map', shape)
  const out: SecretValues = {}
  for (const [name, keys] of Object.entries(doc)) {
    if (!isMap(keys)) throw new PipelineError(`secret ${name} in the secrets argument is not a map of keys`, 'each secret needs key: value pairs', shape)
    out[name] = {}
    for (const [k, v] of Object.entries(keys)) {
      if (typeof v !== 'string' || v === '') throw new PipelineError(`secret ${name} key ${keyName(k)} has no text value`, 'every value must be a non-empty string', 'quote it in the YAML')
      out[name][k] = v
    }
  }
  return out
}

/** Secret name → the keys already in the cluster. */
export type LiveSecretKeys = Record<string, string[]>

/**
 * What is missing, as "secret/key": a Secret is taken whole either from the argument (then every required key must be
 * there: applying it replaces the keys the deploy set before) or from the cluster. Also what is given that the
 * environment does not require (a typo would otherwise go unnoticed).
 */
export function checkSecrets(required: RequiredSecrets, given: SecretValues, live: LiveSecretKeys): { missing: string[]; unknown: string[] } {
  const missing = Object.entries(required.secrets).flatMap(([name, { keys }]) =>
    keys.filter((k) => (given[name] ? given[name][k] === undefined : !live[name]?.includes(k))).map((k) => `${name}/${k}`))
  const unknown = Object.keys(given).filter((n) => !required.secrets[n])
    .concat(Object.entries(given).flatMap(([n, keys]) => (required.secrets[n] ? Object.keys(keys).filter((k) => !required.secrets[n].keys.includes(k)).map((k) => `${n}/${keyName(k)}`) : [])))
  return { missing, unknown }
}

/** Fails naming what is missing or unknown (never a value). */
export function assertSecrets(required: RequiredSecrets, given: SecretValues, live: LiveSecretKeys): void {
  const { missing, unknown } = checkSecrets(required, given, live)
  if (missing.length) {
    throw new PipelineError(`${required.environment} is missing required secrets`, `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} neither given nor in namespace ${required.namespace}`,
      `pass them in the secrets argument (--secrets file:secrets.yaml, a YAML map <secret>: {<key>: <value>}); the list is k8s/overlays/${required.environment}/required-secrets.yaml`)
  }
  if (unknown.length) {
    throw new PipelineError(`the secrets argument names what ${required.environment} does not use`, unknown.join(', '),
      `fix the name, or add it to k8s/overlays/${required.environment}/required-secrets.yaml`)
  }
}

/** The Secret objects to apply for the given values (Secrets not given stay as they are in the cluster). */
export function secretObjects(required: RequiredSecrets, given: SecretValues, labels: Record<string, string>): Record<string, unknown>[] {
  return Object.entries(given).map(([name, keys]) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: required.namespace, labels },
    type: required.secrets[name].type,
    data: Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  }))
}
