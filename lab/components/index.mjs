// The lab's components, in start order, and the env file they publish together.
import fs from 'node:fs'
import { ENV_FILE, STATE } from '../lib/paths.mjs'
import * as docker from './docker.mjs'
import * as registries from './registries.mjs'
import * as baseImages from './base-images.mjs'
import * as dagger from './dagger.mjs'
import * as scanners from './scanners.mjs'
import * as signing from './signing.mjs'
import * as monitoring from './monitoring.mjs'
import * as kustomize from './kustomize.mjs'
import * as actionlint from './actionlint.mjs'
import * as kubernetes from './kubernetes.mjs'
import * as deployer from './deployer.mjs'
import * as node from './node.mjs'
import * as storage from './storage.mjs'
import * as objectStore from './object-store.mjs'
import * as victorialogs from './victorialogs.mjs'
import * as jaeger from './jaeger.mjs'
import * as logCollector from './log-collector.mjs'
import * as kubeStateMetrics from './kube-state-metrics.mjs'
import * as admission from './admission.mjs'
import * as ingress from './ingress.mjs'
import * as metricsServer from './metrics-server.mjs'
import * as networkPolicy from './network-policy.mjs'
import * as testTools from './test-tools.mjs'

/**
 * Every component, checked against the contract (component.d.ts) by `npx tsc -p lab`. The policy agent starts right
 * after the node: while it is down, the iptables rules it left behind still judge the node's pods against stale sets
 * (a restarted machine's pods were refused the API server), so it syncs before any workload is waited for.
 * @type {import('./component.js').Component[]}
 */
export const components = [docker, registries, baseImages, dagger, scanners, signing, monitoring, kustomize, actionlint, kubernetes, deployer, node, networkPolicy, storage, objectStore, victorialogs, jaeger, logCollector, kubeStateMetrics, admission, ingress, metricsServer, testTools]

/** Writes state/lab.env (KEY=value lines, loadable by make, shells and the tests). */
export function writeEnvFile() {
  const vars = Object.assign({}, ...components.map((c) => c.env?.() ?? {}))
  fs.mkdirSync(STATE, { recursive: true })
  fs.writeFileSync(ENV_FILE, Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join(''))
}
