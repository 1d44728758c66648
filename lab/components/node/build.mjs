// The node's binaries: kubelet, kube-proxy and the pause program from the Kubernetes wrapper module, CoreDNS from its
// own; and the pause image (containerd's sandbox_image) in the mirror.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { REPO } from '../../lib/paths.mjs'
import { goBuild } from '../../lib/gobuild.mjs'
import { KUBE_VERSION, kubeLdflags } from '../kubernetes.mjs'
import { buildAndPush, buildStamp } from '../../lib/images.mjs'
import { COREDNS_VERSION, PAUSE_IMAGE } from './layout.mjs'

/** A short hash of the lab's own Go source for a target: stamped in, so editing the source rebuilds it. */
const sourceHash = (/** @type {string[]} */ ...file) => crypto.createHash('sha256').update(fs.readFileSync(path.join(REPO, 'lab', 'go', ...file))).digest('hex').slice(0, 12)
const NODE_TARGETS = () => [
  { pkg: 'k8s.io/kubernetes/cmd/kubelet', out: 'kubelet', ldflags: kubeLdflags },
  { pkg: 'k8s.io/kubernetes/cmd/kube-proxy', out: 'kube-proxy', ldflags: kubeLdflags },
  { pkg: './pause', out: 'pause', ldflags: `-X main.version=1.0-${sourceHash('kubernetes', 'pause', 'main.go')}` },
]
const COREDNS_TARGETS = () => [
  { pkg: '.', out: 'coredns', ldflags: `-X github.com/coredns/coredns/coremain.GitCommit=${COREDNS_VERSION}-lab.${sourceHash('coredns', 'main.go')}` },
]

/** Builds (or finds cached) the node's binaries, at the lowest CPU priority; returns their folders. */
export async function build() {
  const kube = await goBuild({ module: 'kubernetes', name: 'kubernetes-node', version: KUBE_VERSION, targets: NODE_TARGETS(), nice: true })
  const dns = await goBuild({ module: 'coredns', version: COREDNS_VERSION, targets: COREDNS_TARGETS(), nice: true })
  return { kube: kube.dir, dns: dns.dir, built: [kube.built && 'kubelet, kube-proxy, pause', dns.built && 'coredns'].filter(Boolean) }
}

// The pause image: the lab's own pause program, alone in an image, in the mirror (containerd's sandbox_image)

/** @param {string} stamp */
const pauseDockerfile = (stamp) => `FROM scratch
COPY pause /pause
LABEL org.gmi-lab.stamp="${stamp}" org.opencontainers.image.title="gmi-lab pause"
USER 65535:65535
ENTRYPOINT ["/pause"]
`

/** Builds and pushes the pause image unless the mirror holds this build of it; true when it pushed. @param {string} binDir */
export const pauseImage = (binDir) => buildAndPush({ image: PAUSE_IMAGE, context: binDir, stamp: buildStamp(binDir), name: 'pause', dockerfile: pauseDockerfile })
