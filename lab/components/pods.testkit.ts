// A pod for lab tests and benches: placed on the real node (its label and taint), non-root, no service account
// token, every capability dropped (Pod Security `restricted`), one container. What each test varies is the container.
import type * as k8s from '@kubernetes/client-node'
import * as node from './node.mjs'

/** The pod `name` on the real node running `container` (its security context added), labelled `labels`. */
export function realNodePod(name: string, container: k8s.V1Container, opts: { labels?: Record<string, string>; restartPolicy?: string } = {}): k8s.V1Pod {
  return {
    metadata: { name, ...(opts.labels ? { labels: opts.labels } : {}) },
    spec: {
      nodeSelector: { [node.NODE_LABEL.key]: node.NODE_LABEL.value },
      tolerations: [{ key: node.NODE_TAINT.key, operator: 'Equal', value: node.NODE_TAINT.value, effect: node.NODE_TAINT.effect }],
      restartPolicy: opts.restartPolicy ?? 'Never',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ imagePullPolicy: 'IfNotPresent', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, ...container }],
    },
  }
}
