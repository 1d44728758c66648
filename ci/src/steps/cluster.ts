// Step helper: the Kubernetes client of a deploy, from a kubeconfig given as a Dagger Secret (its text never leaves
// memory). In module mode an optional Service stands for an API server on the caller's loopback.
import type { Secret, Service } from '@dagger.io/dagger'
import { Kube } from '../adapters/kubernetes.js'
import { PipelineError } from '../errors.js'

/**
 * A client for the cluster of `kubeconfig`. With `cluster` (e.g. `--cluster tcp://localhost:6443` under `dagger
 * call`, whose function code runs inside the engine, where the caller's 127.0.0.1 is not the API server), the client
 * talks to that Service's endpoint instead, keeping the kubeconfig's host name for TLS verification.
 */
export async function connectCluster(kubeconfig: Secret, cluster?: Service): Promise<Kube> {
  const kube = Kube.fromString(await kubeconfig.plaintext(), {}, 'the kubeconfig given')
  if (!cluster) return kube
  await cluster.start()
  const endpoint = await cluster.endpoint()
  const original = new URL(kube.server)
  const kc = kube.config
  const clusterName = kc.getCurrentCluster()!.name
  kc.clusters = kc.clusters.map((c) => (c.name === clusterName
    ? { ...c, server: `https://${endpoint}`, tlsServerName: c.tlsServerName ?? original.hostname }
    : c))
  if (!kc.getCurrentCluster()?.server.startsWith('https://')) {
    throw new PipelineError('the cluster Service has no endpoint', `it answered "${endpoint}"`, 'pass --cluster tcp://<host>:<port> of the API server')
  }
  return Kube.fromKubeConfig(kc, {}, `the kubeconfig given, through the cluster service ${endpoint}`)
}
