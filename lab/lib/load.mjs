// A bounded HTTP load and an autoscaler watch, for the HPA test (lab/components/metrics-server.test.ts) and its bench
// (bench/hpa.mjs). The load only targets addresses of this machine's lab (a Service's cluster IP, through kube-proxy
// on the host); it is bounded in time and in requests in flight, and every request has its own timeout.
import * as k8s from '@kubernetes/client-node'

/**
 * GET `url` from `concurrency` workers until `seconds` have passed or `signal` aborts; each request times out after
 * `timeoutMs`. Resolves to { sent, ok, failed, seconds }.
 * @param {string} url
 * @param {{ concurrency?: number, seconds?: number, timeoutMs?: number, signal?: AbortSignal }} [options]
 */
export async function load(url, { concurrency = 8, seconds = 120, timeoutMs = 5000, signal } = {}) {
  const t0 = performance.now()
  const until = Date.now() + seconds * 1000
  const counts = { sent: 0, ok: 0, failed: 0 }
  const worker = async () => {
    while (Date.now() < until && !signal?.aborted) {
      counts.sent++
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
        await r.arrayBuffer()
        if (r.ok) counts.ok++
        else counts.failed++
      } catch {
        counts.failed++
        await new Promise((r) => setTimeout(r, 100)) // a refused connection does not spin
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { ...counts, seconds: (performance.now() - t0) / 1000 }
}

/**
 * The HPA's view: { desired, current, cpu (average utilisation %, or undefined before the first metrics) }.
 * @param {k8s.KubeConfig} kc
 * @param {string} namespace
 * @param {string} name
 */
export async function hpaState(kc, namespace, name) {
  const hpa = await kc.makeApiClient(k8s.AutoscalingV2Api).readNamespacedHorizontalPodAutoscaler({ name, namespace })
  const cpu = hpa.status?.currentMetrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu')?.resource?.current?.averageUtilization
  return { desired: hpa.status?.desiredReplicas ?? 0, current: hpa.status?.currentReplicas ?? 0, cpu }
}

/**
 * The Deployment's Ready replicas.
 * @param {k8s.KubeConfig} kc
 * @param {string} namespace
 * @param {string} name
 */
export async function readyReplicas(kc, namespace, name) {
  const dep = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name, namespace })
  return dep.status?.readyReplicas ?? 0
}

/**
 * Polls every `everyMs` until `done(state)` is true for the Deployment's Ready replicas and the HPA's state, or
 * `timeoutMs` passes. Resolves to { ok, seconds, state, samples } (samples: [seconds, ready, desired, cpu] rows).
 * @param {k8s.KubeConfig} kc
 * @param {string} namespace
 * @param {string} name
 * @param {(state: { ready: number, desired: number, current: number, cpu?: number }) => boolean} done
 * @param {{ timeoutMs: number, everyMs?: number, since?: number }} options
 */
export async function watchScale(kc, namespace, name, done, { timeoutMs, everyMs = 2000, since = performance.now() }) {
  const samples = []
  const until = performance.now() + timeoutMs
  for (;;) {
    const h = await hpaState(kc, namespace, name).catch(() => ({ desired: 0, current: 0, cpu: undefined }))
    const state = { ready: await readyReplicas(kc, namespace, name).catch(() => 0), ...h }
    const seconds = (performance.now() - since) / 1000
    samples.push([Number(seconds.toFixed(1)), state.ready, state.desired, state.cpu])
    if (done(state)) return { ok: true, seconds, state, samples }
    if (performance.now() > until) return { ok: false, seconds, state, samples }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
