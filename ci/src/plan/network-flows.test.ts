// The NetworkPolicy semantics the flow check relies on, each on a small hand-made set of policies.
import { describe, expect, it } from 'vitest'
import type { K8sObject } from './manifests.js'
import { allowed, allowedFlows, inCidr, policyPorts, selects, type Endpoint, type Port } from './network-flows.js'

const NS = 'gm'
const pod = (name: string, namespace = NS, labels: Record<string, string> = { app: name }): Endpoint =>
  ({ name: namespace === NS ? name : `${namespace}/${name}`, namespace, namespaceLabels: { 'kubernetes.io/metadata.name': namespace }, labels })
const policy = (name: string, spec: Record<string, unknown>, namespace = NS): K8sObject =>
  ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec })
const tcp = (port: number): Port => ({ protocol: 'TCP', port })

const web = pod('web')
const db = pod('db')
const elsewhere = pod('web', 'other') // another namespace's pod with the same labels
const internet: Endpoint = { name: 'internet', ip: '203.0.113.10' }
const denyAll = policy('deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })

describe('selects', () => {
  it('matchLabels and every matchExpressions operator; an empty selector selects all', () => {
    expect(selects({}, { a: '1' })).toBe(true)
    expect(selects(undefined, {})).toBe(true)
    expect(selects({ matchLabels: { a: '1' } }, { a: '1', b: '2' })).toBe(true)
    expect(selects({ matchLabels: { a: '1' } }, { a: '2' })).toBe(false)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }] }, { a: '2' })).toBe(true)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1'] }] }, {})).toBe(false)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, {})).toBe(true)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, { a: '1' })).toBe(false)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' })).toBe(true)
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: '' })).toBe(false)
  })

  it('inCidr', () => {
    expect(inCidr('10.1.2.3', '10.0.0.0/8')).toBe(true)
    expect(inCidr('11.0.0.1', '10.0.0.0/8')).toBe(false)
    expect(inCidr('203.0.113.10', '0.0.0.0/0')).toBe(true)
    expect(inCidr('203.0.113.10', '203.0.113.10/32')).toBe(true)
  })
})

describe('allowed', () => {
  it('without any policy everything is open; a default deny closes both directions', () => {
    expect(allowed([], web, db, tcp(5432))).toBe(true)
    expect(allowed([denyAll], web, db, tcp(5432))).toBe(false)
    expect(allowed([denyAll], internet, web, tcp(80))).toBe(false)
    expect(allowed([denyAll], web, internet, tcp(443))).toBe(false)
  })

  it('needs both ends: the egress of the source and the ingress of the destination', () => {
    const egress = policy('web-out', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }], ports: [{ port: 5432 }] }] })
    const ingress = policy('db-in', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'TCP', port: 5432 }] }] })
    expect(allowed([denyAll, egress], web, db, tcp(5432))).toBe(false)
    expect(allowed([denyAll, ingress], web, db, tcp(5432))).toBe(false)
    expect(allowed([denyAll, egress, ingress], web, db, tcp(5432))).toBe(true)
    expect(allowed([denyAll, egress, ingress], web, db, tcp(5433))).toBe(false)
    expect(allowed([denyAll, egress, ingress], web, db, { protocol: 'UDP', port: 5432 })).toBe(false)
    expect(allowed([denyAll, egress, ingress], db, web, tcp(5432))).toBe(false)
  })

  it('a podSelector peer alone means pods of the policy namespace; a namespaceSelector reaches other namespaces', () => {
    const fromWeb = policy('db-in', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] })
    expect(allowed([fromWeb], web, db, tcp(1))).toBe(true)
    expect(allowed([fromWeb], elsewhere, db, tcp(1))).toBe(false)
    const fromOther = policy('db-in', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } }] }] })
    expect(allowed([fromOther], elsewhere, db, tcp(1))).toBe(true)
    expect(allowed([fromOther], web, db, tcp(1))).toBe(false)
    expect(allowed([fromOther], internet, db, tcp(1))).toBe(false)
  })

  it('a rule without peers lets any peer through, one without ports any port; ipBlock matches addresses', () => {
    const anyPeer = policy('out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 443 }] }] })
    expect(allowed([anyPeer], web, internet, tcp(443))).toBe(true)
    expect(allowed([anyPeer], web, elsewhere, tcp(443))).toBe(true)
    expect(allowed([anyPeer], web, internet, tcp(80))).toBe(false)
    const anyPort = policy('out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] } }] }] })
    expect(allowed([anyPort], web, internet, tcp(12345))).toBe(true)
    expect(allowed([anyPort], web, { name: 'x', ip: '203.0.113.200' }, tcp(1))).toBe(false)
    expect(allowed([anyPort], web, db, tcp(1))).toBe(false) // ipBlock does not match pods
  })

  it('a port range; a named port is refused rather than guessed', () => {
    const range = policy('in', { podSelector: {}, ingress: [{ ports: [{ port: 8000, endPort: 8010 }] }] })
    expect(allowed([range], web, db, tcp(8005))).toBe(true)
    expect(allowed([range], web, db, tcp(8011))).toBe(false)
    const named = policy('in', { podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] })
    expect(() => allowed([named], web, db, tcp(80))).toThrow('named port "http"')
  })

  it('policyTypes default: Ingress, plus Egress when egress rules are given', () => {
    const ingressOnly = policy('p', { podSelector: {}, ingress: [] })
    expect(allowed([ingressOnly], web, internet, tcp(1))).toBe(true)
    expect(allowed([ingressOnly], internet, web, tcp(1))).toBe(false)
    const both = policy('p', { podSelector: {}, egress: [] })
    expect(allowed([both], web, internet, tcp(1))).toBe(false)
  })
})

describe('allowedFlows', () => {
  it('lists each allowed connection once, only those with an end in the namespace', () => {
    const ingress = policy('db-in', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5432 }] }] })
    const objs = [denyAll, policy('web-out', { podSelector: { matchLabels: { app: 'web' } }, egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }] }), ingress]
    const ports = [...policyPorts([...objs, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db' }, spec: { ports: [{ port: 7 }] } }]), tcp(1)]
    expect(ports.map((p) => p.port)).toEqual([5432, 1])
    expect(allowedFlows(objs, NS, [web, db, elsewhere, internet], ports)).toEqual(['web → db TCP/5432'])
    // no policy at all: everything open
    expect(allowedFlows([], NS, [web, internet], [tcp(1)])).toEqual(['internet → web TCP/1', 'web → internet TCP/1', 'web → web TCP/1'])
  })
})
