// The lab's real node against the running cluster (`make lab-up`): pods from the lab's images really pull, start,
// probe, crash and log; Services route and their names resolve. Each test makes its own pods in a throw-away namespace.
// Stopping, restarting and unregistering a node is done to a second node of the file's own (instance 1), never to the
// lab's node, which other test files use at the same time.
import { execFileSync, spawnSync } from 'node:child_process'
import { pollUntil, runningPid } from '../lib/proc.mjs'
import { deleteTags } from '../lib/images.mjs'
import { waitDefaultServiceAccount } from '../lib/kube.mjs'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as kube from './kubernetes.mjs'
import * as node from './node.mjs'

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run \`make lab-up\` and load ~/.graphmemory-lab/state/lab.env`)
  return v
}

const ns = `lab-node-test-${Date.now().toString(36)}`
let core: k8s.CoreV1Api

/** What a pod needs to land on the real node: its label as nodeSelector, and a toleration of its taint. */
const onRealNode = {
  nodeSelector: { [node.NODE_LABEL.key]: node.NODE_LABEL.value },
  tolerations: [{ key: node.NODE_TAINT.key, operator: 'Equal', value: node.NODE_TAINT.value, effect: node.NODE_TAINT.effect }],
}

function pod(name: string, container: Partial<k8s.V1Container>, spec: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      ...onRealNode,
      terminationGracePeriodSeconds: 1,
      enableServiceLinks: false,
      ...spec,
      containers: [{ name: 'main', image: env('LAB_IMAGE_PYTHON_RUNTIME'), imagePullPolicy: 'IfNotPresent', ...container }],
    },
  }
}

const create = (p: k8s.V1Pod) => core.createNamespacedPod({ namespace: ns, body: p })

async function events(name: string): Promise<string[]> {
  const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` })
  return list.items.map((e) => `${e.reason}: ${e.message}`)
}

/**
 * The pod's events once one matches `pattern` (events are recorded a moment after the status they explain); on
 * timeout fails with the events seen.
 */
async function eventMatching(name: string, pattern: RegExp, timeoutMs = 30000): Promise<string> {
  const all = await pollUntil(() => events(name), {
    timeoutMs, everyMs: 500, done: (seen) => seen.some((e) => pattern.test(e)),
    onTimeout: (last) => new Error(`pod ${ns}/${name}: no event matching ${pattern} after ${timeoutMs / 1000}s; events:\n` +
      `${Array.isArray(last) ? last.join('\n') : String(last)}`),
  })
  return all.join('\n')
}

/** Polls the pod until `done` holds; on timeout fails with the pod's status and events. */
async function waitPod(name: string, what: string, done: (p: k8s.V1Pod) => boolean, timeoutMs = 90000): Promise<k8s.V1Pod> {
  return pollUntil(() => core.readNamespacedPod({ name, namespace: ns }), {
    timeoutMs, everyMs: 500, done,
    onTimeout: async (last) => new Error(`pod ${ns}/${name} is not ${what} after ${timeoutMs / 1000}s: ${JSON.stringify((last as k8s.V1Pod | undefined)?.status, null, 1)}\n` +
      `events:\n${(await events(name)).join('\n')}`),
  })
}

const condition = (p: k8s.V1Pod, type: string) => p.status?.conditions?.find((c) => c.type === type)?.status
const waiting = (p: k8s.V1Pod) => p.status?.containerStatuses?.[0]?.state?.waiting
const running = (p: k8s.V1Pod) => Boolean(p.status?.containerStatuses?.[0]?.state?.running)

/** A Python web server serving one page; readiness is checked on `probePath`. */
const webServer = (marker: string, probePath = '/'): Partial<k8s.V1Container> => ({
  command: ['sh', '-c', `mkdir -p /tmp/www && echo ${marker} > /tmp/www/index.html && echo "serving ${marker}" && exec python3 -u -m http.server 8080 -d /tmp/www`],
  ports: [{ containerPort: 8080, name: 'http' }],
  readinessProbe: { httpGet: { path: probePath, port: 8080 }, periodSeconds: 1, failureThreshold: 1, timeoutSeconds: 2 },
})

describe('the lab real node', () => {
  beforeAll(async () => {
    const [row] = await node.status()
    if (row.state !== 'ok') throw new Error(`the lab's real node is ${row.state} (${row.address}): run \`make lab-up\` first`)
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(env('KUBECONFIG_LAB'))
    core = kc.makeApiClient(k8s.CoreV1Api)
    await core.createNamespace({ body: { metadata: { name: ns, labels: { 'graphmemory.dev/test': 'lab-node' } } } })
    // the default ServiceAccount (made by the controller-manager) must exist before pods can be created
    await waitDefaultServiceAccount(core, ns)
  })

  afterAll(async () => {
    if (core) await core.deleteNamespace({ name: ns }).catch(() => undefined)
  })

  it('is registered labelled and tainted, with a container runtime, and keeps pods that do not ask away', async () => {
    const n = await core.readNode({ name: node.NODE_NAME })
    expect(n.metadata?.labels?.[node.NODE_LABEL.key]).toBe(node.NODE_LABEL.value)
    expect(n.spec?.taints).toContainEqual(node.NODE_TAINT)
    expect(n.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\./)
    expect(n.status?.addresses).toContainEqual({ type: 'InternalIP', address: node.NODE_IP })
    // a pod that asks for the node but does not tolerate its taint is not scheduled anywhere
    await create({ ...pod('no-toleration', { command: ['sleep', '60'] }), spec: { ...pod('x', {}).spec!, tolerations: [] } })
    const p = await waitPod('no-toleration', 'refused by the scheduler', (q) => condition(q, 'PodScheduled') === 'False', 30000)
    expect(p.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message).toMatch(/1 node\(s\) had untolerated taint/)
    // a pod that does not ask lands on a fake node
    const plain = pod('plain', { command: ['sleep', '60'] }, { nodeSelector: undefined, tolerations: undefined })
    await create(plain)
    const q = await waitPod('plain', 'scheduled', (x) => Boolean(x.spec?.nodeName), 30000)
    expect(kube.NODES).toContain(q.spec?.nodeName)
  })

  it('listens only on the loopback and on the node bridge address (not routed from outside the machine)', () => {
    const pids = ['node-containerd', 'kubelet', 'kube-proxy', 'coredns', 'node-api-relay'].map((d) => runningPid(d))
    expect(pids.every(Boolean)).toBe(true)
    const lines = execFileSync('ss', ['-ltnupH'], { encoding: 'utf8' }).split('\n').filter((l) => pids.some((p) => l.includes(`pid=${p},`)))
    expect(lines.length).toBeGreaterThanOrEqual(6)
    for (const l of lines) expect(l.split(/\s+/)[4]).toMatch(new RegExp(`^(127\\.0\\.0\\.1|${node.NODE_IP.replace(/\./g, '\\.')}):\\d+$`))
  })

  it('runs a pod from the lab Python image: a readiness probe against its HTTP server turns it Ready, its logs come back', async () => {
    await create(pod('web', webServer('hello-from-the-real-node')))
    const p = await waitPod('web', 'Ready', (q) => condition(q, 'Ready') === 'True')
    expect(p.spec?.nodeName).toBe(node.NODE_NAME)
    expect(p.status?.podIP).toMatch(/^10\.88\.0\./)
    // the logs travel API server → kubelet (client certificate, serving certificate checked against the lab CA)
    const logs = await core.readNamespacedPodLog({ name: 'web', namespace: ns })
    expect(logs).toContain('serving hello-from-the-real-node')
    // http.server logs every request: the kubelet's probe really reached it
    expect(logs).toMatch(/"GET \/ HTTP\/1\.1" 200/)
  })

  it('a container that exits at start reaches CrashLoopBackOff, with its exit code', async () => {
    await create(pod('crash', { command: ['python3', '-c', 'import sys; print("starting and failing"); sys.exit(3)'] }))
    // the kubelet's verdict: the container waits in CrashLoopBackOff between restarts (status), and says so in a
    // BackOff event; under load the status can lag behind the event, so either one, after a restart, counts
    const backedOff = async (p: k8s.V1Pod) => waiting(p)?.reason === 'CrashLoopBackOff' ||
      ((p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && (await events('crash')).some((e) => /^BackOff: Back-off restarting failed container/.test(e)))
    const { p } = await pollUntil(async () => {
      const q = await core.readNamespacedPod({ name: 'crash', namespace: ns })
      return { p: q, done: await backedOff(q) }
    }, {
      timeoutMs: 120000, everyMs: 500, done: (r) => r.done, describe: (r) => JSON.stringify(r.p.status, null, 1),
      onTimeout: async (_, seen) => new Error(`pod ${ns}/crash: no CrashLoopBackOff after 120s: ${seen}\n` +
        `events:\n${(await events('crash')).join('\n')}`),
    })
    const status = p.status!.containerStatuses![0]
    expect(status.lastState?.terminated?.exitCode).toBe(3)
    expect(status.restartCount).toBeGreaterThanOrEqual(1)
    // the last run's output: while the container shows as terminated it is the current one; once it waits (back-off)
    // or runs again, the previous one (the kubelet keeps only the newest dead container of a pod, so asking for
    // `previous` while the newest is still shown as terminated finds nothing)
    await expect.poll(async () => {
      const q = await core.readNamespacedPod({ name: 'crash', namespace: ns })
      const previous = !q.status?.containerStatuses?.[0]?.state?.terminated
      return core.readNamespacedPodLog({ name: 'crash', namespace: ns, previous }).catch((e) => String(e))
    }, { timeout: 30000, interval: 1000, message: `the log of pod ${ns}/crash's last run` }).toContain('starting and failing')
  })

  it('an image reference whose digest does not exist gives ErrImagePull / ImagePullBackOff', async () => {
    const repo = env('LAB_IMAGE_PYTHON_RUNTIME').replace(/:[^:/]+$/, '')
    await create(pod('missing-digest', { image: `${repo}@sha256:${'0'.repeat(64)}`, command: ['true'] }))
    const p = await waitPod('missing-digest', 'failing to pull', (q) => ['ErrImagePull', 'ImagePullBackOff'].includes(waiting(q)?.reason ?? ''))
    expect(running(p)).toBe(false)
    expect(await eventMatching('missing-digest', /Failed to pull image .*not found/)).toMatch(/Failed to pull image .*not found/)
  })

  it('a failing readiness probe keeps a running pod unready', async () => {
    await create(pod('unready', webServer('never-ready', '/healthz')))
    await waitPod('unready', 'running', running)
    await new Promise((r) => setTimeout(r, 6000)) // fixed, not a poll: it proves an absence (no Ready over several probe periods)
    const p = await core.readNamespacedPod({ name: 'unready', namespace: ns })
    expect(running(p)).toBe(true)
    expect(condition(p, 'Ready')).toBe('False')
    const probe = /Readiness probe failed: HTTP probe failed with statuscode: 404/
    expect(await eventMatching('unready', probe)).toMatch(probe)
  })

  it('pulls from the release registry with the pull secret, and is refused without it', async () => {
    const release = env('LAB_RELEASE_REGISTRY')
    const image = `${release}/lab-test/node-pull:${ns}`
    const config = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-node-test-'))
    try {
      // a private image of our own: the lab Python image under a new name in the release registry
      execFileSync('docker', ['--config', config, 'login', '-u', env('LAB_RELEASE_USER'), '--password-stdin', release],
        { input: fs.readFileSync(env('LAB_RELEASE_PASSWORD_FILE')), stdio: ['pipe', 'ignore', 'pipe'] })
      execFileSync('docker', ['pull', '-q', env('LAB_IMAGE_PYTHON_RUNTIME')], { stdio: 'ignore' })
      execFileSync('docker', ['tag', env('LAB_IMAGE_PYTHON_RUNTIME'), image])
      execFileSync('docker', ['--config', config, 'push', '-q', image], { stdio: 'ignore' })
    } finally {
      fs.rmSync(config, { recursive: true, force: true })
      spawnSync('docker', ['rmi', image], { stdio: 'ignore' })
    }
    // first without the secret (the node has not pulled this image yet, so nothing cached can hide the refusal)
    await create(pod('no-secret', { image, command: ['sleep', '3600'] }))
    await waitPod('no-secret', 'refused by the registry', (q) => ['ErrImagePull', 'ImagePullBackOff'].includes(waiting(q)?.reason ?? ''))
    const refused = /Failed to pull image .*401 Unauthorized/
    expect(await eventMatching('no-secret', refused)).toMatch(refused)

    await node.ensurePullSecret(ns)
    await create(pod('with-secret', { image, command: ['sleep', '3600'] }, { imagePullSecrets: [{ name: node.PULL_SECRET }] }))
    await waitPod('with-secret', 'running', running)
    // the test image's tag leaves the registry again (its layers are the mirror image's, shared)
    const auth = `Basic ${Buffer.from(`${env('LAB_RELEASE_USER')}:${fs.readFileSync(env('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim()}`).toString('base64')}`
    await deleteTags(release, 'lab-test/node-pull', [ns], { authorization: auth })
  })

  it('a Service name resolves from another pod (cluster DNS) and reaches the first pod (kube-proxy)', async () => {
    await create(pod('dns-web', webServer('answer-through-the-service')))
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'dns-web' }, spec: { selector: { app: 'dns-web' }, ports: [{ port: 80, targetPort: 8080 }] } },
    })
    await waitPod('dns-web', 'Ready', (q) => condition(q, 'Ready') === 'True')
    // tried for up to 30 s, as a client of a Service just made would: CoreDNS and kube-proxy learn of it by their
    // watches a moment later (a single try failed on a fresh machine's lab)
    const script = [
      'import socket, time, urllib.request',
      'deadline = time.time() + 30',
      'while True:',
      '    try:',
      `        ip = socket.gethostbyname("dns-web.${ns}.svc.cluster.local")`,
      '        body = urllib.request.urlopen("http://dns-web/", timeout=5).read().decode().strip()',
      '        break',
      '    except OSError as e:',
      '        if time.time() > deadline: raise',
      '        print("not yet:", e, flush=True)',
      '        time.sleep(1)',
      'print("resolved", ip)',
      'print(body)',
    ].join('\n')
    await create(pod('dns-client', { command: ['python3', '-c', script] }, { restartPolicy: 'Never' }))
    await waitPod('dns-client', 'finished', (q) => ['Succeeded', 'Failed'].includes(q.status?.phase ?? ''))
    const svc = await core.readNamespacedService({ name: 'dns-web', namespace: ns })
    const logs = await core.readNamespacedPodLog({ name: 'dns-client', namespace: ns })
    expect(logs).toContain(`resolved ${svc.spec?.clusterIP}`)
    expect(logs).toContain('answer-through-the-service')
  })

  it('a Deployment whose pods crash on the real node fails its rollout (what the pipeline rollback reacts to)', async () => {
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(env('KUBECONFIG_LAB'))
    const apps = kc.makeApiClient(k8s.AppsV1Api)
    const template = pod('crashing-release', { command: ['python3', '-c', 'raise SystemExit("bad release")'] })
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'crashing-release' },
        spec: {
          // a container that crashes a second after it starts is Ready for that second (no readiness probe): without
          // minReadySeconds the rollout would count it available and succeed, then lose it (seen here)
          replicas: 1, progressDeadlineSeconds: 15, minReadySeconds: 10, selector: { matchLabels: { app: 'crashing-release' } },
          template: { metadata: template.metadata, spec: template.spec },
        },
      },
    })
    const d = await pollUntil(() => apps.readNamespacedDeployment({ name: 'crashing-release', namespace: ns }), {
      timeoutMs: 120000, everyMs: 1000,
      done: (x) => x.status?.conditions?.find((c) => c.type === 'Progressing')?.reason === 'ProgressDeadlineExceeded',
      describe: (x) => JSON.stringify(x.status),
      onTimeout: (_, seen) => new Error(`deployment ${ns}/crashing-release: no ProgressDeadlineExceeded after 120s: ${seen}`),
    })
    expect(d.status?.availableReplicas ?? 0).toBe(0)
  })

  it('a pod reaches the API server as https://kubernetes.default.svc with its service-account token and the cluster CA', async () => {
    const script = [
      'import json, ssl, urllib.request',
      'sa = "/var/run/secrets/kubernetes.io/serviceaccount"',
      'ctx = ssl.create_default_context(cafile=sa + "/ca.crt")',
      'req = urllib.request.Request("https://kubernetes.default.svc/version", headers={"Authorization": "Bearer " + open(sa + "/token").read()})',
      'print("version", json.load(urllib.request.urlopen(req, context=ctx, timeout=10))["gitVersion"])',
    ].join('\n')
    await create(pod('in-cluster', { command: ['python3', '-c', script] }, { restartPolicy: 'Never' }))
    const p = await waitPod('in-cluster', 'finished', (q) => ['Succeeded', 'Failed'].includes(q.status?.phase ?? ''))
    const logs = await core.readNamespacedPodLog({ name: 'in-cluster', namespace: ns })
    expect(logs, logs).toContain(`version ${kube.KUBE_VERSION}`)
    expect(p.status?.phase).toBe('Succeeded')
  })

  // The two tests below stop, restart and unregister a node. They do it to a second, throw-away node (LAB_NODE_INSTANCE=1:
  // lab-extra-node-1, its own containerd, kubelet, bridge and folder; node.mjs, "Which node this module drives"), driven
  // from child processes, so the lab's node, which other test files and the lab's environments use meanwhile, is not
  // touched: a pod on it keeps running, unrestarted, through both (checked at the end).
  describe('a second node of its own (instance 1), so the shared one is never stopped', () => {
    const INSTANCE = '1'
    const EXTRA = `lab-extra-node-${INSTANCE}`
    const extraNodeDir = path.join(path.dirname(path.dirname(path.dirname(node.CONTAINERD_SOCKET))), `node-${INSTANCE}`) // state/node-1
    const extraSocket = path.join(extraNodeDir, 'containerd', 'containerd.sock')
    /** Runs `up`, `down` or `status` of node.mjs for instance 1 in a child process; resolves to its stdout. */
    const extra = (fn: 'up' | 'down' | 'status'): string => {
      const r = spawnSync(process.execPath, ['-e', `import('./lab/components/node.mjs').then(async (m) => console.log(JSON.stringify(await m.${fn}())))`],
        { cwd: path.resolve(__dirname, '..', '..'), env: { ...process.env, LAB_NODE_INSTANCE: INSTANCE }, encoding: 'utf8', timeout: 300_000 })
      if (r.status !== 0) throw new Error(`node.mjs ${fn}() of ${EXTRA} failed (${r.status}): ${r.stderr}${r.stdout}`)
      return r.stdout
    }
    const onExtra = {
      nodeSelector: { [node.NODE_LABEL.key]: `test-${INSTANCE}` },
      tolerations: [{ key: node.NODE_TAINT.key, operator: 'Equal', value: `test-${INSTANCE}`, effect: 'NoSchedule' }],
    }
    let sentinel: { uid?: string; containerID?: string }

    beforeAll(async () => {
      // a pod on the lab's node that must live through everything done to the second one
      await create(pod('sentinel', { command: ['sleep', '3600'] }))
      const p = await waitPod('sentinel', 'running', running)
      sentinel = { uid: p.metadata?.uid, containerID: p.status?.containerStatuses?.[0]?.containerID }
      extra('up')
    }, 400_000)

    afterAll(() => { extra('down') }, 300_000)

    it('is its own node: own name, address and label value, so pods for the lab\'s node never land there', async () => {
      const n = await core.readNode({ name: EXTRA })
      expect(n.status?.addresses).toContainEqual({ type: 'InternalIP', address: `10.88.${INSTANCE}.1` })
      expect(n.metadata?.labels?.[node.NODE_LABEL.key]).toBe(`test-${INSTANCE}`)
      expect(n.spec?.taints).toContainEqual({ key: node.NODE_TAINT.key, value: `test-${INSTANCE}`, effect: 'NoSchedule' })
    })

    it('up() registers it again when its Node object is gone (a clean cluster under a running kubelet)', async () => {
      await core.deleteNode({ name: EXTRA })
      extra('up')
      const n = await core.readNode({ name: EXTRA })
      expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True')
      expect(n.spec?.taints).toContainEqual({ key: node.NODE_TAINT.key, value: `test-${INSTANCE}`, effect: 'NoSchedule' })
    }, 400_000)

    it('down() stops what up() started and removes its mounts, namespaces, bridge and rules; up() brings it back', async () => {
      await create(pod('survivor', { command: ['sleep', '3600'] }, onExtra))
      const before = await waitPod('survivor', 'running', running, 180000)
      expect(before.spec?.nodeName).toBe(EXTRA)
      const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { encoding: 'utf8' })
      const mounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(`${extraNodeDir}/`))
      const podNetns = () => sh('for n in $(ls /run/netns 2>/dev/null); do ip -n $n -4 -o addr show; done').split('\n').filter((l) => l.includes(` 10.88.${INSTANCE}.`))
      expect(mounts().length).toBeGreaterThan(0)
      expect(podNetns().length).toBeGreaterThan(0)
      try {
        extra('down')
        for (const d of ['node-containerd', 'kubelet']) expect(runningPid(`${d}-${INSTANCE}`), d).toBeUndefined()
        expect(mounts()).toEqual([])
        expect(podNetns()).toEqual([])
        expect(sh('ps -eo args').split('\n').filter((l) => l.includes('containerd-shim') && l.includes(extraSocket))).toEqual([])
        expect(sh('ip -br link')).not.toMatch(new RegExp(`^gmi-node${INSTANCE} `, 'm'))
        expect(sh('iptables -w -S')).not.toMatch(new RegExp(`GMI-LAB-NODE${INSTANCE}\\b`))
        expect(await core.readNode({ name: EXTRA }).then(() => 'there', () => 'gone')).toBe('gone')
      } finally {
        extra('up')
      }
      expect(JSON.parse(extra('status').trim())[0].state).toBe('ok')
      // the kubelet starts the pod again from the API's record of it
      await waitPod('survivor', 'running again', running, 180000)
    }, 600_000)

    it('the lab\'s node was not touched: its rules are there and its pod kept running, never restarted', async () => {
      const [row] = await node.status()
      expect(row.state).toBe('ok')
      expect(execFileSync('iptables', ['-w', '-S'], { encoding: 'utf8' })).toMatch(/-N GMI-LAB-NODE$/m)
      const p = await core.readNamespacedPod({ name: 'sentinel', namespace: ns })
      expect(p.metadata?.uid).toBe(sentinel.uid)
      expect(p.status?.containerStatuses?.[0]?.containerID).toBe(sentinel.containerID)
      expect(p.status?.containerStatuses?.[0]?.restartCount).toBe(0)
      expect(running(p)).toBe(true)
    })
  })
})
