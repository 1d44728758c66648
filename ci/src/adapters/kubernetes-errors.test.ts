// Unit: every way a Kubernetes call fails becomes one KubeError kind that steps decide on, with the API server's own
// words kept apart from the advice, and no advice that names this repository's Make targets (callers add those).
import { describe, expect, it } from 'vitest'
import * as k8s from '@kubernetes/client-node'
import { Kube, KubeError, isKubeError, type KubeErrorKind } from './kubernetes.js'

const kube = Kube.fromString(`
apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://10.0.0.1:6443' } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`, {}, 'the test kubeconfig')

const refusal = (code: number, reason: string, message: string) =>
  new k8s.ApiException(code, 'HTTP-Code', JSON.stringify({ kind: 'Status', reason, message }), {})
const network = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.1:6443`), { code })

const cases: [string, unknown, KubeErrorKind, number, RegExp][] = [
  ['a token not accepted', refusal(401, 'Unauthorized', 'Unauthorized'), 'unauthorized', 401, /authentication failed \(401 Unauthorized\).*the test kubeconfig/],
  ['an RBAC denial', refusal(403, 'Forbidden', 'secrets is forbidden: User "system:serviceaccount:x:y" cannot list resource "secrets"'), 'forbidden', 403, /authorization failed \(403 Forbidden\).*RBAC/],
  ['Pod Security refusing a pod', refusal(403, 'Forbidden', 'pods "api" is forbidden: violates PodSecurity "restricted:latest"'), 'rejected', 403, /could not apply Pod x\/api: 403 Forbidden: pods "api" is forbidden: violates PodSecurity/],
  ['strict field validation', refusal(400, 'BadRequest', '.spec.replicaz: field not declared in schema'), 'invalid', 400, /400 BadRequest: \.spec\.replicaz/],
  ['an invalid object', refusal(422, 'Invalid', 'Deployment.apps "api" is invalid'), 'invalid', 422, /422 Invalid/],
  ['a missing object', refusal(404, 'NotFound', 'deployments.apps "api" not found'), 'not-found', 404, /404 NotFound/],
  ['a changed object', refusal(409, 'Conflict', 'the object has been modified'), 'conflict', 409, /409 Conflict/],
  ['a server error', refusal(500, 'InternalError', 'etcdserver: request timed out'), 'failed', 500, /500 InternalError: etcdserver/],
  ['a refused connection', network('ECONNREFUSED'), 'unreachable', 0, /cannot reach the Kubernetes API server https:\/\/10\.0\.0\.1:6443 .*\(ECONNREFUSED\)/],
  ['an unknown host', network('ENOTFOUND'), 'unreachable', 0, /\(ENOTFOUND\)/],
  ['anything else', new Error('socket hang up'), 'failed', 0, /apply Pod x\/api on https:\/\/10\.0\.0\.1:6443 failed: socket hang up/],
]

describe('Kube.translate', () => {
  it.each(cases)('%s → its kind, the server\'s words kept, no Make target', (_, thrown, kind, status, message) => {
    const err = kube.translate(thrown, 'apply Pod x/api')
    expect(err).toBeInstanceOf(KubeError)
    expect(err).toMatchObject({ kind, status })
    expect(err.message).toMatch(message)
    expect(err.message).not.toMatch(/make |lab-up|lab-status|KUBECONFIG_LAB/)
    expect(isKubeError(err, kind)).toBe(true)
    expect(kube.translate(err, 'again')).toBe(err) // translating twice changes nothing
  })

  it('detail is the server\'s answer alone, as a plan lists it beside the object', () => {
    const err = kube.translate(refusal(422, 'Invalid', 'spec.replicas: Invalid value: -1'), 'dry-run apply Deployment x/api')
    expect(err.detail).toBe('422 Invalid: spec.replicas: Invalid value: -1')
    expect(err.reason).toBe('Invalid')
  })

  it('isKubeError is false for other kinds and other errors', () => {
    const err = kube.translate(refusal(409, 'AlreadyExists', 'exists'), 'create Lease x/deploy-lock')
    expect(isKubeError(err, 'not-found')).toBe(false)
    expect(isKubeError(new Error('409'), 'conflict')).toBe(false)
  })
})
