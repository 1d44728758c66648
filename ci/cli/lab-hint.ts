// The lab's own advice for a failed cluster call: the adapter names no Make target, since only here is the cluster
// known to be the lab's (its env file loaded). Only the type is imported: the fast path loads no Kubernetes client.
import type { KubeError } from '../src/adapters/kubernetes.js'

const isKubeError = (err: unknown): err is KubeError => err instanceof Error && err.name === 'KubeError' && 'kind' in err

/** What to do about a cluster failure when the lab's env is loaded; '' otherwise. */
export function labHint(err: unknown, env: NodeJS.ProcessEnv = process.env): string {
  if (!env.KUBECONFIG_LAB || !isKubeError(err)) return ''
  if (err.kind === 'unreachable') return '\n  → the lab\'s cluster: `make lab-status` shows what is down; `make lab-up` starts it'
  if (err.kind === 'unauthorized') return '\n  → the lab\'s credentials: use the kubeconfigs `make lab-up` writes (KUBECONFIG_DEPLOYER, KUBECONFIG_LAB in its env file)'
  return ''
}
