// Step helper: the release records of an environment, read from and written to its namespace.
import type { KubeClient, KubeObject } from '../adapters/kubernetes.js'
import { RELEASE_LABEL, manifestOf, releaseConfigMap, releaseName, releaseOf, type Release, type ReleaseStatus } from '../plan/releases.js'

/** Every release recorded in the namespace; a damaged record is skipped (and said). */
export async function readReleases(kube: KubeClient, namespace: string, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<Release[]> {
  const cms = await kube.list<KubeObject>('v1', 'ConfigMap', { namespace, labelSelector: RELEASE_LABEL })
  return cms.flatMap((cm) => {
    try {
      return [releaseOf(cm as never)]
    } catch (err) {
      log(`skipping: ${(err as Error).message.split('\n')[0]}`)
      return []
    }
  })
}

/** The manifest a release applied, as recorded. */
export async function readManifest(kube: KubeClient, namespace: string, revision: number): Promise<string> {
  const cm = await kube.get<KubeObject>({ apiVersion: 'v1', kind: 'ConfigMap', name: releaseName(revision), namespace })
  return manifestOf((cm ?? { metadata: { name: releaseName(revision) } }) as never)
}

/** Writes (or rewrites) a release record. */
export async function recordRelease(kube: KubeClient, namespace: string, release: Release, manifest: string): Promise<void> {
  await kube.apply(releaseConfigMap(release, manifest, namespace) as KubeObject, { fieldManager: 'graphmemory-releases' })
}

/** Changes the status of a recorded release. */
export async function markRelease(kube: KubeClient, namespace: string, release: Release, status: ReleaseStatus): Promise<void> {
  await recordRelease(kube, namespace, { ...release, status }, await readManifest(kube, namespace, release.revision))
}
