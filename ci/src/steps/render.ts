// Step: render an environment's manifests with kustomize run as a container, every image pinned to a digest.
import { dag, type Directory, type File } from '@dagger.io/dagger'
import { environment } from '../config/environments.js'
import { imagePins, setImageArgs } from '../plan/images.js'
import { PipelineError } from '../errors.js'

/** The user kustomize runs as: not root, whatever the image's default; it owns the copy of k8s/ it edits. */
export const RENDER_USER = '65532:65532'
/** Where the copy of k8s/ is mounted in the kustomize container. */
const WORK = '/work/k8s'
/** Where monitoring/ is mounted: beside the copy of k8s/, so k8s/components/monitoring reaches ../../../monitoring. */
const MONITORING = '/work/monitoring'
/** The rendered file, written by `kustomize build -o` beside the copy (a folder the render user owns in any image). */
const OUT = `${WORK}/.rendered.yaml`

/** A component's name: a folder of k8s/components (lower-case letters, digits, dashes). */
const COMPONENT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/

/** Checks component names before any container runs; a bad one fails naming it. */
export function checkComponents(components: string[]): string[] {
  const bad = components.filter((c) => !COMPONENT_NAME.test(c))
  if (bad.length) {
    throw new PipelineError(`component name ${bad.map((c) => `"${c}"`).join(', ')} is not usable`,
      'a component is a folder of k8s/components named with lower-case letters, digits and dashes',
      'pass e.g. lab-real-node (the folder k8s/components/lab-real-node)')
  }
  return components
}

/**
 * Renders the overlay of `env` from the `k8s` directory (base + overlays): in a copy of the overlay,
 * `kustomize edit add component` for every extra component (k8s/components/<name>, e.g. the lab's real-node
 * placement; none by default, so an environment renders as its overlay says), `kustomize edit set image
 * <name>=<ref@sha256:...>` for every entry of `images`, then `kustomize build`.
 * Returns the multi-document manifest. An unknown environment, an image ref without a digest, a malformed component
 * name or an empty kustomizeImage fail at once, before any container runs.
 *
 * @param k8s the repository's k8s/ directory
 * @param env dev, staging or prod (no default)
 * @param images logical image name used in the manifests (graphmemory/api) → ref@sha256:<digest>
 * @param kustomizeImage an image with `kustomize` (v5) on its PATH, e.g. the lab's LAB_IMAGE_KUSTOMIZE
 * @param components extra components (folders of k8s/components) added to the overlay, in order
 * @param monitoring the repository's monitoring/ directory, mounted beside k8s/: the monitoring component
 *   (k8s/components/monitoring) makes its ConfigMaps from those files. Without it, a render that uses that component
 *   fails in kustomize naming ../../../monitoring.
 */
export function render(k8s: Directory, env: string, images: Record<string, string>, kustomizeImage: string, components: string[] = [], monitoring?: Directory): File {
  const e = environment(env)
  const pins = imagePins(images)
  checkComponents(components)
  if (!kustomizeImage?.trim()) {
    throw new PipelineError('no kustomize image given', 'render runs kustomize as a container',
      'pass an image with kustomize v5 on its PATH (the lab publishes one as LAB_IMAGE_KUSTOMIZE)')
  }
  let ctr = dag.container().from(kustomizeImage)
    .withUser(RENDER_USER)
    .withEnvVariable('HOME', '/tmp')
    .withDirectory(WORK, k8s, { owner: RENDER_USER })
  if (monitoring) ctr = ctr.withDirectory(MONITORING, monitoring, { owner: RENDER_USER })
  ctr = ctr.withWorkdir(`${WORK}/${e.overlay}`)
  for (const c of components) ctr = ctr.withExec(['kustomize', 'edit', 'add', 'component', `../../components/${c}`])
  if (pins.length) ctr = ctr.withExec(['kustomize', 'edit', 'set', 'image', ...setImageArgs(pins)])
  return ctr.withExec(['kustomize', 'build', '.', '--output', OUT]).file(OUT)
}
