// Pure: which connections a set of Kubernetes NetworkPolicies lets through, as the API's semantics define them. A
// connection from A to B on a port is allowed when A's egress allows it (or no egress policy selects A) and B's
// ingress allows it (or no ingress policy selects B); policies only govern pods of their own namespace, so an end
// outside it (another namespace's pod, an address outside the cluster) is judged by the other end alone. Used to
// compare what the rendered policies open with the flows the application is meant to have.
import type { K8sObject } from './manifests.js'

/** A label selector as NetworkPolicies write it. */
export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[]
}

interface Peer {
  podSelector?: LabelSelector
  namespaceSelector?: LabelSelector
  ipBlock?: { cidr: string; except?: string[] }
}

interface PolicyPort {
  protocol?: string
  port?: number | string
  endPort?: number
}

interface Rule {
  from?: Peer[]
  to?: Peer[]
  ports?: PolicyPort[]
}

interface PolicySpec {
  podSelector?: LabelSelector
  policyTypes?: ('Ingress' | 'Egress')[]
  ingress?: Rule[]
  egress?: Rule[]
}

/** One end of a connection: a pod (namespace and labels), or an address outside the cluster (ip only). */
export interface Endpoint {
  name: string
  namespace?: string
  /** The labels of the pod's namespace (kubernetes.io/metadata.name included). */
  namespaceLabels?: Record<string, string>
  labels?: Record<string, string>
  ip?: string
}

/** A destination port. */
export interface Port {
  protocol: 'TCP' | 'UDP' | 'SCTP'
  port: number
}

/** True when `labels` satisfy the selector ({} selects everything). */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return true
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v)
  return byLabels && (selector.matchExpressions ?? []).every((e) => {
    const has = Object.hasOwn(labels, e.key)
    if (e.operator === 'In') return has && (e.values ?? []).includes(labels[e.key])
    if (e.operator === 'NotIn') return !has || !(e.values ?? []).includes(labels[e.key])
    if (e.operator === 'Exists') return has
    if (e.operator === 'DoesNotExist') return !has
    throw new Error(`unknown label selector operator ${String(e.operator)}`)
  })
}

const ipToInt = (ip: string): number => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0)

/** True when an IPv4 address lies in a CIDR block. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/')
  const size = 2 ** (32 - Number(bits ?? 32))
  const start = Math.floor(ipToInt(base) / size) * size
  return ipToInt(ip) >= start && ipToInt(ip) < start + size
}

/** True when a rule's peer matches `e`; `namespace` is the policy's own (a podSelector alone means pods there). */
function peerMatches(peer: Peer, e: Endpoint, namespace: string): boolean {
  if (peer.ipBlock) return e.ip !== undefined && inCidr(e.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(e.ip!, c))
  if (e.namespace === undefined) return false // pod and namespace selectors match pods only
  if (peer.namespaceSelector) return selects(peer.namespaceSelector, e.namespaceLabels) && selects(peer.podSelector, e.labels)
  return e.namespace === namespace && selects(peer.podSelector, e.labels)
}

function portMatches(p: PolicyPort, port: Port): boolean {
  if ((p.protocol ?? 'TCP') !== port.protocol) return false
  if (p.port === undefined) return true
  if (typeof p.port === 'string') throw new Error(`named port "${p.port}" in a NetworkPolicy: this check reads numbers only`)
  return port.port >= p.port && port.port <= (p.endPort ?? p.port)
}

/** True when a rule (peers absent: any peer; ports absent: any port) lets `peer` through on `port`. */
function ruleAllows(rule: Rule, peers: Peer[] | undefined, peer: Endpoint, port: Port, namespace: string): boolean {
  const peerOk = !peers?.length || peers.some((p) => peerMatches(p, peer, namespace))
  const portOk = !rule.ports?.length || rule.ports.some((p) => portMatches(p, port))
  return peerOk && portOk
}

const typesOf = (spec: PolicySpec): string[] => spec.policyTypes ?? (spec.egress ? ['Ingress', 'Egress'] : ['Ingress'])

/** Whether `pod`'s side lets the connection with `peer` through, in one direction. */
function sideAllows(policies: K8sObject[], pod: Endpoint, peer: Endpoint, port: Port, direction: 'Ingress' | 'Egress'): boolean {
  if (pod.namespace === undefined) return true // not a pod: no policy governs it
  const governing = policies.filter((p) => p.metadata.namespace === pod.namespace &&
    typesOf(p.spec as PolicySpec).includes(direction) && selects((p.spec as PolicySpec).podSelector, pod.labels))
  if (!governing.length) return true
  return governing.some((p) => {
    const spec = p.spec as PolicySpec
    const rules = (direction === 'Ingress' ? spec.ingress : spec.egress) ?? []
    return rules.some((r) => ruleAllows(r, direction === 'Ingress' ? r.from : r.to, peer, port, p.metadata.namespace!))
  })
}

/** True when the policies allow a connection from `src` to `dst` on `port`. */
export function allowed(policies: K8sObject[], src: Endpoint, dst: Endpoint, port: Port): boolean {
  return sideAllows(policies, src, dst, port, 'Egress') && sideAllows(policies, dst, src, port, 'Ingress')
}

/** Every port a NetworkPolicy among `objects` names (the ends of a range too), for probing. */
export function policyPorts(objects: K8sObject[]): Port[] {
  const out: Port[] = []
  for (const p of objects.filter((o) => o.kind === 'NetworkPolicy')) {
    const spec = p.spec as PolicySpec
    for (const r of [...(spec.ingress ?? []), ...(spec.egress ?? [])]) {
      for (const pp of r.ports ?? []) {
        if (typeof pp.port !== 'number') continue
        for (const n of [pp.port, pp.endPort].filter((x): x is number => x !== undefined)) out.push({ protocol: (pp.protocol ?? 'TCP') as Port['protocol'], port: n })
      }
    }
  }
  return out
}

/**
 * The allowed connections among `endpoints` on each of `ports`, as "src → dst PROTOCOL/port" lines, sorted: those with
 * at least one end in `namespace` (two ends outside it are not its policies' to judge).
 */
export function allowedFlows(objects: K8sObject[], namespace: string, endpoints: Endpoint[], ports: Port[]): string[] {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy')
  const unique = [...new Map(ports.map((p) => [`${p.protocol}/${p.port}`, p])).values()]
  const out = new Set<string>()
  for (const src of endpoints) {
    for (const dst of endpoints) {
      if (src.namespace !== namespace && dst.namespace !== namespace) continue
      for (const port of unique) if (allowed(policies, src, dst, port)) out.add(`${src.name} → ${dst.name} ${port.protocol}/${port.port}`)
    }
  }
  return [...out].sort()
}
