#!/usr/bin/env node
// What the lab's ingress controller (lab/components/ingress.mjs) costs.
//   latency (default): GET /status of an environment's API, one request at a time, straight to the Service (plain
//     HTTP to its ClusterIP, kept-alive connection) beside through the ingress (HTTPS on 127.0.0.1:443 with the lab CA:
//     a kept-alive connection, and a new TLS connection per request), printed side by side.
// Traefik's cold cost on a fresh machine (its wheel's download) is in `make bench-lab ARGS=--cold-builds`.
// Usage (lab up, lab.env loaded): node bench/ingress.mjs [--env dev] [--runs N]
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { $, argv } from 'zx'
import * as k8s from '@kubernetes/client-node'
import { percentile, timeRuns } from './timing.mjs'

$.verbose = false
const need = (k) => process.env[k] ?? (() => { throw new Error(`${k} is not set: load ~/.graphmemory-lab/state/lab.env`) })()

const time = timeRuns

/** One GET with the given module and options; fails on anything but 200. */
const get = (mod, opts) => new Promise((resolve, reject) => {
  const req = mod.get(opts, (res) => {
    res.resume()
    res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${opts.headers?.host ?? opts.host}${opts.path}: ${res.statusCode}`))))
  })
  req.on('error', reject)
})

async function latency() {
  const env = argv.env ?? 'dev'
  const runs = Number(argv.runs ?? 200)
  const namespace = `graphmemory-${env}`
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(need('KUBECONFIG_LAB'))
  const net = kc.makeApiClient(k8s.NetworkingV1Api)
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const [ing] = (await net.listNamespacedIngress({ namespace })).items
  const rule = ing.spec.rules.find((r) => r.http.paths[0].backend.service.name === 'api')
  const address = ing.status?.loadBalancer?.ingress?.[0]?.ip
  if (!address) throw new Error(`the Ingress of ${namespace} has no address: is the lab's ingress up (make lab-up)?`)
  const svc = await core.readNamespacedService({ name: 'api', namespace })
  const ca = fs.readFileSync(need('LAB_INGRESS_CA'))
  const keep = { http: new http.Agent({ keepAlive: true, maxSockets: 1 }), https: new https.Agent({ keepAlive: true, maxSockets: 1, ca }) }
  const viaIngress = (agent) => ({ host: address, port: 443, servername: rule.host, headers: { host: rule.host }, path: '/status', ca, agent })
  const cases = [
    ['Service (HTTP, ClusterIP)', () => get(http, { host: svc.spec.clusterIP, port: svc.spec.ports[0].port, path: '/status', agent: keep.http })],
    ['ingress (HTTPS, kept-alive)', () => get(https, viaIngress(keep.https))],
    ['ingress (HTTPS, new TLS each)', () => get(https, viaIngress(false))],
  ]
  console.log(`GET /status of ${namespace}'s API, ${runs} sequential requests each (ms)`)
  console.log(`${'path'.padEnd(30)} ${'p50'.padStart(7)} ${'p90'.padStart(7)} ${'p99'.padStart(7)} ${'mean'.padStart(7)}`)
  const pct = (ms, p) => percentile(ms, p, 2)
  for (const [label, once] of cases) {
    const ms = await time(once, runs)
    console.log(`${label.padEnd(30)} ${pct(ms, 0.5).padStart(7)} ${pct(ms, 0.9).padStart(7)} ${pct(ms, 0.99).padStart(7)} ${(ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(2).padStart(7)}`)
  }
  keep.http.destroy()
  keep.https.destroy()
}

await latency()
